"""The Redis job queue on the real Redis at 127.0.0.1:6379 (a random key prefix per test)."""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from collections.abc import AsyncIterator, Callable

import pytest

from taichi_cloud.jobs.queue import Job, PermanentFailure
from taichi_cloud.jobs.redis_queue import RedisQueue, parse_queue_url
from taichi_cloud.jobs.worker import JobContext, JobKind, Worker

from .queue_contract import (  # noqa: F401 -- the shared JobQueue tests, run on Redis here
    is_in,
    state_of,
    test_heartbeats_keep_a_long_job_and_shutdown_releases_it,
    test_permanent_failures_and_timeouts,
    test_retries_back_off_then_fail_and_call_the_failure_hook,
    until,
)

REDIS_URL = "redis://127.0.0.1:6379/0"
pytestmark = pytest.mark.timeout(60)

MakeQueue = Callable[[], RedisQueue]


@pytest.fixture
async def make_queue() -> AsyncIterator[MakeQueue]:
    """Queues sharing one random prefix, each with its own connections (like separate workers)."""
    prefix = f"test-{secrets.token_hex(6)}"
    made: list[RedisQueue] = []

    def make() -> RedisQueue:
        made.append(RedisQueue(f"{REDIS_URL}?prefix={prefix}", default_max_tries=3))
        return made[-1]

    yield make
    if made:
        await made[0].drop_all()
    for queue in made:
        await queue.close()


@pytest.fixture
def queue(make_queue: MakeQueue) -> RedisQueue:
    return make_queue()


def test_queue_url_prefix() -> None:
    assert parse_queue_url("redis://h:6379/2?prefix=museum") == ("redis://h:6379/2", "museum")
    assert parse_queue_url("redis://h/0?socket_timeout=5") == ("redis://h/0?socket_timeout=5",
                                                              "taichi:jobs")


async def test_claims_are_exclusive_across_connections(make_queue: MakeQueue) -> None:
    queues = [make_queue() for _ in range(4)]
    ids = [await queues[0].enqueue("k", {"n": n}, ref=f"r{n % 2}") for n in range(12)]
    assert await queues[1].enqueue("k", {"n": 0}, job_id=ids[0]) == ids[0]  # active: no copy
    claimed = await asyncio.gather(*(queues[i % 4].claim(f"w{i}", ["k"], 30) for i in range(20)))
    taken = [job.id for job in claimed if job is not None]
    assert sorted(taken) == sorted(ids)  # every job once, none twice
    assert all(job.payload["n"] == ids.index(job.id) and job.tries == 1 and job.lease_owner
               for job in claimed if job is not None)
    assert await queues[2].claim("late", ["k"], 30) is None
    assert await queues[3].claim("other kind", ["x"], 30) is None
    assert (await queues[0].counts()) == {"running": 12}
    assert [j.id for j in await queues[0].jobs_for("r0")] == ids[0::2]  # in enqueue order


async def test_a_finished_job_runs_again_when_its_id_is_enqueued_again(queue: RedisQueue) -> None:
    async def refuse(context: JobContext) -> None:
        raise PermanentFailure("not a video")

    worker = Worker(queue, {"refuse": JobKind(refuse)}, lease_seconds=5, poll_interval=0.05)
    job_id = await queue.enqueue("refuse", {})
    worker.start()
    try:
        await until(is_in(queue, job_id, "failed"))
    finally:
        await worker.stop()
    assert await queue.enqueue("refuse", {}, job_id=job_id) == job_id
    assert await state_of(queue, job_id) == "queued"
    assert await queue.counts() == {"queued": 1}


