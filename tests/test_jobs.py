"""The durable job queue and its worker, on the real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from taichi_cloud.db import Database, migrate
from taichi_cloud.jobs.db_queue import DatabaseQueue
from taichi_cloud.jobs.worker import JobContext, JobKind, Worker

from .queue_contract import (  # noqa: F401 -- the shared JobQueue tests, run on the database here
    is_in,
    state_of,
    test_heartbeats_keep_a_long_job_and_shutdown_releases_it,
    test_permanent_failures_and_timeouts,
    test_retries_back_off_then_fail_and_call_the_failure_hook,
    until,
)


@pytest.fixture
async def queue(database_url: str) -> AsyncIterator[DatabaseQueue]:
    db = Database(database_url)
    await db.connect()
    await migrate(db)
    try:
        yield DatabaseQueue(db, default_max_tries=3)
    finally:
        await db.close()


async def test_claims_are_exclusive_and_ids_unique(queue: DatabaseQueue) -> None:
    ids = [await queue.enqueue("k", {"n": n}) for n in range(12)]
    assert await queue.enqueue("k", {"n": 0}, job_id=ids[0]) == ids[0]  # still active: no copy
    claimed = await asyncio.gather(*(queue.claim(f"w{i}", ["k"], 30) for i in range(16)))
    taken = [job.id for job in claimed if job is not None]
    assert sorted(taken) == sorted(ids)  # every job once, none twice
    assert all(job.payload["n"] == ids.index(job.id) for job in claimed if job is not None)
    assert await queue.claim("late", ["k"], 30) is None
    assert (await queue.counts())["running"] == 12


async def test_cancel_stops_a_running_job(queue: DatabaseQueue) -> None:
    started, stopped = asyncio.Event(), asyncio.Event()

    async def long(context: JobContext) -> None:
        started.set()
        try:
            await asyncio.sleep(30)
        finally:
            stopped.set()

    worker = Worker(queue, {"long": JobKind(long)}, lease_seconds=5, poll_interval=0.05)
    job_id = await queue.enqueue("long", {}, ref="media-1")
    worker.start()
    try:
        await asyncio.wait_for(started.wait(), 10)
        assert await queue.cancel(ref="media-1") == [job_id]
        await asyncio.wait_for(stopped.wait(), 5)
        assert await state_of(queue, job_id) == "cancelled"
    finally:
        await worker.stop()


async def test_a_job_whose_worker_died_is_taken_again_and_finishes(queue: DatabaseQueue) -> None:
    job_id = await queue.enqueue("work", {"x": 1})
    dead = await queue.claim("worker-that-died", ["work"], lease_seconds=0.3)
    assert dead is not None and dead.tries == 1
    assert await queue.claim("other", ["work"], 5) is None  # the lease still holds
    done: list[int] = []

    async def work(context: JobContext) -> None:
        done.append(context.job.tries)

    worker = Worker(queue, {"work": JobKind(work)}, lease_seconds=5, poll_interval=0.05)
    worker.start()
    try:
        await until(is_in(queue, job_id, "done"))
    finally:
        await worker.stop()
    assert done == [2]
    # The dead worker's late heartbeat is refused: the job is no longer its own.
    assert not await queue.heartbeat(job_id, "worker-that-died", 5)


