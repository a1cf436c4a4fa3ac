"""Progress heartbeats: sustained rate and latency through HTTP against the raw database cost.

    .venv/bin/python bench/heartbeats.py [--learners 4000] [--interval 2] [--seconds 20]
                                         [--connections 100] [--database sqlite]

A real server (its own process, 127.0.0.1) receives PUT /api/v1/progress/{lesson} from many
learners watching at the same time. Each learner's player sends a heartbeat every
``--interval`` seconds on its own clock (open loop: a slow reply does not delay the next
beat), covering the segment watched since the previous one, so the offered load is
``learners / interval`` heartbeats/s. Latency is measured from the moment a beat was due, so
time spent queued in the client counts too. The requests share ``--connections`` keep-alive
connections, as behind a reverse proxy.

Also measured in the same run:
  * capacity: the same server driven closed-loop (each connection sends its next beat as soon
    as the previous reply arrives), the most heartbeats/s it can take;
  * the same writes directly on the database, no HTTP: one heartbeat per transaction (the
    recorder's merge and SQL), and the recorder's group commit fed as fast as it takes them;
  * CPU seconds per 1,000 heartbeats of the server process and of this client process
    (from /proc), to separate what the load generator itself costs on a small machine.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import multiprocessing as mp
import os
import random
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from aiohttp import web  # noqa: E402

from taichi_cloud.accounts.service import Accounts  # noqa: E402
from taichi_cloud.accounts.tables import users  # noqa: E402
from taichi_cloud.catalog.service import Catalog  # noqa: E402
from taichi_cloud.courses.progress import Heartbeat, ProgressRecorder  # noqa: E402
from taichi_cloud.courses.service import Courses  # noqa: E402
from taichi_cloud.courses.tables import enrollments  # noqa: E402
from taichi_cloud.db import Database, migrate  # noqa: E402
from taichi_cloud.util import iso, new_id  # noqa: E402

LESSON_SECONDS = 3600.0
TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), all threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


async def prepare(url: str, learners: int) -> tuple[str, list[str], list[str]]:
    """A course with one hour-long lesson and ``learners`` enrolled accounts with tokens.

    Accounts and enrolments are inserted directly (one shared password hash) so set-up does
    not spend minutes in argon2; tokens come from the real Accounts service.
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
        await conn.execute(enrollments.insert(), [
            {"course_id": course_id, "user_id": i, "enrolled_at": iso()} for i in ids])
    tokens = [await accounts.issue_token(user_id) for user_id in ids]
    await db.close()
    return lesson_id, ids, tokens


def serve(data_dir: str, url: str, port: int, ready: Any, stop: Any, stats: Any,
          token_cache_seconds: float | None) -> None:
    from taichi_cloud.accounts import service as accounts_service
    from taichi_cloud.app import create_app
    from taichi_cloud.keys import COURSES
    from taichi_cloud.settings import Settings

    if token_cache_seconds is not None:  # a what-if experiment, printed as such
        accounts_service.TOKEN_CACHE_SECONDS = token_cache_seconds

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


@dataclass
class Learner:
    token: str
    session: str = field(default_factory=lambda: "bench-" + new_id())
    seq: int = 0
    position: float = 0.0

    def next_body(self, interval: float) -> dict[str, Any]:
        """What a player reports: the segment watched since its previous heartbeat."""
        start = self.position % (LESSON_SECONDS - interval)
        self.position = start + interval
        self.seq += 1
        return {"session": self.session, "seq": self.seq, "position": self.position,
                "segments": [[start, self.position]]}


@dataclass
class Phase:
    count: int = 0
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    errors: int = 0

    @property
    def rate(self) -> float:
        return self.count / self.elapsed if self.elapsed else 0.0

    def per_thousand(self, cpu: float) -> float:
        return cpu / self.count * 1000 if self.count else 0.0


async def _send(session: aiohttp.ClientSession, url: str, learner: Learner,
                interval: float) -> bool:
    headers = {"Authorization": f"Bearer {learner.token}"}
    async with session.put(url, json=learner.next_body(interval), headers=headers) as r:
        await r.read()
        return r.status == 200


