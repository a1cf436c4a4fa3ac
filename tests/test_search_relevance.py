"""Relevance over the demo catalog: judged queries in six languages, recall@10 and MRR."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from taichi_cloud.search.base import SearchQuery
from taichi_cloud.search.index import SearchIndex

ROOT = Path(__file__).resolve().parent.parent
QUERIES = yaml.safe_load((Path(__file__).parent / "relevance" / "queries.yaml").read_text("utf-8"))
RECALL_FLOOR = 0.95
MRR_FLOOR = 0.85


def catalog_records() -> list[dict[str, Any]]:
    """catalog/*.yaml in the record shape the catalog service hands to search."""
    records = []
    for path in sorted((ROOT / "catalog").glob("*.yaml")):
        for entry in yaml.safe_load(path.read_text("utf-8")) or []:
            records.append({
                "id": entry["id"], "kind": entry["kind"],
                "status": entry.get("status", "published"),
                "visibility": entry.get("visibility", "public"),
                "source_locale": entry.get("source_locale", "en"),
                "style": entry.get("style") or "", "level": entry.get("level") or "",
                "tags": entry.get("tags") or [], "languages": entry.get("languages") or [],
                "translations": entry.get("translations") or {},
                "chapters": entry.get("chapters") or [], "people": entry.get("people") or [],
                "dc": {k: str(v) for k, v in (entry.get("dc") or {}).items()},
                "names": entry.get("names") or {}, "aliases": entry.get("aliases") or [],
                "captions": entry.get("captions") or [], "created_at": "", "updated_at": ""})
    return records


def test_the_judged_set_is_broad():
    assert len(QUERIES) >= 40
    assert {q["lang"] for q in QUERIES} >= {"zh-Hans", "zh-Hant", "ja", "en", "es", "fr"}
    ids = {r["id"] for r in catalog_records()}
    for query in QUERIES:
        assert set(query["relevant"]) <= ids, query


@pytest.mark.parametrize("backend", ["whoosh", "tantivy"])
def test_recall_and_mrr(tmp_path: Path, backend: str, capsys: pytest.CaptureFixture[str]):
    index = SearchIndex(tmp_path / backend, backend)
    index.rebuild(catalog_records())
    recalls, ranks, misses = [], [], []
    for judged in QUERIES:
        results = index.search(SearchQuery(judged["q"], lang=judged["lang"], per_page=10))
        found = list(dict.fromkeys(h.id for h in results.hits))
        relevant = set(judged["relevant"])
        recalls.append(len(relevant & set(found)) / len(relevant))
        rank = next((i + 1 for i, hit in enumerate(found) if hit in relevant), None)
        ranks.append(1 / rank if rank else 0.0)
        if recalls[-1] < 1 or rank != 1:
            misses.append(f"  {judged['q']!r} ({judged['lang']}): rank {rank}, "
                          f"recall {recalls[-1]:.2f}, top {found[:3]}")
    index.close()
    recall, mrr = sum(recalls) / len(recalls), sum(ranks) / len(ranks)
    with capsys.disabled():
        print(f"\n[{backend}] {len(QUERIES)} judged queries: recall@10 {recall:.3f}, MRR {mrr:.3f}")
        print("\n".join(misses))
    assert recall >= RECALL_FLOOR and mrr >= MRR_FLOOR
