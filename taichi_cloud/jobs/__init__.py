"""The jobs component: a durable queue (the database, or Redis for shared workers) and the worker.

Components register job kinds with :func:`register_job_kind` during ``setup``. The worker starts
after every service is up (``on_startup``) when this process runs jobs: by default (empty
``QUEUE_URL``), with ``serve --with-worker``, or as ``taichi-cloud worker``. With
``QUEUE_URL=redis://...`` a plain ``serve`` only enqueues; ``worker`` processes anywhere run jobs.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from .queue import Job, JobQueue, PermanentFailure
from .worker import JobContext, JobKind, Worker

if TYPE_CHECKING:
    from ..db import Database
    from ..settings import Settings

log = logging.getLogger(__name__)

JOB_KINDS: web.AppKey[dict[str, JobKind]] = web.AppKey("job_kinds", dict)
WORKER: web.AppKey[Worker] = web.AppKey("job_worker", Worker)

__all__ = ["JOB_KINDS", "WORKER", "Job", "JobContext", "JobKind", "JobQueue", "PermanentFailure",
           "Worker", "cli_commands", "open_queue", "register_job_kind", "runs_jobs", "setup"]


def open_queue(settings: Settings, db: Database) -> JobQueue:
    if not settings.queue_url:
        from .db_queue import DatabaseQueue

        return DatabaseQueue(db, default_max_tries=settings.job_max_tries)
    if settings.queue_url.startswith(("redis://", "rediss://", "unix://")):
        from .redis_queue import RedisQueue

        return RedisQueue(settings.queue_url, default_max_tries=settings.job_max_tries)
    raise ValueError(f"unsupported QUEUE_URL {settings.queue_url!r}: leave it empty (the "
                     "database queue) or use redis://host:port/db[?prefix=NAME]")


def runs_jobs(settings: Settings) -> bool:
    return not settings.queue_url or settings.with_worker


def register_job_kind(app: web.Application, name: str, kind: JobKind) -> None:
    app[JOB_KINDS][name] = kind


async def _queue_context(app: web.Application) -> AsyncIterator[None]:
    from ..keys import DB, QUEUE, SETTINGS

    queue = app[QUEUE] = open_queue(app[SETTINGS], app[DB])
    yield
    close = getattr(queue, "close", None)
    if close is not None:
        await close()


async def _start_worker(app: web.Application) -> None:
    from ..keys import QUEUE, SETTINGS

    settings = app[SETTINGS]
    kinds: dict[str, JobKind] = app[JOB_KINDS]
    if not runs_jobs(settings) or not kinds:
        return
    worker = Worker(app[QUEUE], kinds, concurrency=settings.max_concurrent_transcodes,
                    lease_seconds=settings.job_lease_seconds, on_settled=_metrics_hook(app))
    app[WORKER] = worker
    worker.start()
    log.info("job worker %s started (%d at a time)", worker.id, worker.concurrency)


def _metrics_hook(app: web.Application) -> Callable[[Job, str, float, JobContext], None] | None:
    """Job durations and transcoding speed into ``/metrics`` (when the ops component is on)."""
    from ..ops.metrics import METRICS

    metrics = app.get(METRICS)
    if metrics is None:
        return None

    def settled(job: Job, outcome: str, seconds: float, context: JobContext) -> None:
        metrics.observe_job(job.kind, seconds, outcome)
        if outcome == "completed" and context.media_seconds:
            metrics.observe_transcode(context.media_seconds, seconds)
    return settled


async def _stop_worker(app: web.Application) -> None:
    worker = app.get(WORKER)
    if worker is not None:
        await worker.stop()


def setup(app: web.Application) -> None:
    """Add the job queue (after the database) and the in-process worker to ``app``."""
    app[JOB_KINDS] = {}
    app.cleanup_ctx.append(_queue_context)
    app.on_startup.append(_start_worker)
    app.on_shutdown.append(_stop_worker)


async def run_worker(settings: Settings, args: argparse.Namespace) -> int:
    """``taichi-cloud worker``: run jobs (no HTTP) until SIGINT or SIGTERM."""
    from ..app import create_app

    app = create_app(settings.replace(with_worker=True))
    runner = web.AppRunner(app)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
    return 0


def cli_commands() -> dict[str, Callable[[Settings, argparse.Namespace], Awaitable[int]]]:
    return {"worker": run_worker}
