"""tantivy engine (official ``tantivy`` bindings): the fast embedded option for large catalogs.

Fed by the same analysis as every backend: text fields use tantivy's ``whitespace``
tokenizer over our tokens; keyword fields are ``raw`` fast fields so facet counts come from
one terms aggregation.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import tantivy

from .base import FACETS, Bool, EngineResult, IndexUnavailable, MatchAll, Node, Term
from .documents import LOCALE_FIELD, TEXT_FIELDS, SearchDocument

KEYWORDS = ("doc_id", "entry_id", "doc_type", "kind", "style", "level", "status", "visibility",
            "has_subtitles", "language", "facet_key", "public")
WRITER_HEAP = 96_000_000
# Single-valued facets (and doc_type, for the total) are counted from one terms aggregation
# over their combination: each terms aggregation walks every match once, so one for the
# combination plus one for the multi-valued languages instead of six.
COMBINED = ("kind", "style", "level", "has_subtitles", "doc_type")
FACET_AGGREGATION = {"facet_key": {"terms": {"field": "facet_key", "size": 65536}},
                     "language": {"terms": {"field": "language", "size": 1000}}}


PUBLIC = ("published", "public")


def _values(doc: SearchDocument) -> dict[str, str]:
    return {"doc_id": doc.doc_id, "entry_id": doc.entry_id,
            "doc_type": "chapter" if doc.is_chapter else "entry",
            "kind": doc.kind, "style": doc.style, "level": doc.level, "status": doc.status,
            "visibility": doc.visibility,
            "has_subtitles": "true" if doc.has_subtitles else "false",
            # What anonymous searches filter on, as one term instead of two.
            "public": "true" if (doc.status, doc.visibility) == PUBLIC else "false"}


@lru_cache(maxsize=65536)
def _combination(key: str) -> tuple[str, ...]:
    values = json.loads(key)
    return tuple(str(v) for v in values) if isinstance(values, list) else ()


def _schema() -> Any:
    builder = tantivy.SchemaBuilder()
    for name in KEYWORDS:
        builder.add_text_field(name, stored=False, tokenizer_name="raw", fast=True,
                               index_option="basic")
    for name in (*TEXT_FIELDS, LOCALE_FIELD):
        builder.add_text_field(name, stored=False, tokenizer_name="whitespace",
                               index_option="freq")
    builder.add_bytes_field("payload", stored=True)
    return builder.build()


def _document(doc: SearchDocument) -> Any:
    values = _values(doc)
    out = tantivy.Document(**{k: v for k, v in values.items() if v})
    out.add_text("facet_key", json.dumps([values[name] for name in COMBINED],
                                         ensure_ascii=False))
    for language in doc.languages:
        out.add_text("language", language)
    for name in (*TEXT_FIELDS, LOCALE_FIELD):
        tokens = doc.tokens.get(name)
        if tokens:
            out.add_text(name, " ".join(tokens))
    out.add_bytes("payload", json.dumps(doc.stored(), ensure_ascii=False).encode("utf-8"))
    return out


class TantivyEngine:
    name = "tantivy"

    def __init__(self, ix: Any, path: Path) -> None:
        self._ix = ix
        self._schema = ix.schema
        self.path = path
        self._writer: Any = None
        self._searcher = ix.searcher()
        self._lock = threading.Lock()

    @classmethod
    def create(cls, path: Path) -> TantivyEngine:
        path.mkdir(parents=True, exist_ok=True)
        return cls(tantivy.Index(_schema(), path=str(path), reuse=False), path)

    @classmethod
    def open(cls, path: Path) -> TantivyEngine:
        try:
            if not tantivy.Index.exists(str(path)):
                raise IndexUnavailable(f"no tantivy index at {path}")
            ix = tantivy.Index.open(str(path))
            searcher = ix.searcher()
            searcher.search(tantivy.Query.all_query(), 1)
            for name in (*KEYWORDS, *TEXT_FIELDS, LOCALE_FIELD):  # an older schema: rebuild
                tantivy.Query.term_query(ix.schema, name, "x")
        except IndexUnavailable:
            raise
        except Exception as exc:
            raise IndexUnavailable(f"tantivy index at {path}: {exc}") from exc
        return cls(ix, path)

    # --- writes -------------------------------------------------------------------------
    def _writing(self) -> Any:
        if self._writer is None:
            threads = max(1, min(2, os.cpu_count() or 1))
            self._writer = self._ix.writer(heap_size=WRITER_HEAP, num_threads=threads)
        return self._writer

    def add(self, docs: Sequence[SearchDocument]) -> None:
        if not docs:
            return
        writer = self._writing()
        for doc in docs:
            writer.add_document(_document(doc))

    def delete_entries(self, entry_ids: Iterable[str]) -> None:
        writer = self._writing()
        for entry_id in entry_ids:
            writer.delete_documents_by_term("entry_id", entry_id)

    def commit(self) -> None:
        if self._writer is not None:
            self._writer.commit()
        self._ix.reload()
        with self._lock:
            self._searcher = self._ix.searcher()

    def doc_count(self) -> int:
        return int(self._current().num_docs)

    # --- reads --------------------------------------------------------------------------
    def _current(self) -> Any:
        with self._lock:
            return self._searcher

    def _compile(self, node: Node, factor: float = 1.0) -> Any:
        query_type = tantivy.Query
        if isinstance(node, Term):
            query = query_type.term_query(self._schema, node.field, node.value)
            boost = node.boost * factor
            return query if boost == 1.0 else query_type.boost_query(query, boost)
        if isinstance(node, MatchAll):
            return query_type.all_query()
        assert isinstance(node, Bool)
        factor *= node.boost
        clauses = [(tantivy.Occur.Must, self._compile(n, factor)) for n in node.must]
        should = [(tantivy.Occur.Should, self._compile(n, factor)) for n in node.should]
        if should and node.min_should >= 1:
            group = query_type.boolean_query(
                should, minimum_number_should_match=node.min_should if node.min_should > 1
                else None)
            if not clauses:
                return group
            clauses.append((tantivy.Occur.Must, group))
        else:
            clauses.extend(should)
        if not clauses:
            return query_type.empty_query()
        return query_type.boolean_query(clauses)

    def search(self, node: Node, filters: Mapping[str, str], offset: int, limit: int,
               with_facets: bool) -> EngineResult:
        query = self._compile(node)
        if (filters.get("status"), filters.get("visibility")) == PUBLIC:
            filters = {k: v for k, v in filters.items() if k not in ("status", "visibility")}
            filters["public"] = "true"
        if filters:
            parts = [(tantivy.Occur.Must, query)]
            parts.extend((tantivy.Occur.Must, tantivy.Query.const_score_query(
                tantivy.Query.term_query(self._schema, k, v), 0.0)) for k, v in filters.items())
            query = tantivy.Query.boolean_query(parts)
        searcher = self._current()
        # With facets, one terms aggregation also gives the total (every document has a
        # doc_type), so the top-N search need not count: one full pass over the matches
        # instead of two.
        result = searcher.search(query, limit, count=not with_facets, offset=offset)
        hits = []
        for score, address in result.hits:
            stored = searcher.doc(address)
            payload = stored.get_first("payload")
            hits.append((float(score), json.loads(bytes(payload).decode("utf-8"))))
        if not with_facets:
            return EngineResult(int(result.count or 0), hits, {})
        aggregated = searcher.aggregate(query, FACET_AGGREGATION)
        counts: dict[str, dict[str, int]] = {name: {} for name in (*FACETS, "doc_type")}
        for bucket in (aggregated.get("facet_key") or {}).get("buckets") or []:
            count = int(bucket["doc_count"])
            for name, value in zip(COMBINED, _combination(str(bucket["key"])), strict=True):
                if value:
                    counts[name][value] = counts[name].get(value, 0) + count
        for bucket in (aggregated.get("language") or {}).get("buckets") or []:
            counts["language"][str(bucket["key"])] = int(bucket["doc_count"])
        total = sum(counts.pop("doc_type").values())
        return EngineResult(total, hits, counts)

    def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            try:
                writer.rollback()  # uncommitted work is dropped, as with whoosh
                writer.wait_merging_threads()
            except Exception:  # a writer that already failed: nothing left to finish
                pass
