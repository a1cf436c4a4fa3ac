"""The demo catalog: it loads, its links resolve, and it holds what the museum promises."""

from __future__ import annotations

import pytest

from taichi_cloud.catalog.seed import SEED_DIR, read_catalog_files
from taichi_cloud.demo import DEMO_PASSWORD, DEMO_USERS, seed_demo
from taichi_cloud.errors import Invalid

REQUIRED_PEOPLE = ["chen-wangting", "chen-changxing", "yang-luchan", "wu-yuxiang", "yang-chengfu",
                   "chen-fake", "sun-lutang", "wu-jianquan"]
LOCALES = {"zh-Hans", "zh-Hant", "en", "ja"}


def test_seed_files_validate_and_cover_the_museum():
    records = read_catalog_files(SEED_DIR)
    by_kind: dict[str, list[dict]] = {}
    for r in records:
        by_kind.setdefault(r["kind"], []).append(r)
        assert LOCALES <= set(r["translations"]), r["id"]
        assert r.get("dc", {}).get("rights") or r["kind"] == "person", r["id"]
    ids = {r["id"] for r in records}
    assert set(REQUIRED_PEOPLE) <= ids
    assert len(by_kind["video"]) >= 4 and len(by_kind["archive"]) >= 4 and len(by_kind["collection"]) >= 2
    for video in by_kind["video"]:
        chapters = video["chapters"]
        assert chapters and video["demo_clip"]["duration"] >= chapters[-1].get("end", chapters[-1]["start"])
    assert all(r.get("rights_uri") for r in by_kind["archive"])


def test_seed_reader_reports_the_bad_entry(tmp_path):
    (tmp_path / "bad.yaml").write_text("- id: x\n  kind: person\n  translations: {en: {title: X}}\n  born: yesterday\n")
    with pytest.raises(Invalid, match="bad.yaml entry 0: born"):
        read_catalog_files(tmp_path)


async def test_demo_seeds_once_with_lineage_and_accounts(client):
    assert await seed_demo(client.app) is True
    assert await seed_demo(client.app) is False  # second start keeps what is there
    listing = await (await client.get("/api/v1/entries?kind=person&per_page=100")).json()
    assert set(REQUIRED_PEOPLE) <= {e["id"] for e in listing["items"]}
    graph = await (await client.get("/api/v1/people/yang-luchan/lineage?depth=2")).json()
    edges = {(e["teacher"], e["student"]) for e in graph["edges"]}
    assert ("chen-changxing", "yang-luchan") in edges
    assert ("chen-wangting", "chen-changxing") not in edges  # generations apart, never linked
    r = await client.get("/api/v1/entries/yang-chengfu?lang=zh-Hant")
    assert r.headers["Content-Language"] == "zh-Hant" and "楊" in (await r.json())["title"]
    for email, role, _ in DEMO_USERS:
        r = await client.post("/api/v1/auth/login", json={"email": email, "password": DEMO_PASSWORD})
        assert r.status == 200 and (await r.json())["user"]["role"] == role
    for kind, page in (("video", "videos"), ("archive", "archives"), ("collection", "collections")):
        items = (await (await client.get(f"/api/v1/entries?kind={kind}")).json())["items"]
        assert items
        r = await client.get(f"/{page}/{items[0]['id']}")
        assert r.status == 200