async def open_loop(session: aiohttp.ClientSession, url: str, learners: list[Learner],
                    interval: float, warmup: float, seconds: float, server_pid: int) -> Phase:
    """Every learner beats every ``interval`` s from a random phase; beats due in the measured
    window are timed from when they were due."""
    loop = asyncio.get_running_loop()
    rng = random.Random(5)
    phases = [rng.uniform(0, interval) for _ in learners]
    begin = loop.time() + 0.2
    measure_from, measure_to = begin + warmup, begin + warmup + seconds
    due = sorted((begin + ph + k * interval, n) for n, ph in enumerate(phases)
                 for k in range(int((warmup + seconds) / interval) + 1)
                 if begin + ph + k * interval < measure_to)
    phase = Phase()
    tasks: list[asyncio.Task[None]] = []
    marks: dict[str, float] = {}
    server0 = client0 = 0.0

    async def beat(at: float, learner: Learner, measured: bool) -> None:
        ok = await _send(session, url, learner, interval)
        if measured:
            phase.latencies.append(loop.time() - at)
            phase.errors += not ok
            marks["last"] = max(marks.get("last", 0.0), loop.time())

    for at, n in due:
        delay = at - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        measured = at >= measure_from
        if measured and "cpu" not in marks:
            marks["cpu"] = 1.0
            server0, client0 = cpu_seconds(server_pid), time.process_time()
        tasks.append(asyncio.create_task(beat(at, learners[n], measured)))
    await asyncio.gather(*tasks)
    phase.server_cpu = cpu_seconds(server_pid) - server0
    phase.client_cpu = time.process_time() - client0
    phase.count = len(phase.latencies)
    phase.elapsed = marks["last"] - measure_from
    return phase


async def closed_loop(session: aiohttp.ClientSession, url: str, learners: list[Learner],
                      interval: float, connections: int, seconds: float, server_pid: int) -> Phase:
    """``connections`` senders, each sending its next learner's beat when a reply arrives."""
    loop = asyncio.get_running_loop()
    phase = Phase()
    turns = itertools.cycle(learners)
    server0, client0 = cpu_seconds(server_pid), time.process_time()
    start = loop.time()
    end = start + seconds

    async def sender() -> None:
        while loop.time() < end:
            t0 = loop.time()
            ok = await _send(session, url, next(turns), interval)
            phase.latencies.append(loop.time() - t0)
            phase.errors += not ok

    await asyncio.gather(*(sender() for _ in range(connections)))
    phase.elapsed = loop.time() - start
    phase.server_cpu = cpu_seconds(server_pid) - server0
    phase.client_cpu = time.process_time() - client0
    phase.count = len(phase.latencies)
    return phase


