"""The durable job queue and its worker, on the real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from taichi_cloud.db import Database, migrate
from taichi_cloud.jobs.db_queue import DatabaseQueue
from taichi_cloud.jobs.queue import Job, PermanentFailure
from taichi_cloud.jobs.worker import JobContext, JobKind, Worker, backoff_seconds


@pytest.fixture
async def queue(database_url: str) -> AsyncIterator[DatabaseQueue]:
    db = Database(database_url)
    await db.connect()
    await migrate(db)
    try:
        yield DatabaseQueue(db, default_max_tries=3)
    finally:
        await db.close()


async def _until(predicate: object, seconds: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not await predicate():  # type: ignore[operator]
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


async def _state(queue: DatabaseQueue, job_id: str) -> str:
    job = await queue.get(job_id)
    assert job is not None
    return job.state


async def test_claims_are_exclusive_and_ids_unique(queue: DatabaseQueue) -> None:
    ids = [await queue.enqueue("k", {"n": n}) for n in range(12)]
    assert await queue.enqueue("k", {"n": 0}, job_id=ids[0]) == ids[0]  # still active: no copy
    claimed = await asyncio.gather(*(queue.claim(f"w{i}", ["k"], 30) for i in range(16)))
    taken = [job.id for job in claimed if job is not None]
    assert sorted(taken) == sorted(ids)  # every job once, none twice
    assert all(job.payload["n"] == ids.index(job.id) for job in claimed if job is not None)
    assert await queue.claim("late", ["k"], 30) is None
    assert (await queue.counts())["running"] == 12


async def test_retries_back_off_then_fail_and_call_the_failure_hook(queue: DatabaseQueue) -> None:
    assert [backoff_seconds(t, 2.0) for t in (1, 2, 3)] == [2.0, 4.0, 8.0]
    attempts: list[int] = []
    failures: list[tuple[str, str]] = []

    async def flaky(context: JobContext) -> None:
        attempts.append(context.job.tries)
        raise RuntimeError(f"boom {context.job.tries}")

    async def on_failure(job: Job, error: str) -> None:
        failures.append((job.id, error))

    worker = Worker(queue, {"flaky": JobKind(flaky, on_failure)}, lease_seconds=5,
                    poll_interval=0.05, backoff_base=0.1)
    job_id = await queue.enqueue("flaky", {}, max_tries=3)
    worker.start()
    try:
        await _until(lambda: _is(queue, job_id, "failed"))
    finally:
        await worker.stop()
    job = await queue.get(job_id)
    assert job is not None and job.tries == 3 and job.error == "boom 3"
    assert attempts == [1, 2, 3] and failures == [(job_id, "boom 3")]


async def _is(queue: DatabaseQueue, job_id: str, state: str) -> bool:
    return await _state(queue, job_id) == state


async def test_permanent_failures_and_timeouts(queue: DatabaseQueue) -> None:
    async def refuse(context: JobContext) -> None:
        raise PermanentFailure("not a video")

    async def slow(context: JobContext) -> None:
        await asyncio.sleep(30)

    worker = Worker(queue, {"refuse": JobKind(refuse), "slow": JobKind(slow)},
                    concurrency=2, lease_seconds=5, poll_interval=0.05, backoff_base=0.05)
    refused = await queue.enqueue("refuse", {})
    timed = await queue.enqueue("slow", {}, max_tries=2, timeout_seconds=0.2)
    worker.start()
    try:
        await _until(lambda: _is(queue, refused, "failed"))
        await _until(lambda: _is(queue, timed, "failed"))
    finally:
        await worker.stop()
    refused_job, timed_job = await queue.get(refused), await queue.get(timed)
    assert refused_job is not None and refused_job.tries == 1 and refused_job.error == "not a video"
    assert timed_job is not None and timed_job.tries == 2 and "within 0.2 s" in (timed_job.error or "")


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
        assert await _state(queue, job_id) == "cancelled"
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
        await _until(lambda: _is(queue, job_id, "done"))
    finally:
        await worker.stop()
    assert done == [2]
    # The dead worker's late heartbeat is refused: the job is no longer its own.
    assert not await queue.heartbeat(job_id, "worker-that-died", 5)


async def test_heartbeats_keep_a_long_job_and_shutdown_releases_it(queue: DatabaseQueue) -> None:
    started = asyncio.Event()

    async def long(context: JobContext) -> None:
        context.report_progress(0.5)
        started.set()
        await asyncio.sleep(30)

    worker = Worker(queue, {"long": JobKind(long)}, lease_seconds=0.6, poll_interval=0.05)
    job_id = await queue.enqueue("long", {})
    worker.start()
    await asyncio.wait_for(started.wait(), 10)
    await asyncio.sleep(1.5)  # several leases long: heartbeats must have renewed it
    assert await queue.claim("thief", ["long"], 5) is None
    job = await queue.get(job_id)
    assert job is not None and job.progress == 0.5
    await worker.stop()
    job = await queue.get(job_id)
    assert job is not None and job.state == "queued" and job.tries == 0  # released, not a failure