async def test_cancel_stops_running_jobs_here_and_in_other_processes(make_queue: MakeQueue) -> None:
    here, elsewhere = make_queue(), make_queue()
    started: list[str] = []
    stopped: list[str] = []

    async def long(context: JobContext) -> None:
        started.append(context.job.id)
        try:
            await asyncio.sleep(30)
        finally:
            stopped.append(context.job.id)

    worker = Worker(here, {"long": JobKind(long)}, concurrency=2, lease_seconds=0.9,
                    poll_interval=0.05)
    local = await here.enqueue("long", {}, ref="media-1")
    remote = await here.enqueue("long", {}, ref="media-2")
    queued = await here.enqueue("long", {}, ref="media-2", delay=60)
    worker.start()
    try:
        await until(lambda: asyncio.sleep(0, len(started) == 2))
        assert await here.cancel(ref="media-1") == [local]  # in-process: the listener, at once
        await until(lambda: asyncio.sleep(0, local in stopped), 2)
        # Another process cancels: this worker hears it at its next heartbeat (lease / 3).
        assert sorted(await elsewhere.cancel(ref="media-2")) == sorted([remote, queued])
        await until(lambda: asyncio.sleep(0, remote in stopped), 3)
        assert {await state_of(here, i) for i in (local, remote, queued)} == {"cancelled"}
        assert await elsewhere.cancel(job_id=local) == []  # already final
    finally:
        await worker.stop()
    assert await here.counts() == {"cancelled": 3}


async def test_a_job_whose_worker_died_is_finished_once_by_another(queue: RedisQueue) -> None:
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
    # The dead worker's late heartbeat and its late completion are refused.
    assert not await queue.heartbeat(job_id, "worker-that-died", 5)
    await queue.complete(job_id, "worker-that-died")
    await queue.fail(job_id, "worker-that-died", "late")
    job = await queue.get(job_id)
    assert job is not None and job.state == "done" and job.error is None and job.tries == 2
    assert await queue.counts() == {"done": 1}


async def test_expired_leases_count_as_tries(queue: RedisQueue) -> None:
    failures: list[str] = []

    async def on_failure(job: Job, error: str) -> None:
        failures.append(error)

    job_id = await queue.enqueue("crashy", {}, max_tries=2)
    for owner in ("dies-1", "dies-2"):
        claimed = None
        for _ in range(100):
            claimed = await queue.claim(owner, ["crashy"], 0.1)
            if claimed is not None:
                break
            await asyncio.sleep(0.05)
        assert claimed is not None and not claimed.exhausted
    await asyncio.sleep(0.15)
    worker = Worker(queue, {"crashy": JobKind(lambda c: asyncio.sleep(0), on_failure)},
                    lease_seconds=5, poll_interval=0.05)
    worker.start()
    try:
        await until(is_in(queue, job_id, "failed"))
        await until(lambda: asyncio.sleep(0, bool(failures)))
    finally:
        await worker.stop()
    assert "stopped 2 times" in failures[0]


async def test_workers_share_jobs_and_none_completes_twice(make_queue: MakeQueue) -> None:
    """Three workers on their own connections race for 60 short jobs."""
    runs: Counter[str] = Counter()
    by_worker: Counter[str] = Counter()
    producer = make_queue()

    def kind_for(name: str) -> JobKind:
        async def work(context: JobContext) -> None:
            runs[context.job.id] += 1
            by_worker[name] += 1
            await asyncio.sleep(0.01)
        return JobKind(work)

    workers = [Worker(make_queue(), {"w": kind_for(f"w{i}")}, concurrency=2, lease_seconds=5,
                      poll_interval=0.02, worker_id=f"w{i}") for i in range(3)]
    for worker in workers:
        worker.start()
    try:
        ids = await asyncio.gather(*(producer.enqueue("w", {"n": n}) for n in range(60)))
        await until(lambda: asyncio.sleep(0, sum(runs.values()) >= 60), 20)
        await until(lambda: _all_done(producer), 5)
    finally:
        for worker in workers:
            await worker.stop()
    assert set(runs) == set(ids) and set(runs.values()) == {1}  # each ran exactly once
    assert len(by_worker) >= 2  # the work was shared
    assert await producer.counts() == {"done": 60}


async def _all_done(queue: RedisQueue) -> bool:
    return await queue.counts() == {"done": 60}
