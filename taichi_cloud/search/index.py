"""``SearchIndex``: the backend-neutral index over a root directory.

Layout: ``ROOT/CURRENT`` names the live sub-directory (``ROOT/index-<stamp>/``); a rebuild
fills a new sub-directory and replaces ``CURRENT`` atomically (``os.replace``), then drops the
old one. Writes come from one thread at a time (the service's writer); searches from many.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import uuid
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .base import (
    MAX_PER_PAGE,
    MAX_WINDOW,
    Engine,
    IndexUnavailable,
    MatchAll,
    SearchHit,
    SearchQuery,
    SearchResults,
)
from .documents import SearchDocument, documents_for_records, pick_locale
from .query import FEW_HITS, exact_tree, fallback_tree, mark_targets, plan_query, suggestion
from .snippets import snippet
from .vocabulary import Vocabulary

POINTER = "CURRENT"
BUILD_BATCH = 500


@dataclass(slots=True)
class PreparedIndex:
    engine: Engine
    directory: Path
    vocabulary: Vocabulary
    count: int


def engine_class(backend: str) -> type[Engine]:
    if backend == "whoosh":
        from .whoosh_backend import WhooshEngine

        return WhooshEngine
    if backend == "tantivy":
        from .tantivy_backend import TantivyEngine

        return TantivyEngine
    raise ValueError(f"unknown search backend {backend!r}")


class SearchIndex:
    def __init__(self, root: Path, backend: str = "whoosh", *, cache_size: int = 512) -> None:
        self.root = Path(root)
        self.backend = backend
        self._engine_class = engine_class(backend)
        self._engine: Engine | None = None
        self._directory: Path | None = None
        self._vocabulary = Vocabulary()
        self._swap_lock = threading.Lock()
        self._retired: tuple[Engine | None, Path | None] = (None, None)
        self._generation = 0
        self._cache: OrderedDict[tuple[int, SearchQuery], SearchResults] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._cache_size = cache_size

    # --- lifecycle ----------------------------------------------------------------------
    @property
    def generation(self) -> int:
        return self._generation

    @property
    def is_open(self) -> bool:
        return self._engine is not None

    def open(self) -> None:
        """Open the live index; :class:`IndexUnavailable` if it is missing or corrupt."""
        try:
            name = (self.root / POINTER).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise IndexUnavailable(f"no search index at {self.root}") from exc
        directory = self.root / name
        if not name or "/" in name or not directory.is_dir():
            raise IndexUnavailable(f"search index pointer {name!r} is broken")
        try:
            engine = self._engine_class.open(directory)
            vocabulary = Vocabulary.load(directory)
        except IndexUnavailable:
            raise
        except Exception as exc:  # any decoding error of a damaged index
            raise IndexUnavailable(f"search index {directory} is unreadable: {exc}") from exc
        self._swap(engine, directory, vocabulary)

    def create_empty(self) -> None:
        """Start a new, empty live index (the old one, if any, is dropped)."""
        self.rebuild([])

    def rebuild(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Index ``records`` into a new directory and swap it in atomically; returns docs."""
        return self.rebuild_from_documents(documents_for_records(records))

    def rebuild_from_documents(self, docs: Iterable[SearchDocument]) -> int:
        prepared = self.prepare(docs)
        self.install(prepared)
        return prepared.count

    def prepare(self, docs: Iterable[SearchDocument]) -> PreparedIndex:
        """Build a complete index in a new directory (safe beside live writes)."""
        self.root.mkdir(parents=True, exist_ok=True)
        directory = self.root / f"index-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}"
        engine = self._engine_class.create(directory)
        vocabulary = Vocabulary()
        count = 0
        try:
            batch: list[SearchDocument] = []
            for doc in docs:
                batch.append(doc)
                if len(batch) >= BUILD_BATCH:
                    engine.add(batch)
                    vocabulary.add_documents(batch)
                    count += len(batch)
                    batch = []
            engine.add(batch)
            vocabulary.add_documents(batch)
            count += len(batch)
            engine.commit()
            vocabulary.save(directory)
        except BaseException:
            engine.close()
            shutil.rmtree(directory, ignore_errors=True)
            raise
        return PreparedIndex(engine, directory, vocabulary, count)

    def install(self, prepared: PreparedIndex) -> None:
        """Make a prepared index the live one: one atomic rename of the pointer file."""
        tmp = self.root / f"{POINTER}.{uuid.uuid4().hex[:8]}"
        tmp.write_text(prepared.directory.name, encoding="utf-8")
        os.replace(tmp, self.root / POINTER)
        self._swap(prepared.engine, prepared.directory, prepared.vocabulary)

    def discard(self, prepared: PreparedIndex) -> None:
        """Drop a prepared index that will not be installed."""
        prepared.engine.close()
        shutil.rmtree(prepared.directory, ignore_errors=True)

    def _swap(self, engine: Engine, directory: Path, vocabulary: Vocabulary) -> None:
        with self._swap_lock:
            old = (self._engine, self._directory)
            self._engine, self._directory, self._vocabulary = engine, directory, vocabulary
            self._generation += 1
            # Searches that started on the old engine may still run: it is closed (and its
            # directory removed) one swap later, or at close().
            retired, self._retired = self._retired, old
        self._clear_cache()
        self._dispose(*retired)
        if old[1] is not None:  # only a process that owned an index tidies the root
            self._drop_stale_directories()

    def _dispose(self, engine: Engine | None, directory: Path | None) -> None:
        if engine is not None:
            engine.close()
        if directory is not None and directory != self._directory:
            shutil.rmtree(directory, ignore_errors=True)

    def pointer_moved(self) -> bool:
        """True when another process (``taichi-cloud reindex``) installed a new index."""
        try:
            name = (self.root / POINTER).read_text(encoding="utf-8").strip()
        except OSError:
            return False
        return self._directory is not None and name != self._directory.name

    def _drop_stale_directories(self) -> None:
        keep = {self._directory, self._retired[1]}
        for path in self.root.glob("index-*"):
            if path not in keep and path.is_dir():
                age = time.time() - path.stat().st_mtime
                if age > 3600:  # an abandoned build (crash); a running build is younger
                    shutil.rmtree(path, ignore_errors=True)

    def close(self) -> None:
        with self._swap_lock:
            engine, self._engine = self._engine, None
            retired, self._retired = self._retired, (None, None)
        if engine is not None:
            engine.close()
        self._dispose(*retired)

    def _live(self) -> tuple[Engine, Vocabulary, int]:
        with self._swap_lock:
            if self._engine is None:
                raise IndexUnavailable("the search index is not open")
            return self._engine, self._vocabulary, self._generation

    # --- writes (one writer thread) -------------------------------------------------------
    def apply_changes(self, records: Mapping[str, Mapping[str, Any] | None],
                      prepared: PreparedIndex | None = None) -> None:
        """Bring entries up to date (``None``: deleted) and commit once for all of them.

        Writes go to the live index, or to ``prepared`` (a rebuild not installed yet).
        """
        if prepared is None:
            engine, vocabulary, _ = self._live()
        else:
            engine, vocabulary = prepared.engine, prepared.vocabulary
        docs = list(documents_for_records(r for r in records.values() if r is not None))
        # One delete pass over every changed entry, then one add: an engine whose deletes
        # only see committed documents (whoosh) never has to commit in between.
        engine.delete_entries(list(records))
        engine.add(docs)
        vocabulary.add_documents(docs)
        if prepared is None:
            self.commit()
        else:
            engine.commit()
            vocabulary.save(prepared.directory)

    def replace(self, docs: Sequence[SearchDocument]) -> None:
        """Add documents, replacing every earlier document of the same entries."""
        engine, vocabulary, _ = self._live()
        by_entry: dict[str, list[SearchDocument]] = defaultdict(list)
        for doc in docs:
            by_entry[doc.entry_id].append(doc)
        engine.delete_entries(by_entry)
        engine.add(list(docs))
        vocabulary.add_documents(docs)

    def replace_record(self, record: Mapping[str, Any]) -> None:
        self.replace(list(documents_for_records([record])))

    def delete(self, entry_id: str) -> None:
        engine, _, _ = self._live()
        engine.delete_entries([entry_id])

    def commit(self) -> None:
        engine, vocabulary, _ = self._live()
        engine.commit()
        if self._directory is not None:
            vocabulary.save(self._directory)
        with self._swap_lock:
            self._generation += 1
        self._clear_cache()

    def doc_count(self) -> int:
        engine, _, _ = self._live()
        return engine.doc_count()

    # --- search -----------------------------------------------------------------------
    def search(self, query: SearchQuery) -> SearchResults:
        engine, vocabulary, generation = self._live()
        key = (generation, query)
        with self._cache_lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
        results = self._search(engine, vocabulary, query)
        with self._cache_lock:
            self._cache[key] = results
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return results

    def _clear_cache(self) -> None:
        with self._cache_lock:
            self._cache.clear()

    def _search(self, engine: Engine, vocabulary: Vocabulary, query: SearchQuery) -> SearchResults:
        per_page = max(1, min(query.per_page, MAX_PER_PAGE))
        offset = (max(1, query.page) - 1) * per_page
        if offset + per_page > MAX_WINDOW:
            return SearchResults(0, [], {}, None)
        plan = plan_query(query.text, query.lang, vocabulary)
        filters = query.filters()
        if plan.empty:
            filters["doc_type"] = "entry"
            result = engine.search(MatchAll(), filters, offset, per_page, True)
        else:
            result = engine.search(exact_tree(plan), filters, offset, per_page, True)
            # Wider only while few are found: fallbacks, then (3+ terms) one term missing.
            for one_may_miss in (False, True):
                if result.total >= FEW_HITS or (one_may_miss and len(plan.terms) < 3):
                    break
                wider = engine.search(fallback_tree(plan, one_may_miss=one_may_miss), filters,
                                      offset, per_page, True)
                if wider.total > result.total:
                    result = wider
        targets = mark_targets(plan)
        hits = [self._hit(score, stored, query.lang, targets) for score, stored in result.hits]
        hint = suggestion(plan, vocabulary) if not plan.empty else None
        return SearchResults(result.total, hits, _complete_facets(result.facets), hint)

    @staticmethod
    def _hit(score: float, stored: Mapping[str, Any], lang: str, targets: Any) -> SearchHit:
        source = str(stored.get("source_locale") or "")
        titles: dict[str, str] = stored.get("titles") or {}
        texts: dict[str, str] = stored.get("texts") or {}
        title_locale = pick_locale(titles, lang, source)
        text_locale = pick_locale(texts, lang, source)
        candidates: list[tuple[str, str]] = []
        if text_locale:
            candidates.append((texts[text_locale], text_locale))
        if stored.get("extra_text"):
            candidates.append((str(stored["extra_text"]), source))
        candidates.extend((t, loc) for loc, t in texts.items() if loc != text_locale)
        # A match only in a title (of another locale) still deserves a marked snippet.
        candidates.extend((t, loc) for loc, t in titles.items() if loc != title_locale)
        if title_locale and not texts:
            candidates.append((titles[title_locale], title_locale))
        start = stored.get("start")
        return SearchHit(
            id=str(stored.get("entry_id") or stored.get("doc_id")),
            kind=str(stored.get("kind") or ""),
            title=titles.get(title_locale, "") if title_locale else str(stored.get("entry_id")),
            snippet=snippet(candidates, targets),
            score=float(score),
            start=float(start) if start is not None else None,
            locale=title_locale,
        )


def _complete_facets(facets: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, int]]:
    from .base import FACETS

    out: dict[str, dict[str, int]] = {}
    for name in FACETS:
        counts = facets.get(name) or {}
        out[name] = {k: int(v) for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
                     if k and v and k != "None"}
    return out
