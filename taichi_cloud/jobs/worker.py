"""The job worker: claims due jobs, heartbeats while they run, retries with backoff.

Bookkeeping (complete / retry / fail) is shielded so a cancellation cannot lose it. A job whose
worker vanishes keeps its row in ``running`` until the lease expires; any worker then takes it
again (``DatabaseQueue.claim``), which is how a crashed transcode is resumed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from ..util import new_id
from .queue import Job, JobQueue, PermanentFailure

log = logging.getLogger(__name__)

MAX_BACKOFF = 600.0


class JobContext:
    """What a handler sees: its job and a way to report progress (sent with the heartbeat)."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.progress: float | None = None
        #: Seconds of media this try processed (set by media jobs; feeds transcoding speed).
        self.media_seconds: float | None = None

    @property
    def is_last_try(self) -> bool:
        return self.job.tries >= self.job.max_tries

    def report_progress(self, fraction: float) -> None:
        self.progress = max(0.0, min(1.0, fraction))


@dataclass(frozen=True)
class JobKind:
    """How to run one kind of job, and what to do once it has failed for good."""

    run: Callable[[JobContext], Awaitable[None]]
    on_failure: Callable[[Job, str], Awaitable[None]] | None = None
    timeout: float | None = None  # default when the job row sets none


def backoff_seconds(tries: int, base: float) -> float:
    """base, 2·base, 4·base, ... for the 1st, 2nd, 3rd failed try (capped)."""
    return float(min(MAX_BACKOFF, base * 2 ** max(0, tries - 1)))


