"""Progress heartbeats: sustained rate and latency through HTTP against the raw database cost.

    .venv/bin/python bench/heartbeats.py [--learners 200] [--requests 20000] [--database sqlite]

A real server (its own process, 127.0.0.1) receives PUT /api/v1/progress/{lesson} from many
concurrent learners, each sending its own session's heartbeats in order as a player would. The
reference is the same writes done directly on the database in the same run (the recorder's
merge and SQL, one heartbeat per transaction, no HTTP), so the ratio shows what HTTP, auth,
validation and group commit cost or save.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from aiohttp import web  # noqa: E402

from taichi_cloud.accounts.service import Accounts, User  # noqa: E402
from taichi_cloud.accounts.tables import users  # noqa: E402
from taichi_cloud.catalog.service import Catalog  # noqa: E402
from taichi_cloud.courses.progress import Heartbeat, ProgressRecorder  # noqa: E402
from taichi_cloud.courses.service import Courses  # noqa: E402
from taichi_cloud.db import Database, migrate  # noqa: E402
from taichi_cloud.util import iso, new_id  # noqa: E402

LESSON_SECONDS = 3600.0
BEAT_SECONDS = 10.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def prepare(url: str, learners: int) -> tuple[str, list[str], list[str]]:
    """A course with one hour-long lesson and ``learners`` enrolled accounts with tokens.

    Accounts are inserted directly (one shared password hash) so set-up does not spend minutes
    in argon2; tokens come from the real Accounts service.
    """
    db = Database(url)
    await db.connect()
    await migrate(db)
    accounts = Accounts(db, "bench-secret")
    catalog = Catalog(db)
    owner = await accounts.create_user(f"school-{new_id()}@bench.example", "correct horse battery",
                                       "School", "school")
    entry = await catalog.create({"kind": "video", "translations": {"en": {"title": "Bench form"}},
                                  "chapters": [{"start": 0, "end": LESSON_SECONDS,
                                                "title": {"en": "All"}}]}, owner)
    courses = Courses(db, catalog)
    course_id = await courses.create({"translations": {"en": {"title": "Bench"}},
                                      "modules": [{"title": "M", "lessons": [{"entry": entry}]}]},
                                     owner)
    course = await courses.get(course_id)
    assert course is not None
    lesson_id = course["modules"][0]["lessons"][0]["id"]
    async with db.read() as conn:
        digest = (await conn.execute(sa.select(users.c.password_hash)
                                     .where(users.c.id == owner.id))).scalar_one()
    ids = [new_id() for _ in range(learners)]
    async with db.write() as conn:
        await conn.execute(users.insert(), [
            {"id": i, "email": f"l-{i}@bench.example", "name": f"Learner {n}", "role": "learner",
             "password_hash": digest, "created_at": iso()} for n, i in enumerate(ids)])
    tokens = []
    for user_id in ids:
        tokens.append(await accounts.issue_token(user_id))
        await courses.enroll(course_id, User(user_id, "", "", "learner"))
    await db.close()
    return lesson_id, ids, tokens


def serve(data_dir: str, url: str, port: int, ready: Any, stop: Any, stats: Any) -> None:
    from taichi_cloud.app import create_app
    from taichi_cloud.keys import COURSES
    from taichi_cloud.settings import Settings

    async def main() -> None:
        app = create_app(Settings(data_dir=data_dir, database_url=url, secret_key="bench-secret"))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        ready.set()
        # `stop` is a multiprocessing event: wait for it in a thread, not on the loop.
        await asyncio.to_thread(stop.wait)
        recorder = app[COURSES].recorder
        stats.put({"batches": recorder.batches, "recorded": recorder.recorded})
        await runner.cleanup()

    asyncio.run(main())


async def http_run(port: int, lesson: str, tokens: list[str], requests: int) -> tuple[float, list[float]]:
    per_learner = max(1, requests // len(tokens))
    latencies: list[float] = []
    connector = aiohttp.TCPConnector(limit=len(tokens))
    async with aiohttp.ClientSession(connector=connector) as session:
        url = f"http://127.0.0.1:{port}/api/v1/progress/{lesson}"

        async def learner(token: str) -> None:
            headers = {"Authorization": f"Bearer {token}"}
            for seq in range(per_learner):
                start = (seq * BEAT_SECONDS) % (LESSON_SECONDS - BEAT_SECONDS)
                body = {"session": "bench", "seq": seq, "position": start + BEAT_SECONDS,
                        "segments": [[start, start + BEAT_SECONDS]]}
                t0 = time.perf_counter()
                async with session.put(url, json=body, headers=headers) as r:
                    await r.read()
                    if r.status != 200:
                        raise RuntimeError(f"heartbeat failed: {r.status} {await r.text()}")
                latencies.append(time.perf_counter() - t0)

        # one warm-up beat each (connections, caches), not measured
        await asyncio.gather(*(_warm(session, url, t) for t in tokens))
        t0 = time.perf_counter()
        await asyncio.gather(*(learner(t) for t in tokens))
        elapsed = time.perf_counter() - t0
    return elapsed, latencies


async def _warm(session: aiohttp.ClientSession, url: str, token: str) -> None:
    body = {"session": "warm", "seq": 0, "position": 0, "segments": []}
    async with session.put(url, json=body, headers={"Authorization": f"Bearer {token}"}) as r:
        await r.read()


async def raw_run(url: str, lesson_id: str, user_ids: list[str], requests: int) -> tuple[float, list[float]]:
    """The same merges and SQL, one heartbeat per transaction, straight on the database."""
    db = Database(url)
    await db.connect()
    catalog = Catalog(db)
    lesson = await Courses(db, catalog).lesson(lesson_id)
    recorder = ProgressRecorder(db)  # not started: record() writes its own transaction
    per_learner = max(1, requests // len(user_ids))
    latencies = []
    t0 = time.perf_counter()
    for seq in range(per_learner):
        for user_id in user_ids:
            start = (seq * BEAT_SECONDS) % (LESSON_SECONDS - BEAT_SECONDS)
            t1 = time.perf_counter()
            await recorder.record(Heartbeat(
                user_id=user_id, lesson=lesson, session="raw", seq=seq,
                position=start + BEAT_SECONDS, segments=[(start, start + BEAT_SECONDS)],
                duration=LESSON_SECONDS, trusted_duration=True, at=iso()))
            latencies.append(time.perf_counter() - t1)
    elapsed = time.perf_counter() - t0
    await db.close()
    return elapsed, latencies


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--learners", type=int, default=200)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--database", default="sqlite",
                        help="sqlite (a temporary file) or a postgresql:// URL")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db" if args.database == "sqlite" else args.database
        lesson, user_ids, tokens = asyncio.run(prepare(url, args.learners))
        port = free_port()
        ctx = mp.get_context("spawn")
        ready, stop, stats = ctx.Event(), ctx.Event(), ctx.Queue()
        server = ctx.Process(target=serve, args=(tmp, url, port, ready, stop, stats), daemon=True)
        server.start()
        if not ready.wait(60):
            raise SystemExit("the server did not start")
        try:
            elapsed, latencies = asyncio.run(http_run(port, lesson, tokens, args.requests))
        finally:
            stop.set()
            server_stats = stats.get(timeout=30)
            server.join(30)
        raw_elapsed, raw_latencies = asyncio.run(raw_run(url, lesson, user_ids, args.requests))

    rate = len(latencies) / elapsed
    raw_rate = len(raw_latencies) / raw_elapsed
    print(f"heartbeats through HTTP: {len(latencies)} from {args.learners} concurrent learners "
          f"on {args.database}")
    print(f"  sustained {rate:,.0f}/s   p50 {pct(latencies, 0.5):.1f} ms   "
          f"p99 {pct(latencies, 0.99):.1f} ms   max {max(latencies) * 1000:.1f} ms")
    batches = server_stats["batches"] or 1
    print(f"  group commit: {server_stats['recorded']} heartbeats in {server_stats['batches']} "
          f"transactions ({server_stats['recorded'] / batches:.1f} per transaction)")
    print(f"same writes directly on the database, one transaction each: {len(raw_latencies)}")
    print(f"  sustained {raw_rate:,.0f}/s   p50 {pct(raw_latencies, 0.5):.2f} ms   "
          f"p99 {pct(raw_latencies, 0.99):.2f} ms   mean {statistics.fmean(raw_latencies) * 1000:.2f} ms")
    print(f"ratio HTTP / direct: {rate / raw_rate:.2f}x the throughput "
          f"(target >= 2,000/s with p99 < 50 ms: "
          f"{'met' if rate >= 2000 and pct(latencies, 0.99) < 50 else 'NOT met'})")


if __name__ == "__main__":
    main()
