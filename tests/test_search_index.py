"""SearchIndex on both backends: documents, facets, paging, snippets, suggestions, lifecycle."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from taichi_cloud.search.base import IndexUnavailable, SearchQuery
from taichi_cloud.search.documents import documents_for_record
from taichi_cloud.search.index import POINTER, SearchIndex


def record(entry_id: str, kind: str = "video", **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": entry_id, "kind": kind, "status": "published", "visibility": "public",
        "source_locale": "en", "style": "", "level": "", "tags": [], "languages": [],
        "translations": {}, "chapters": [], "people": [], "dc": {}, "names": {}, "aliases": [],
        "captions": [], "created_at": "", "updated_at": ""}
    out.update(fields)
    return out


RECORDS = [
    record("chen-old-frame", style="chen", level="intermediate", languages=["zh-Hans"],
           source_locale="zh-Hans",
           translations={"zh-Hans": {"title": "陈式太极拳老架一路", "summary": "陈家沟的传统套路"},
                         "en": {"title": "Chen Old Frame", "summary": "Traditional Chenjiagou routine"}},
           chapters=[{"start": 12.5, "end": 30, "title": {"zh-Hans": "金刚捣碓",
                                                           "en": "Buddha's warrior pounds mortar"}},
                     {"start": 30, "end": 60, "title": {"zh-Hans": "懒扎衣", "en": "Lazily tying the coat"}}],
           captions=[{"lang": "en", "text": "Sink the elbows and relax the shoulders."}]),
    record("yang-24", style="yang", level="beginner", languages=["zh-Hans", "en"],
           translations={"en": {"title": "The <b>24</b> form & more", "summary": "Yang style for beginners <script>x</script>, 24 steps"},
                         "ja": {"title": "簡化太極拳", "summary": "初心者向け"}}),
    record("chen-fake", kind="person", style="chen",
           translations={"en": {"title": "Chen Fake", "summary": "Brought Chen style to Beijing."}},
           names={"zh-Hans": "陈发科", "zh-Hant": "陳發科", "en": "Chen Fake"}, aliases=["Chen Fa-k'o"]),
    record("sword-manual", kind="archive", style="yang", source_locale="fr",
           translations={"fr": {"title": "Manuel de l'épée", "summary": "Les épées du taiji"}}),
    record("hidden-draft", status="draft",
           translations={"en": {"title": "Secret sword drill", "summary": ""}}),
    record("hidden-private", visibility="private",
           translations={"en": {"title": "Private sword drill", "summary": ""}}),
]


@pytest.fixture(params=["whoosh", "tantivy"])
def index(request: pytest.FixtureRequest, tmp_path: Path) -> SearchIndex:
    ix = SearchIndex(tmp_path / "search", request.param)
    ix.rebuild(RECORDS)
    yield ix
    ix.close()


def ids(results) -> list[str]:
    return [h.id for h in results.hits]


def test_documents_carry_chapters_and_names():
    docs = documents_for_record(RECORDS[0])
    assert [d.doc_id for d in docs] == ["chen-old-frame", "chen-old-frame#0", "chen-old-frame#1"]
    assert docs[1].start == 12.5 and docs[1].has_subtitles
    person = documents_for_record(RECORDS[2])[0]
    assert {"陈发科", "chen", "fake"} <= set(person.tokens["title_words"])


def test_chapters_are_hits_with_their_start(index: SearchIndex):
    results = index.search(SearchQuery("金刚捣碓", lang="en"))
    assert results.hits[0].id == "chen-old-frame" and results.hits[0].start == 12.5
    assert "<mark>" in results.hits[0].snippet
    results = index.search(SearchQuery("lazily tying coat"))
    assert results.hits[0].start == 30


def test_visibility_flag(index: SearchIndex):
    assert not {"hidden-draft", "hidden-private"} & set(ids(index.search(SearchQuery("sword"))))
    everything = ids(index.search(SearchQuery("sword", visible_only=False)))
    assert {"hidden-draft", "hidden-private"} <= set(everything)


def test_facets_count_what_paging_returns(index: SearchIndex):
    query = SearchQuery("chen", per_page=2, visible_only=False)
    first = index.search(query)
    seen: list[tuple[str, float | None]] = []
    for page in range(1, first.total // 2 + 2):
        seen.extend((h.id, h.start) for h in index.search(
            SearchQuery("chen", per_page=2, page=page, visible_only=False)).hits)
    assert len(seen) == first.total == len(set(seen))  # stable pages, no repeats
    kinds = Counter("video" if start is not None else kind for (_, start), kind in zip(
        seen, [h.kind for p in range(1, first.total // 2 + 2) for h in index.search(
            SearchQuery("chen", per_page=2, page=p, visible_only=False)).hits], strict=True))
    assert first.facets["kind"] == dict(kinds)
    filtered = index.search(SearchQuery("chen", kind="person", visible_only=False))
    assert ids(filtered) == ["chen-fake"] and filtered.total == first.facets["kind"]["person"]
    assert index.search(SearchQuery("", has_subtitles=True)).total == 1
    assert index.search(SearchQuery("", language="en")).total == 1


def test_snippets_escape_and_mark(index: SearchIndex):
    hit = index.search(SearchQuery("form", lang="en")).hits[0]
    assert hit.id == "yang-24" and hit.title == "The <b>24</b> form & more"  # JSON, not HTML
    hit = index.search(SearchQuery("24", lang="en")).hits[0]
    assert "&lt;script&gt;x&lt;/script&gt;, <mark>24</mark> steps" in hit.snippet
    assert "<script>" not in hit.snippet
    hit = index.search(SearchQuery("shoulder", lang="en")).hits[0]
    assert hit.id == "chen-old-frame" and "<mark>shoulders</mark>" in hit.snippet


def test_locale_fallback_chain(index: SearchIndex):
    assert index.search(SearchQuery("太极拳", lang="ja")).hits[0].title in {"簡化太極拳", "陈式太极拳老架一路"}
    hit = next(h for h in index.search(SearchQuery("taijiquan", lang="es")).hits
               if h.start is None and h.id == "chen-old-frame")
    assert hit.title == "陈式太极拳老架一路"  # no Spanish: the source locale
    hit = index.search(SearchQuery("epee", lang="de")).hits[0]
    assert hit.id == "sword-manual" and hit.locale == "fr"


def test_did_you_mean(index: SearchIndex):
    assert index.search(SearchQuery("chen styel")).suggestion == "chen style"
    assert index.search(SearchQuery("陈家勾")).suggestion == "陈家沟"
    assert index.search(SearchQuery("chen style")).suggestion is None
    assert index.search(SearchQuery("chen jia gou")).suggestion is None


def test_edits_deletes_and_generation(index: SearchIndex):
    generation = index.generation
    index.replace_record(record("chen-fake", kind="person",
                                translations={"en": {"title": "Chen Fake (1887-1957)"}}))
    index.delete("sword-manual")
    index.commit()
    assert index.generation > generation
    assert index.search(SearchQuery("1887")).hits[0].id == "chen-fake"
    assert not index.search(SearchQuery("epee")).hits
    assert index.search(SearchQuery("chen fake", kind="person")).total == 1


def test_missing_and_corrupt_indexes_are_reported(tmp_path: Path):
    for backend in ("whoosh", "tantivy"):
        root = tmp_path / backend
        with pytest.raises(IndexUnavailable):
            SearchIndex(root, backend).open()
        ix = SearchIndex(root, backend)
        ix.rebuild(RECORDS[:2])
        ix.close()
        live = root / (root / POINTER).read_text()
        for path in live.iterdir():
            if path.is_file() and path.name != "vocabulary.json":
                path.write_bytes(b"\x00garbage" * 10)
        with pytest.raises(IndexUnavailable):
            SearchIndex(root, backend).open()
        (root / POINTER).write_text("../../etc")
        with pytest.raises(IndexUnavailable):
            SearchIndex(root, backend).open()


def test_rebuild_swaps_while_threads_search(index: SearchIndex):
    old = index.root / (index.root / POINTER).read_text()
    errors: list[BaseException] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            try:
                index.search(SearchQuery("chen", page=1 + threading.get_ident() % 2))
            except BaseException as exc:  # noqa: BLE001 - the test reports any failure
                errors.append(exc)
                return

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(hammer) for _ in range(4)]
        for i in range(3):
            index.rebuild([*RECORDS, record(f"extra-{i}", translations={"en": {"title": "chen extra"}})])
        stop.set()
        for future in futures:
            future.result()
    assert not errors
    assert not old.exists()  # dropped after its grace swap
    assert index.search(SearchQuery("extra")).total == 1
    reopened = SearchIndex(index.root, index.backend)
    reopened.open()
    assert reopened.search(SearchQuery("extra")).hits[0].id == "extra-2"
    reopened.close()


def test_totals_facets_and_ranks_agree_with_a_count_over_the_records(index: SearchIndex):
    """Counted the slow way: which records contain the word, after edits and deletes that
    leave the whoosh index in several segments with deleted documents."""
    styles = ("chen", "yang", "sun")
    many = [record(f"drill-{i}", style=styles[i % 3], level="beginner",
                   languages=["en", "zh-Hans"][: 1 + i % 2],
                   translations={"en": {"title": f"Drill {i}" + (" sword" * (1 + i % 4)),
                                        "summary": "Practice" if i % 2 else "Rest"}})
            for i in range(40)]
    for start in range(0, 40, 10):  # four commits: four whoosh segments
        index.apply_changes({r["id"]: r for r in many[start:start + 10]})
    edited = {**many[3], "translations": {"en": {"title": "Drill without weapons"}}}
    index.apply_changes({"drill-1": None, "drill-3": edited, "drill-5": None})
    alive = [r for r in many if r["id"] not in ("drill-1", "drill-5")]
    alive = [edited if r["id"] == "drill-3" else r for r in alive]
    with_sword = [r for r in alive if "sword" in r["translations"]["en"]["title"]]

    results = index.search(SearchQuery("sword", style="chen", per_page=100))
    chen = [r for r in with_sword if r["style"] == "chen"]
    assert results.total == len(chen) and {h.id for h in results.hits} == {r["id"] for r in chen}
    results = index.search(SearchQuery("practice sword", per_page=100))
    both = [r for r in with_sword if r["translations"]["en"].get("summary") == "Practice"]
    assert {h.id for h in results.hits if h.id.startswith("drill")} == {r["id"] for r in both}
    facets = index.search(SearchQuery("drill", per_page=5)).facets
    assert facets["style"] == dict(Counter(r["style"] for r in alive))
    assert facets["language"] == dict(Counter(lang for r in alive for lang in r["languages"]))
    # More occurrences of the word in an equally short field rank first (BM25).
    ranked = index.search(SearchQuery("sword sword", per_page=100)).hits
    assert ranked[0].id in {r["id"] for r in with_sword if r["translations"]["en"]["title"]
                            .count("sword") == 4}


def test_widening_stops_as_soon_as_enough_is_found(index: SearchIndex):
    # Three words, one in no document: only the last widening (one term may be missing)
    # finds the entry; a typo in one of them is fixed one step earlier, all terms required.
    assert ids(index.search(SearchQuery("chen frame qqqqzzzz")))[:1] == ["chen-old-frame"]
    results = index.search(SearchQuery("chen old frmae"))
    assert ids(results)[:1] == ["chen-old-frame"]
    # The typo fallback found it with every term present: the video and its chapters only.
    assert set(ids(results)) == {"chen-old-frame"} and results.suggestion == "chen old frame"
