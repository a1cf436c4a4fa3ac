"""Search through real HTTP: the issue's query kinds, visibility, freshness, hostile input."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from taichi_cloud.keys import SEARCH
from taichi_cloud.settings import Settings

from .conftest import problem


@pytest.fixture(params=["whoosh", "tantivy"])
def settings(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> Settings:
    """The conftest settings, once per search backend."""
    return Settings(data_dir=str(tmp_path / "data"), database_url=database_url,
                    storage_url=f"file://{tmp_path / 'media'}", secret_key="test-secret",
                    public_url="http://testserver.example", search_backend=request.param)

CHEN_VIDEO = {
    "kind": "video", "source_locale": "zh-Hans", "style": "chen", "level": "intermediate",
    "languages": ["zh-Hans"], "tags": ["form", "push hands"],
    "translations": {
        "zh-Hans": {"title": "陈式太极拳老架一路", "summary": "陈家沟传统套路与推手练习"},
        "zh-Hant": {"title": "陳式太極拳老架一路", "summary": "陳家溝傳統套路與推手練習"},
        "en": {"title": "Chen-style Taijiquan, Old Frame First Routine",
               "summary": "The traditional routine of Chenjiagou with push hands practice."},
    },
    "chapters": [{"start": 0, "end": 20, "title": {"zh-Hans": "起势", "en": "Commencement"}},
                 {"start": 20, "end": 45, "title": {"zh-Hans": "推手", "en": "Push hands"}}],
    "dc": {"creator": "Chenjiagou Taijiquan School", "coverage": "Chenjiagou, Henan"},
}
YANG_24 = {
    "kind": "video", "source_locale": "zh-Hans", "style": "yang", "level": "beginner",
    "languages": ["zh-Hans"], "tags": ["form", "24-form"],
    "translations": {
        "zh-Hans": {"title": "简化太极拳二十四式", "summary": "初学者的太极拳"},
        "ja": {"title": "簡化太極拳 二十四式", "summary": "初心者のための太極拳"},
        "en": {"title": "Simplified 24-form tai chi", "summary": "Tai chi for beginners."},
    },
}
SWORD = {
    "kind": "video", "source_locale": "en", "style": "yang", "level": "advanced",
    "languages": ["en"], "tags": ["sword", "weapons"],
    "translations": {"en": {"title": "Tai chi sword basics",
                            "summary": "Holding the straight sword (jian) and the first cuts."},
                     "es": {"title": "Espada de taichi", "summary": "Los primeros cortes."}},
}


async def create(client, headers, body):
    r = await client.post("/api/v1/entries", json=body, headers=headers)
    assert r.status == 201, await r.text()
    return (await r.json())["id"]


async def publish(client, entry_id, curator, reviewer):
    for to, who in (("review", curator), ("published", reviewer)):
        r = await client.post(f"/api/v1/entries/{entry_id}/transitions", json={"to": to},
                              headers=who.headers)
        assert r.status == 200, await r.text()


async def search(client, q, **params):
    r = await client.get("/api/v1/search", params={"q": q, **params})
    assert r.status == 200, await r.text()
    return await r.json()


async def until(check, limit=1.0):
    """Poll ``check`` (async, truthy when done) until ``limit`` seconds; returns elapsed."""
    started = time.monotonic()
    while True:
        if await check():
            return time.monotonic() - started
        if time.monotonic() - started > limit:
            raise AssertionError(f"not searchable within {limit} s")
        await asyncio.sleep(0.02)


async def seeded(client, make_user):
    curator, reviewer = await make_user("curator"), await make_user("reviewer")
    ids = {}
    for name, body in (("chen", CHEN_VIDEO), ("yang", YANG_24), ("sword", SWORD)):
        ids[name] = await create(client, curator.headers, body)
        await publish(client, ids[name], curator, reviewer)
    await client.app[SEARCH].flush()
    return ids, curator, reviewer


async def test_the_issues_queries_find_the_same_things(client, make_user):
    ids, _, _ = await seeded(client, make_user)
    for q in ("太极", "太極拳", "taijiquan", "chen jia gou", "chenjiagou", "陳家溝"):
        body = await search(client, q)
        found = [h["id"] for h in body["hits"]]
        assert ids["chen"] in found, (q, body)
    for q in ("太極拳", "太极", "簡化太極拳", "tai chi"):
        assert ids["yang"] in [h["id"] for h in (await search(client, q))["hits"]], q

    body = await search(client, "推手", lang="en")
    chapter = next(h for h in body["hits"] if h.get("start") is not None)
    assert chapter["id"] == ids["chen"] and chapter["start"] == 20
    assert "<mark>" in chapter["snippet"]

    body = await search(client, "push hands", lang="en")
    assert body["hits"][0]["id"] == ids["chen"]
    assert "<mark>" in body["hits"][0]["snippet"]

    body = await search(client, "簡化太極拳", lang="ja")
    assert body["hits"][0]["id"] == ids["yang"] and body["hits"][0]["title"] == "簡化太極拳 二十四式"

    body = await search(client, "tai chi swrod")
    assert body["suggestion"] == "tai chi sword"
    assert body["hits"][0]["id"] == ids["sword"]


async def test_locale_title_and_facets(client, make_user):
    ids, _, _ = await seeded(client, make_user)
    r = await client.get("/api/v1/search", params={"q": "太极拳", "lang": "zh-Hant"})
    assert r.headers["Content-Language"] == "zh-Hant"
    body = await r.json()
    chen = next(h for h in body["hits"] if h["id"] == ids["chen"] and "start" not in h)
    assert chen["title"] == "陳式太極拳老架一路"
    # The facets count the hits: every value's count sums to the total.
    assert sum(body["facets"]["kind"].values()) == body["total"]
    assert sum(body["facets"]["level"].values()) <= body["total"]
    filtered = await search(client, "太极拳", style="yang")
    assert filtered["total"] == body["facets"]["style"]["yang"]
    assert {h["id"] for h in filtered["hits"]} == {ids["yang"]}
    assert (await search(client, "", has_subtitles="true"))["total"] == 0


async def test_drafts_and_private_entries_stay_hidden(client, make_user):
    ids, curator, reviewer = await seeded(client, make_user)
    draft = await create(client, curator.headers, {**SWORD, "translations": {
        "en": {"title": "Unreleased sword drill", "summary": "Draft only."}}})
    private = await create(client, curator.headers, {**SWORD, "visibility": "private",
                                                      "translations": {"en": {"title": "Private sword class"}}})
    await publish(client, private, curator, reviewer)
    await client.app[SEARCH].flush()
    for q in ("sword", "unreleased", "private", ""):
        found = {h["id"] for h in (await search(client, q))["hits"]}
        assert draft not in found and private not in found, q
    r = await client.get("/api/v1/search", params={"q": "unreleased"}, headers=reviewer.headers)
    assert draft in {h["id"] for h in (await r.json())["hits"]}


async def test_edits_are_searchable_within_a_second(client, make_user):
    ids, curator, reviewer = await seeded(client, make_user)
    entry = ids["sword"]
    r = await client.patch(f"/api/v1/entries/{entry}", headers=curator.headers, json={
        "translations": {"fr": {"title": "Épée du tai-chi", "summary": "Les premières coupes"}}})
    assert r.status == 200, await r.text()

    async def found_in_french():
        return entry in [h["id"] for h in (await search(client, "épées"))["hits"]]
    assert await until(found_in_french) < 1.0

    r = await client.post(f"/api/v1/entries/{entry}/transitions", json={"to": "withdrawn"},
                          headers=reviewer.headers)
    assert r.status == 200, await r.text()

    async def gone():
        return entry not in [h["id"] for h in (await search(client, "sword"))["hits"]]
    assert await until(gone) < 1.0


async def test_search_on_an_empty_index_answers_200(client):
    """Regression (API fuzzer): on a fresh instance whoosh's empty index has no facet columns
    (``column_reader`` raised NotImplementedError → 500 for any query with facets)."""
    for params in ({"q": ""}, {"q": "0"}, {"q": "太极", "kind": "video", "has_subtitles": "false"},
                   {"q": "", "style": "chen", "level": "beginner", "language": "zh-Hans"},
                   {"q": "tai chi swrod", "page": "3", "per_page": "7"}):
        r = await client.get("/api/v1/search", params=params)
        assert r.status == 200, (params, await r.text())
        body = await r.json()
        assert body["total"] == 0 and body["hits"] == [], params
        assert set(body["facets"]) == {"kind", "style", "level", "language", "has_subtitles"}


HOSTILE = ['"unbalanced', "title:sword", "kind:video OR 1=1", "*", "?" * 300, "tai*" * 50,
           "a" * 500, "\x00\x01\x1b[31m", "\ud800".encode("utf-8", "surrogatepass").decode(
               "utf-8", "replace"), "((((", "AND OR NOT", "-", "\\", "%", "<script>alert(1)</script>",
           "😀" * 100, "太" * 400, "\u202e\u200b", "~~~^2", "[a TO z]", "'; DROP TABLE entries;--"]


async def test_hostile_queries_never_fail(client, make_user):
    await seeded(client, make_user)
    for q in HOSTILE:
        r = await client.get("/api/v1/search", params={"q": q})
        assert r.status in (200, 400), (q, r.status)
        if r.status == 200:
            body = await r.json()
            assert "<script>" not in "".join(h["snippet"] + h["title"] for h in body["hits"])
    for raw in ("q=%FF%FE", "q=%00", "q=" + "%E5" * 3, "q=x&page=0", "q=x&per_page=1000",
                "q=x&page=abc", "q=x&kind=spaceship", "q=x&has_subtitles=maybe",
                "q=x&page=200&per_page=100", "q=" + "x" * 501, "lang=%3Cscript%3E"):
        r = await client.get("/api/v1/search?" + raw)
        assert r.status in (200, 400), (raw, r.status)
        if r.status == 400:
            problem(await r.json(), 400)
    r = await client.get("/api/v1/search?q=x&per_page=0")
    assert r.status == 400
    problem(await r.json(), 400)


async def test_search_is_in_the_openapi_document(client):
    spec = await (await client.get("/api/openapi.json")).json()
    assert "/api/v1/search" in spec["paths"]
    params = {p["name"] for p in spec["paths"]["/api/v1/search"]["get"]["parameters"]}
    assert {"q", "lang", "kind", "style", "level", "language", "has_subtitles", "page",
            "per_page"} <= params
