"""What every JobQueue must do with the Worker, written once: tests/test_jobs.py runs it on the
database queue (SQLite and PostgreSQL) and tests/test_redis_queue.py on the Redis queue. Each
module provides its own ``queue`` fixture and imports these tests by name."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from taichi_cloud.jobs.queue import Job, JobQueue, PermanentFailure
from taichi_cloud.jobs.worker import JobContext, JobKind, Worker, backoff_seconds


async def until(predicate: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not await predicate():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


async def state_of(queue: JobQueue, job_id: str) -> str:
    job = await queue.get(job_id)
    assert job is not None
    return job.state


def is_in(queue: JobQueue, job_id: str, state: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await state_of(queue, job_id) == state
    return check


async def test_retries_back_off_then_fail_and_call_the_failure_hook(queue: JobQueue) -> None:
    assert [backoff_seconds(t, 2.0) for t in (1, 2, 3)] == [2.0, 4.0, 8.0]
    attempts: list[int] = []
    failures: list[tuple[str, str]] = []

    async def flaky(context: JobContext) -> None:
        attempts.append(context.job.tries)
        raise RuntimeError(f"boom {context.job.tries}")

    async def on_failure(job: Job, error: str) -> None:
        failures.append((job.id, error))

    worker = Worker(queue, {"flaky": JobKind(flaky, on_failure)}, lease_seconds=5,
                    poll_interval=0.05, backoff_base=0.2)
    job_id = await queue.enqueue("flaky", {}, max_tries=3)
    loop = asyncio.get_running_loop()
    began = loop.time()
    worker.start()
    try:
        await until(is_in(queue, job_id, "failed"))
    finally:
        await worker.stop()
    assert loop.time() - began >= 0.2 + 0.4  # two back-offs (0.2 s, then 0.4 s)
    job = await queue.get(job_id)
    assert job is not None and job.tries == 3 and job.error == "boom 3"
    assert attempts == [1, 2, 3] and failures == [(job_id, "boom 3")]


async def test_permanent_failures_and_timeouts(queue: JobQueue) -> None:
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
        await until(is_in(queue, refused, "failed"))
        await until(is_in(queue, timed, "failed"))
    finally:
        await worker.stop()
    refused_job, timed_job = await queue.get(refused), await queue.get(timed)
    assert refused_job is not None and refused_job.tries == 1 and refused_job.error == "not a video"
    assert timed_job is not None and timed_job.tries == 2 and timed_job.timeout == 0.2
    assert "within 0.2 s" in (timed_job.error or "")


async def test_heartbeats_keep_a_long_job_and_shutdown_releases_it(queue: JobQueue) -> None:
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
