"""Real ``taichi-cloud worker`` processes sharing the Redis queue; one is killed with SIGKILL
mid-transcode and the other finishes its job. The API process itself runs no jobs."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from taichi_cloud.app import create_app
from taichi_cloud.jobs import WORKER
from taichi_cloud.jobs.redis_queue import RedisQueue
from taichi_cloud.keys import QUEUE
from taichi_cloud.media.service import process_job_id
from taichi_cloud.settings import Settings
from tests.conftest import MakeUser
from tests.media_helpers import Client, clip, tus_upload, wait_for_media

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
pytestmark = [SQLITE_ONLY, pytest.mark.timeout(120)]
LEASE_SECONDS = 2


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(data_dir=str(tmp_path / "data"), database_url=database_url,
                    storage_url=f"file://{tmp_path / 'media'}", secret_key="test-secret",
                    public_url="http://testserver.example", job_lease_seconds=LEASE_SECONDS,
                    queue_url=f"redis://127.0.0.1:6379/0?prefix=test-{secrets.token_hex(6)}")


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[web.Application]:
    yield create_app(settings)
    cleanup = RedisQueue(settings.queue_url)
    await cleanup.drop_all()
    await cleanup.close()


async def _start_worker(settings: Settings) -> asyncio.subprocess.Process:
    env = {**os.environ, "TAICHI_CLOUD_DATABASE_URL": settings.database_url,
           "TAICHI_CLOUD_STORAGE_URL": settings.storage_url,
           "TAICHI_CLOUD_SECRET_KEY": settings.secret_key,
           "TAICHI_CLOUD_QUEUE_URL": settings.queue_url,
           "TAICHI_CLOUD_JOB_LEASE_SECONDS": str(LEASE_SECONDS)}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "taichi_cloud", "--data-dir", settings.data_dir, "worker", env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)


async def test_workers_share_jobs_and_a_killed_workers_job_is_finished_by_the_other(
        client: Client, make_user: MakeUser, settings: Settings, tmp_path: Path) -> None:
    assert WORKER not in client.app  # serve with a Redis queue runs no jobs itself
    queue: RedisQueue = client.app[QUEUE]
    curator = await make_user("curator")
    media_ids = []
    for n in range(2):
        data = await asyncio.to_thread(
            clip(tmp_path / f"c{n}.mp4", seconds=5.0, size="640x360").read_bytes)
        media_ids.append((await tus_upload(client, curator.headers, data,
                                           filename=f"c{n}.mp4"))["Taichi-Media-Id"])
    workers = [await _start_worker(settings) for _ in range(2)]
    by_pid = {w.pid: w for w in workers}
    try:
        # Both jobs run at once, one in each worker (one transcode per worker at a time).
        owners: dict[str, str] = {}
        deadline = asyncio.get_running_loop().time() + 60
        while len(owners) < 2:
            assert asyncio.get_running_loop().time() < deadline, "the workers took no jobs"
            for media_id in media_ids:
                job = await queue.get(process_job_id(media_id))
                assert job is not None and job.state != "done", "finished before the kill"
                if job.state == "running" and job.lease_owner:
                    owners[media_id] = job.lease_owner
            await asyncio.sleep(0.05)
        pids = {media_id: int(owner.split(":")[1]) for media_id, owner in owners.items()}
        assert set(pids.values()) == set(by_pid)  # the work was shared
        victim_media = media_ids[0]
        victim = by_pid[pids[victim_media]]
        victim.send_signal(signal.SIGKILL)  # mid-job: no release, no bookkeeping
        await victim.wait()
        assert victim.returncode == -signal.SIGKILL

        for media_id in media_ids:
            media = await wait_for_media(client, media_id, curator.headers)
            assert media["status"] == "ready", media["error"]
        orphan = await queue.get(process_job_id(victim_media))
        assert orphan is not None and orphan.state == "done" and orphan.tries == 2
        other = await queue.get(process_job_id(media_ids[1]))
        assert other is not None and other.state == "done" and other.tries == 1
        assert await queue.counts() == {"done": 2}  # each job completed exactly once
    finally:
        survivors = [w for w in workers if w.returncode is None]
        for worker in survivors:
            worker.terminate()
        for worker in survivors:
            _, stderr = await asyncio.wait_for(worker.communicate(), 30)
            assert worker.returncode == 0, stderr.decode()[-2000:]
