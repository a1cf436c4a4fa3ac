"""whoosh engine (whoosh-reloaded 2.7.5, frozen code: we use only its stable core).

Text fields use a whitespace tokenizer over tokens our analysis already produced. Searchers
are thread-local (one shared searcher across executor threads gave unpickling errors) and
refreshed when the index generation moves. ``correct_query`` is not used (it crashes on
multi-token words); suggestions come from :mod:`.vocabulary`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from whoosh import index as whoosh_index
from whoosh.analysis import SpaceSeparatedTokenizer
from whoosh.fields import ID, KEYWORD, STORED, TEXT, Schema

from .base import EngineResult, IndexUnavailable, Node
from .documents import LOCALE_FIELD, TEXT_FIELDS, SearchDocument
from .whoosh_eval import DocArrays, top


def _schema() -> Schema:
    tokens = SpaceSeparatedTokenizer()
    fields: dict[str, Any] = {
        "doc_id": ID(unique=True),
        "entry_id": ID,
        "doc_type": ID,
        "kind": ID(sortable=True),
        "style": ID(sortable=True),
        "level": ID(sortable=True),
        "status": ID,
        "visibility": ID,
        "has_subtitles": ID(sortable=True),
        "language": KEYWORD,
        "language_set": ID(sortable=True),  # the languages joined, for facet counting
        "payload": STORED,
    }
    for name in (*TEXT_FIELDS, LOCALE_FIELD):
        fields[name] = TEXT(analyzer=tokens, phrase=False)
    return Schema(**fields)


def _fields(doc: SearchDocument) -> dict[str, Any]:
    values: dict[str, Any] = {
        "doc_id": doc.doc_id, "entry_id": doc.entry_id,
        "doc_type": "chapter" if doc.is_chapter else "entry",
        "kind": doc.kind, "style": doc.style, "level": doc.level, "status": doc.status,
        "visibility": doc.visibility, "has_subtitles": "true" if doc.has_subtitles else "false",
        "language": " ".join(doc.languages),
        "language_set": " ".join(sorted(set(doc.languages))),
        "payload": json.dumps(doc.stored(), ensure_ascii=False),
    }
    for name in (*TEXT_FIELDS, LOCALE_FIELD):
        tokens = doc.tokens.get(name) or []
        if tokens:
            values[name] = " ".join(tokens)
    return values


class WhooshEngine:
    name = "whoosh"

    def __init__(self, ix: Any, path: Path) -> None:
        self._ix = ix
        self.path = path
        self._writer: Any = None
        self._pending_entries: set[str] = set()
        self._generation = 0
        self._local = threading.local()
        self._searchers: list[Any] = []
        self._lock = threading.Lock()
        self._doc_arrays: tuple[int, DocArrays] | None = None

    @classmethod
    def create(cls, path: Path) -> WhooshEngine:
        path.mkdir(parents=True, exist_ok=True)
        return cls(whoosh_index.create_in(str(path), _schema()), path)

    @classmethod
    def open(cls, path: Path) -> WhooshEngine:
        try:
            ix = whoosh_index.open_dir(str(path))
            ix.doc_count()
            with ix.searcher() as searcher:
                searcher.doc_count()
        except Exception as exc:
            raise IndexUnavailable(f"whoosh index at {path}: {exc}") from exc
        if set(ix.schema.names()) != set(_schema().names()):
            raise IndexUnavailable(f"whoosh index at {path} has an older schema")
        return cls(ix, path)

    # --- writes -------------------------------------------------------------------------
    def _writing(self) -> Any:
        if self._writer is None:
            self._writer = self._ix.writer(limitmb=128)
        return self._writer

    def add(self, docs: Sequence[SearchDocument]) -> None:
        if not docs:
            return
        writer = self._writing()
        for doc in docs:
            writer.add_document(**_fields(doc))
            self._pending_entries.add(doc.entry_id)

    def delete_entries(self, entry_ids: Iterable[str]) -> None:
        ids = list(entry_ids)
        if self._pending_entries.intersection(ids):
            self.commit()  # deletions only see committed segments
        writer = self._writing()
        for entry_id in ids:
            writer.delete_by_term("entry_id", entry_id)

    def commit(self) -> None:
        if self._writer is not None:
            self._writer.commit()
            self._writer = None
        self._pending_entries.clear()
        self._generation += 1

    def doc_count(self) -> int:
        return int(self._searcher().doc_count())

    # --- reads --------------------------------------------------------------------------
    def _searcher(self) -> Any:
        entry = getattr(self._local, "entry", None)
        if entry is not None and entry[0] == self._generation:
            return entry[1]
        # A fresh searcher, not refresh(): a refreshed searcher shares segment readers with
        # the old one, so closing the old one would close them under the new.
        searcher = self._ix.searcher()
        with self._lock:
            self._searchers.append(searcher)
            if entry is not None:
                self._searchers.remove(entry[1])
        if entry is not None:
            entry[1].close()
        self._local.entry = (self._generation, searcher)
        return searcher

    def _arrays(self, searcher: Any) -> DocArrays:
        # One set of arrays per index generation, shared by every search thread.
        generation = self._generation
        with self._lock:
            if self._doc_arrays is not None and self._doc_arrays[0] == generation:
                return self._doc_arrays[1]
        arrays = DocArrays.of(searcher.reader())
        with self._lock:
            if self._generation == generation:
                self._doc_arrays = (generation, arrays)
        return arrays

    def search(self, node: Node, filters: Mapping[str, str], offset: int, limit: int,
               with_facets: bool) -> EngineResult:
        searcher = self._searcher()
        arrays = self._arrays(searcher)
        if not arrays.size:  # an empty index has no columns to read
            return EngineResult(0, [], {})
        reader = searcher.reader()
        mask, scores = arrays.evaluate(reader, node)
        mask &= arrays.filter_mask(reader, filters)
        hits = [(score, json.loads(searcher.stored_fields(docnum)["payload"]))
                for docnum, score in top(mask, scores, offset, limit)]
        counts = arrays.facet_counts(reader, mask) if with_facets else {}
        return EngineResult(int(np.count_nonzero(mask)), hits, counts)

    def close(self) -> None:
        with self._lock:
            searchers, self._searchers = self._searchers, []
        for searcher in searchers:
            try:
                searcher.close()
            except Exception:  # already closed by a refresh
                pass
        if self._writer is not None:
            self._writer.cancel()
            self._writer = None
        self._ix.close()