async def http_run(port: int, lesson: str, tokens: list[str], args: argparse.Namespace,
                   server_pid: int) -> tuple[Phase, Phase]:
    learners = [Learner(t) for t in tokens]
    url = f"http://127.0.0.1:{port}/api/v1/progress/{lesson}"
    connector = aiohttp.TCPConnector(limit=args.connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        steady = await open_loop(session, url, learners, args.interval, args.warmup,
                                 args.seconds, server_pid)
        capacity = await closed_loop(session, url, learners, args.interval, args.connections,
                                     args.capacity_seconds, server_pid)
    return steady, capacity


async def raw_run(url: str, lesson_id: str, user_ids: list[str], interval: float,
                  seconds: float, batched: bool) -> Phase:
    """The same merges and SQL straight on the database, for ``seconds``: one heartbeat per
    transaction, or every learner's next beat at once through the recorder's group commit."""
    db = Database(url)
    await db.connect()
    lesson = await Courses(db, Catalog(db)).lesson(lesson_id)
    recorder = ProgressRecorder(db)
    if batched:
        recorder.start()
    learners = [Learner(u) for u in user_ids]
    phase = Phase()
    client0 = time.process_time()
    t0 = time.perf_counter()

    async def one(user_id: str, learner: Learner) -> None:
        body = learner.next_body(interval)
        t1 = time.perf_counter()
        await recorder.record(Heartbeat(
            user_id=user_id, lesson=lesson, session=body["session"], seq=body["seq"],
            position=body["position"], segments=[tuple(body["segments"][0])],
            duration=LESSON_SECONDS, trusted_duration=True, at=iso()))
        phase.latencies.append(time.perf_counter() - t1)

    while time.perf_counter() - t0 < seconds:
        if batched:
            await asyncio.gather(*(one(u, le) for u, le in zip(user_ids, learners, strict=True)))
        else:
            for u, le in zip(user_ids, learners, strict=True):
                await one(u, le)
                if time.perf_counter() - t0 >= seconds:
                    break
    phase.elapsed = time.perf_counter() - t0
    phase.client_cpu = time.process_time() - client0
    phase.count = len(phase.latencies)
    await recorder.stop()
    await db.close()
    return phase


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def line(phase: Phase) -> str:
    return (f"  {phase.count} heartbeats, sustained {phase.rate:,.0f}/s   "
            f"p50 {pct(phase.latencies, 0.5):.1f} ms   p99 {pct(phase.latencies, 0.99):.1f} ms   "
            f"max {max(phase.latencies) * 1000:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--learners", type=int, default=4000)
    parser.add_argument("--interval", type=float, default=2.0,
                        help="seconds between one learner's heartbeats")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window")
    parser.add_argument("--warmup", type=float, default=4.0)
    parser.add_argument("--capacity-seconds", type=float, default=8.0)
    parser.add_argument("--raw-seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--token-cache-seconds", type=float, default=None,
                        help="what-if: cache bearer tokens this long in the server (not the "
                        "accounts default); the figures are then labelled as such")
    parser.add_argument("--database", default="sqlite",
                        help="sqlite (a temporary file) or a postgresql:// URL")
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db" if args.database == "sqlite" else args.database
        lesson, user_ids, tokens = asyncio.run(prepare(url, args.learners))
        port = free_port()
        ctx = mp.get_context("spawn")
        ready, stop, stats = ctx.Event(), ctx.Event(), ctx.Queue()
        server = ctx.Process(target=serve, args=(tmp, url, port, ready, stop, stats,
                                                   args.token_cache_seconds), daemon=True)
        server.start()
        if not ready.wait(60):
            raise SystemExit("the server did not start")
        assert server.pid is not None
        try:
            steady, capacity = asyncio.run(http_run(port, lesson, tokens, args, server.pid))
        finally:
            stop.set()
            server_stats = stats.get(timeout=30)
            server.join(30)
        raw = asyncio.run(raw_run(url, lesson, user_ids, args.interval, args.raw_seconds, False))
        grouped = asyncio.run(raw_run(url, lesson, user_ids, args.interval, args.raw_seconds, True))
    load_after = os.getloadavg()

    offered = args.learners / args.interval
    print(f"heartbeats through HTTP on {args.database}: {args.learners} learners, one beat each "
          f"every {args.interval:g} s (offered {offered:,.0f}/s), {args.connections} keep-alive "
          f"connections; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after "
          f"({os.cpu_count()} CPUs)")
    if args.token_cache_seconds is not None:
        print(f"WHAT-IF RUN: bearer tokens cached {args.token_cache_seconds:g} s in the server "
              "instead of the accounts default")
    print(f"steady load, {args.seconds:g} s measured after {args.warmup:g} s warm-up, latency from "
          "when each beat was due:")
    print(line(steady) + (f"   {steady.errors} errors" if steady.errors else ""))
    print(f"  CPU per 1,000 heartbeats: server {steady.per_thousand(steady.server_cpu):.2f} s, "
          f"this client {steady.per_thousand(steady.client_cpu):.2f} s")
    print(f"capacity, closed loop on {args.connections} connections for "
          f"{args.capacity_seconds:g} s:")
    print(line(capacity) + (f"   {capacity.errors} errors" if capacity.errors else ""))
    print(f"  CPU per 1,000 heartbeats: server {capacity.per_thousand(capacity.server_cpu):.2f} s, "
          f"this client {capacity.per_thousand(capacity.client_cpu):.2f} s")
    batches = server_stats["batches"] or 1
    print(f"  group commit over the whole server run: {server_stats['recorded']} heartbeats in "
          f"{server_stats['batches']} transactions ({server_stats['recorded'] / batches:.1f} per "
          "transaction)")
    print("same writes directly on the database, no HTTP:")
    print("  one transaction each:" + line(raw)[1:])
    print("  group commit, all learners at once:" + line(grouped)[1:])
    met = steady.rate >= 2000 and pct(steady.latencies, 0.99) < 50 and not steady.errors
    print(f"ratio HTTP capacity / direct one-per-transaction: {capacity.rate / raw.rate:.2f}x; "
          f"/ direct group commit: {capacity.rate / grouped.rate:.2f}x")
    print(f"target >= 2,000/s with p99 < 50 ms under steady load: {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