class Worker:
    def __init__(self, queue: JobQueue, kinds: Mapping[str, JobKind], *, concurrency: int = 1,
                 lease_seconds: float = 60.0, poll_interval: float = 1.0,
                 backoff_base: float = 2.0, worker_id: str | None = None,
                 on_settled: Callable[[Job, str, float, JobContext], None] | None = None) -> None:
        self.queue = queue
        #: Told of every finished try: (job, outcome, seconds, context) — metrics listen here.
        self.on_settled = on_settled
        self.kinds = kinds
        self.concurrency = max(1, concurrency)
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        self.backoff_base = backoff_base
        self.id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{new_id()}"
        self._running: dict[str, asyncio.Task[None]] = {}
        self._cancelled: set[str] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = False
        queue.add_cancel_listener(self._on_cancel)

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._loop(), name=f"worker {self.id}")

    async def stop(self) -> None:
        """Stop claiming; interrupt running jobs and hand them back to the queue."""
        self._stopping = True
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def busy(self) -> int:
        return len(self._running)

    async def _loop(self) -> None:
        while not self._stopping:
            try:
                claimed = await self._fill_slots()
            except Exception:
                log.exception("claiming jobs failed; retrying")
                claimed = False
            if not claimed:
                await self.queue.wait_for_work(self.poll_interval)

    async def _fill_slots(self) -> bool:
        claimed = False
        while len(self._running) < self.concurrency and not self._stopping:
            job = await self.queue.claim(self.id, self.kinds, self.lease_seconds)
            if job is None:
                break
            claimed = True
            if job.exhausted:
                await self._on_final_failure(job, job.error or "failed")
                continue
            task = asyncio.create_task(self._execute(job), name=f"job {job.id}")
            self._running[job.id] = task
            task.add_done_callback(self._forget(job.id))
        return claimed

    def _forget(self, job_id: str) -> Callable[[asyncio.Task[None]], None]:
        def done(_task: asyncio.Task[None]) -> None:
            self._running.pop(job_id, None)
        return done

    def _on_cancel(self, job_ids: Sequence[str]) -> None:
        for job_id in job_ids:
            task = self._running.get(job_id)
            if task is not None:
                self._cancelled.add(job_id)
                task.cancel()

    async def run_one(self, job: Job) -> None:
        """Run one already-claimed job to its outcome (tests and the CLI use it directly)."""
        await self._execute(job)

    # -- one job -------------------------------------------------------------------------
    async def _execute(self, job: Job) -> None:
        kind = self.kinds[job.kind]
        context = JobContext(job)
        started = time.monotonic()
        work = asyncio.create_task(self._run_handler(kind, job, context))
        beat = asyncio.create_task(self._heartbeat(job, context, work))
        try:
            # asyncio.wait, unlike awaiting the task, does not pass our cancellation on to it.
            await asyncio.wait({work})
        except asyncio.CancelledError:  # shutdown: stop the work and hand the job back
            work.cancel()
            beat.cancel()
            await asyncio.gather(work, beat, return_exceptions=True)
            await asyncio.shield(self._release(job))
            self._report(job, "released", started, context)
            raise
        beat.cancel()
        await asyncio.gather(beat, return_exceptions=True)
        outcome: BaseException | None = (asyncio.CancelledError() if work.cancelled()
                                         else work.exception())
        await asyncio.shield(self._settle(kind, job, outcome))
        self._report(job, _outcome_name(job, outcome), started, context)

    def _report(self, job: Job, outcome: str, started: float, context: JobContext) -> None:
        if self.on_settled is not None:
            try:
                self.on_settled(job, outcome, time.monotonic() - started, context)
            except Exception:
                log.exception("on_settled hook failed for job %s", job.id)

    async def _run_handler(self, kind: JobKind, job: Job, context: JobContext) -> None:
        timeout = job.timeout or kind.timeout
        try:
            async with asyncio.timeout(timeout):
                await kind.run(context)
        except TimeoutError:
            raise TimeoutError(f"the job did not finish within {timeout:g} s") from None

    async def _heartbeat(self, job: Job, context: JobContext, work: asyncio.Task[None]) -> None:
        interval = max(0.2, self.lease_seconds / 3)
        while not work.done():
            await asyncio.sleep(interval)
            try:
                alive = await self.queue.heartbeat(job.id, self.id, self.lease_seconds,
                                                   context.progress)
            except Exception:
                log.exception("heartbeat of job %s failed", job.id)
                continue
            if not alive:  # cancelled, or our lease lapsed and another worker has it
                log.warning("job %s: lease lost or job cancelled; stopping it", job.id)
                self._cancelled.add(job.id)
                work.cancel()
                return

    async def _release(self, job: Job) -> None:
        try:
            await self.queue.release(job.id, self.id)
        except Exception:
            log.exception("releasing job %s failed", job.id)

    async def _settle(self, kind: JobKind, job: Job, outcome: BaseException | None) -> None:
        try:
            if outcome is None:
                await self.queue.complete(job.id, self.id)
                return
            if job.id in self._cancelled or isinstance(outcome, asyncio.CancelledError):
                self._cancelled.discard(job.id)
                log.info("job %s stopped (cancelled or taken over)", job.id)
                return
            error = _describe(outcome)
            if isinstance(outcome, PermanentFailure) or job.tries >= job.max_tries:
                log.warning("job %s failed for good after %d tries: %s", job.id, job.tries, error)
                await self.queue.fail(job.id, self.id, error)
                await self._on_final_failure(job, error, kind)
            else:
                delay = backoff_seconds(job.tries, self.backoff_base)
                log.info("job %s try %d failed (%s); again in %.1f s", job.id, job.tries, error, delay)
                await self.queue.retry(job.id, self.id, error, delay)
        except Exception:
            log.exception("bookkeeping for job %s failed", job.id)

    async def _on_final_failure(self, job: Job, error: str, kind: JobKind | None = None) -> None:
        kind = kind or self.kinds.get(job.kind)
        if kind is not None and kind.on_failure is not None:
            try:
                await kind.on_failure(job, error)
            except Exception:
                log.exception("failure hook of job %s failed", job.id)


def _outcome_name(job: Job, outcome: BaseException | None) -> str:
    if outcome is None:
        return "completed"
    if isinstance(outcome, asyncio.CancelledError):
        return "cancelled"
    if isinstance(outcome, PermanentFailure) or job.tries >= job.max_tries:
        return "failed"
    return "retried"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, PermanentFailure):
        return exc.reason
    text = str(exc).strip() or type(exc).__name__
    if not isinstance(exc, (TimeoutError, RuntimeError, OSError, ValueError)):
        log.debug("job error traceback:\n%s", "".join(traceback.format_exception(exc)))
    return text[:2000]
