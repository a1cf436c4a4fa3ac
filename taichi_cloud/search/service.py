"""``SearchService``: keeps the index in step with the catalog without blocking the loop.

* One writer task, fed by an asyncio queue of entry ids, applies changes in one writer thread
  and commits. A burst (an import, a script creating entries in a row) is gathered while it
  keeps coming, up to ``BATCH_MAX_WAIT``, so it costs a few commits instead of one per
  change; a lone edit waits only ``BATCH_QUIET``: either way it is searchable within a second.
* Searches run in a thread pool.
* At start-up a missing or corrupt index is replaced by an empty one at once and rebuilt in
  the background from ``catalog.iter_records()``; the service answers all the while.
* ``reindex()`` builds a new index beside the live one and swaps it in atomically; changes
  that arrive meanwhile are applied to the live index at once and to the new one before it
  is installed (the writer pauses for that moment), so no edit is lost or hidden by a swap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .base import IndexUnavailable, SearchQuery, SearchResults
from .documents import documents_for_records
from .index import SearchIndex

if TYPE_CHECKING:
    from ..catalog.service import Catalog
    from ..settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")
BATCH_QUIET = 0.03  # seconds without a new change that close a batch
BATCH_MAX_WAIT = 0.25  # seconds a batch may wait for more changes after its first one
CLOSE_DRAIN = 5.0  # seconds close() waits for queued changes to reach the index
POINTER_POLL = 2.0  # seconds between checks for an index installed by `taichi-cloud reindex`
SEARCH_THREADS = 4


def index_root(settings: Settings) -> Path:
    return Path(settings.data_dir) / "search" / settings.search_backend


class SearchService:
    def __init__(self, settings: Settings, catalog: Catalog) -> None:
        self.catalog = catalog
        self.index = SearchIndex(index_root(settings), settings.search_backend)
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._readers = ThreadPoolExecutor(SEARCH_THREADS, thread_name_prefix="search")
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="search-writer")
        self._builder = ThreadPoolExecutor(1, thread_name_prefix="search-build")
        self._writer_task: asyncio.Task[None] | None = None
        self._rebuild_task: asyncio.Task[int] | None = None
        self._rebuild_lock = asyncio.Lock()
        # Held while changes are written; a rebuild holds it to replay and install.
        self._write_lock = asyncio.Lock()
        self._changed_during_rebuild: set[str] | None = None
        self._busy = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def _in(self, pool: ThreadPoolExecutor, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)

    # --- lifecycle ----------------------------------------------------------------------
    async def start(self) -> None:
        try:
            await self._in(self._writer, self.index.open)
        except IndexUnavailable as exc:
            log.warning("search index unavailable (%s); rebuilding in the background", exc)
            await self._in(self._writer, self.index.create_empty)
            self._rebuild_task = asyncio.create_task(self.reindex())
        self.catalog.subscribe(self.entry_changed)
        self._writer_task = asyncio.create_task(self._write_loop())

    async def close(self) -> None:
        # Changes still queued (``taichi-cloud import`` ends right after its last write)
        # reach the index before the writer stops.
        if self._writer_task is not None and not self._writer_task.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), CLOSE_DRAIN)
        for task in (self._rebuild_task, self._writer_task):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._builder.shutdown(wait=True, cancel_futures=True)
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        self.index.close()

    # --- changes ------------------------------------------------------------------------
    async def entry_changed(self, entry_id: str) -> None:
        """Catalog subscriber: the entry was created, edited, moved or deleted."""
        self._busy += 1
        self._idle.clear()
        self._queue.put_nowait(entry_id)

    async def flush(self) -> None:
        """Wait until every queued change is searchable (tests, CLI)."""
        await self._idle.wait()

    async def _write_loop(self) -> None:
        while True:
            try:
                first = await asyncio.wait_for(self._queue.get(), POINTER_POLL)
            except TimeoutError:
                await self._follow_external_reindex()
                continue
            ids, taken = await self._gather_batch(first)
            try:
                await self._apply(ids)
            except Exception:
                log.exception("search index update failed for %s", sorted(ids))
            finally:
                # Each entry_changed() counted one, duplicates included.
                self._busy = max(0, self._busy - taken)
                if self._busy == 0 and self._queue.empty():
                    self._idle.set()

    async def _gather_batch(self, first: str) -> tuple[set[str], int]:
        """``first`` and the changes that follow it closely: (distinct ids, changes taken)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + BATCH_MAX_WAIT
        ids = {first}
        taken = 1
        while True:
            while not self._queue.empty():
                ids.add(self._queue.get_nowait())
                taken += 1
            remaining = deadline - loop.time()
            if remaining <= 0:
                return ids, taken
            try:
                ids.add(await asyncio.wait_for(self._queue.get(), min(BATCH_QUIET, remaining)))
                taken += 1
            except TimeoutError:
                return ids, taken

    async def _apply(self, ids: set[str]) -> None:
        async with self._write_lock:
            records = await self._records(ids)
            if self._changed_during_rebuild is not None:
                self._changed_during_rebuild.update(ids)
            await self._in(self._writer, self.index.apply_changes, records)

    async def _records(self, ids: set[str]) -> dict[str, dict[str, Any] | None]:
        return {entry_id: await self.catalog.get_record(entry_id) for entry_id in sorted(ids)}

    async def _follow_external_reindex(self) -> None:
        if self.index.pointer_moved() and not self._rebuild_lock.locked():
            try:
                await self._in(self._writer, self.index.open)
                log.info("search index swapped in by another process")
            except IndexUnavailable:
                log.exception("the index installed by another process is unreadable")

    # --- rebuild ------------------------------------------------------------------------
    async def reindex(self) -> int:
        """Build a new index from the whole catalog and swap it in; returns documents."""
        async with self._rebuild_lock:
            self._changed_during_rebuild = set()
            try:
                records = [record async for record in self.catalog.iter_records()]
                prepared = await self._in(self._builder, self.index.prepare,
                                          documents_for_records(records))
                try:
                    async with self._write_lock:
                        # Entries changed since they were read: the live index has them,
                        # the new one gets them now, while no other write can slip between.
                        changed = await self._records(self._changed_during_rebuild)
                        if changed:
                            await self._in(self._writer, self.index.apply_changes, changed,
                                           prepared)
                        await self._in(self._writer, self.index.install, prepared)
                except BaseException:
                    await self._in(self._writer, self.index.discard, prepared)
                    raise
            finally:
                self._changed_during_rebuild = None
            log.info("search index rebuilt: %d documents from %d entries",
                     prepared.count, len(records))
            return prepared.count

    async def wait_rebuilt(self) -> None:
        """Wait for a start-up rebuild, if one is running."""
        if self._rebuild_task is not None:
            await asyncio.shield(self._rebuild_task)

    # --- queries ------------------------------------------------------------------------
    async def search(self, query: SearchQuery) -> SearchResults:
        return await self._in(self._readers, self.index.search, query)

    async def doc_count(self) -> int:
        return await self._in(self._readers, self.index.doc_count)
