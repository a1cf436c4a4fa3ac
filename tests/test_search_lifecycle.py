"""Index lifecycle through the app: corrupt index rebuilt at start-up, `reindex`, swap."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from taichi_cloud.app import create_app
from taichi_cloud.keys import ACCOUNTS, CATALOG, SEARCH
from taichi_cloud.search import cli_commands, reindex
from taichi_cloud.search.index import POINTER
from taichi_cloud.search.service import index_root
from taichi_cloud.settings import Settings

ENTRY = {"kind": "video", "source_locale": "zh-Hans", "style": "chen",
         "translations": {"zh-Hans": {"title": "陈式太极拳推手", "summary": "陈家沟"},
                          "en": {"title": "Chen push hands", "summary": "From Chenjiagou"}}}


def make_settings(tmp_path: Path, backend: str) -> Settings:
    return Settings(data_dir=str(tmp_path / "data"),
                    database_url=f"sqlite:///{tmp_path / 'data' / 'taichi.db'}",
                    storage_url=f"file://{tmp_path / 'media'}", secret_key="test-secret",
                    search_backend=backend)


async def started(settings: Settings) -> TestClient:
    client = TestClient(TestServer(create_app(settings)))
    await client.start_server()
    return client


async def seed(client: TestClient) -> str:
    accounts = client.app[ACCOUNTS]
    admin = await accounts.create_user("admin@example.org", "correct horse battery", "A", "admin")
    entry_id = await client.app[CATALOG].create(ENTRY, admin, status="published")
    await client.app[SEARCH].flush()
    return entry_id


async def hits(client: TestClient, q: str) -> list[str]:
    r = await client.get("/api/v1/search", params={"q": q})
    assert r.status == 200, await r.text()
    return [h["id"] for h in (await r.json())["hits"]]


@pytest.mark.parametrize("backend", ["whoosh", "tantivy"])
async def test_corrupt_index_is_rebuilt_while_answering(tmp_path: Path, backend: str):
    settings = make_settings(tmp_path, backend)
    client = await started(settings)
    entry_id = await seed(client)
    assert entry_id in await hits(client, "推手")
    await client.close()

    root = index_root(settings)
    live = root / (root / POINTER).read_text()
    for path in live.iterdir():
        if path.is_file():
            path.write_bytes(b"\xffnot an index")
    client = await started(settings)
    try:
        assert (await client.get("/api/v1/search", params={"q": "推手"})).status == 200
        await client.app[SEARCH].wait_rebuilt()
        assert entry_id in await hits(client, "chen jia gou")
        assert entry_id in await hits(client, "推手")
    finally:
        await client.close()


async def test_reindex_command_swaps_a_new_index_in(tmp_path: Path, capsys):
    settings = make_settings(tmp_path, "whoosh")
    client = await started(settings)
    entry_id = await seed(client)
    count = await client.app[SEARCH].reindex()  # the service's own rebuild, while serving
    assert count == 1 and entry_id in await hits(client, "push hands")
    await client.close()

    root = index_root(settings)
    before = (root / POINTER).read_text()
    assert await reindex(settings) == 1
    assert (root / POINTER).read_text() != before
    assert await cli_commands()["reindex"](settings, None) == 0
    assert "1 documents" in capsys.readouterr().out
    client = await started(settings)
    try:
        assert client.app[SEARCH]._rebuild_task is None  # opened as is, no rebuild needed
        assert entry_id in await hits(client, "taijiquan")
    finally:
        await client.close()


@pytest.mark.parametrize("backend", ["whoosh", "tantivy"])
async def test_changes_during_a_rebuild_survive_the_swap(tmp_path: Path, backend: str):
    """An entry created and one edited while a rebuild runs are in the index it installs
    (they were written to the live index at once, and replayed into the new one)."""
    client = await started(make_settings(tmp_path, backend))
    try:
        service = client.app[SEARCH]
        await service.wait_rebuilt()
        entry_id = await seed(client)
        # Hold the rebuild between reading the catalog and building: the builder thread
        # first runs this gate, then the rebuild's own work.
        gate = threading.Event()
        service._builder.submit(gate.wait, 30)
        rebuild = asyncio.create_task(service.reindex())
        await asyncio.sleep(0.3)  # the rebuild has read the catalog by now and waits
        assert service._changed_during_rebuild is not None and not rebuild.done()
        created = await client.app[CATALOG].create(
            {"kind": "video", "source_locale": "en",
             "translations": {"en": {"title": "Silk reeling drills"}}}, None, status="published")
        await client.app[CATALOG].update(
            entry_id, {"translations": {"en": {"title": "Chen cannon fist"}}}, None)
        await service.flush()
        assert created in await hits(client, "silk reeling")  # live index, before the swap
        gate.set()
        await rebuild
        assert created in await hits(client, "silk reeling")
        assert entry_id in await hits(client, "cannon fist")
        assert entry_id not in await hits(client, "push hands")
    finally:
        await client.close()


async def test_close_writes_changes_still_queued(tmp_path: Path):
    """`taichi-cloud import` stops the app right after its last catalog write: the index
    must still get every change."""
    settings = make_settings(tmp_path, "whoosh")
    client = await started(settings)
    entry_id = await seed(client)
    await client.app[CATALOG].update(
        entry_id, {"translations": {"en": {"title": "Chen cannon fist"}}}, None)
    await client.close()  # no flush

    client = await started(settings)
    try:
        assert client.app[SEARCH]._rebuild_task is None
        assert entry_id in await hits(client, "cannon fist")
    finally:
        await client.close()
