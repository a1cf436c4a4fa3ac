"""Benchmark: HLS segments from our ``/streams/...`` against a bare aiohttp ``FileResponse`` app.

    .venv/bin/python bench/streams.py [--players 200] [--seconds 10] [--rounds 2]

Builds a real instance in a temporary directory: a lavfi clip goes through ``taichi-cloud
ingest`` (our transcoding ladder), its entry is published, and ``taichi-cloud serve`` serves it.
A bare aiohttp app (one route, ``web.FileResponse`` on the same published directory) runs as a
second process. Both are single processes on 127.0.0.1. Then, round after round, ``--players``
concurrent players (one keep-alive connection each) fetch the segments of every rendition in
playlist order for ``--seconds``; we count segments per second and take latency percentiles.
Prints both and the ratios ours / bare (throughput: higher is better; p99: lower is better).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from tests.test_ops_helpers import ServerProcess, add_user, free_port, instance_env, run_cli  # noqa: E402

PASSWORD = "a long enough password"
BARE_APP = textwrap.dedent("""
    import sys
    from pathlib import Path
    from aiohttp import web
    root = Path(sys.argv[1]).resolve()
    async def segment(request):
        path = (root / request.match_info["path"]).resolve()
        if root not in path.parents or not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path)
    app = web.Application()
    app.router.add_get("/{path:.+}", segment)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[2]), access_log=None, print=None)
""")


def api(base: str, method: str, path: str, body: object = None, token: str = "") -> dict:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(base + path, method=method, headers=headers,
                                     data=json.dumps(body).encode() if body is not None else None)
    with urllib.request.urlopen(request, timeout=60) as r:
        return json.loads(r.read() or b"{}")


def fetch_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.read().decode()


def segment_paths(base: str, media_id: str) -> list[str]:
    """Every media segment of every HLS rendition, relative to ``/streams/{id}/``."""
    master = fetch_text(f"{base}/streams/{media_id}/master.m3u8")
    playlists = [line for line in master.splitlines() if line and not line.startswith("#")]
    playlists += re.findall(r'#EXT-X-MEDIA:[^\n]*URI="([^"]+)"', master)
    segments: list[str] = []
    for playlist in dict.fromkeys(playlists):
        folder = playlist.rsplit("/", 1)[0] + "/" if "/" in playlist else ""
        text = fetch_text(f"{base}/streams/{media_id}/{playlist}")
        segments += [folder + line for line in text.splitlines()
                     if line and not line.startswith("#") and not line.endswith((".m3u8", ".vtt"))]
    return [s.split("?")[0] for s in segments]


async def player(session: aiohttp.ClientSession, urls: list[str], offset: int, until: float,
                 latencies: list[float]) -> int:
    done, i = 0, offset
    while time.perf_counter() < until:
        started = time.perf_counter()
        async with session.get(urls[i % len(urls)]) as r:
            await r.read()
            if r.status != 200:
                raise RuntimeError(f"{urls[i % len(urls)]}: {r.status}")
        latencies.append(time.perf_counter() - started)
        done += 1
        i += 1
    return done


async def load(urls: list[str], players: int, seconds: float) -> tuple[float, float, float]:
    latencies: list[float] = []
    sessions = [aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) for _ in range(players)]
    try:
        until = time.perf_counter() + seconds
        started = time.perf_counter()
        counts = await asyncio.gather(*(player(s, urls, n * 7, until, latencies)
                                        for n, s in enumerate(sessions)))
        elapsed = time.perf_counter() - started
    finally:
        await asyncio.gather(*(s.close() for s in sessions))
    ordered = sorted(latencies)
    p50 = ordered[len(ordered) // 2]
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return sum(counts) / elapsed, p50 * 1000, p99 * 1000


def publish_clip(work: Path, env: dict[str, str], base: str) -> str:
    from taichi_cloud.media.samples import make_test_clip

    clip = work / "clip.mp4"
    make_test_clip(clip, seconds=12, size="1280x720")
    done = run_cli(env, "ingest", str(clip), "--title", "Bench clip", timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"ingest failed:\n{done.stderr}")
    found = re.search(r"media (\S+) on entry (\S+)", done.stderr)
    if not found:
        raise SystemExit(f"ingest did not name the media:\n{done.stderr}")
    media_id, entry_id = found.groups()
    # ingest makes an ownerless draft: an admin sends it through review to published.
    admin = api(base, "POST", "/api/v1/auth/login", {"email": "admin@example.org", "password": PASSWORD})
    for to in ("review", "published"):
        api(base, "POST", f"/api/v1/entries/{entry_id}/transitions", {"to": to}, admin["token"])
    return media_id


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--players", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    try:
        from taichi_cloud.media import streams  # noqa: F401
    except ImportError:
        print("bench/streams.py: skipped, taichi_cloud.media.streams (the /streams routes) is not "
              "in this build")
        return 0

    with tempfile.TemporaryDirectory(prefix="bench-streams-") as scratch:
        work = Path(scratch)
        env = instance_env(work)
        add_user(env, "admin@example.org", "admin", PASSWORD)
        with ServerProcess(env, work / "serve.log") as ours:
            media_id = publish_clip(work, env, ours.base_url)
            try:
                paths = segment_paths(ours.base_url, media_id)
            except urllib.error.HTTPError as err:
                print(f"bench/streams.py: skipped, /streams/{media_id}/master.m3u8 answered {err.code}")
                return 0
            port = free_port()
            bare = subprocess.Popen([sys.executable, "-c", BARE_APP,
                                     str(work / "media" / "streams" / media_id), str(port)])
            try:
                deadline = time.monotonic() + 20
                while True:
                    try:
                        fetch_text(f"http://127.0.0.1:{port}/master.m3u8")
                        break
                    except OSError:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.1)
                sizes = [(work / "media" / "streams" / media_id / p).stat().st_size for p in paths]
                print(f"{len(paths)} segments, median {statistics.median(sizes) / 1024:.0f} KiB; "
                      f"{args.players} players, {args.seconds:g} s per run, {args.rounds} rounds")
                results: dict[str, list[tuple[float, float, float]]] = {"ours": [], "bare": []}
                targets = {"ours": [f"{ours.base_url}/streams/{media_id}/{p}" for p in paths],
                           "bare": [f"http://127.0.0.1:{port}/{p}" for p in paths]}
                for _ in range(args.rounds):
                    for name in ("bare", "ours"):
                        results[name].append(asyncio.run(load(targets[name], args.players, args.seconds)))
                        rate, p50, p99 = results[name][-1]
                        print(f"  {name:4}: {rate:8.0f} segments/s   p50 {p50:7.1f} ms   p99 {p99:7.1f} ms")
            finally:
                bare.terminate()
                bare.wait(10)
    best = {name: (max(r[0] for r in runs), min(r[2] for r in runs)) for name, runs in results.items()}
    print(f"best of {args.rounds}: ours {best['ours'][0]:.0f} segments/s, p99 {best['ours'][1]:.1f} ms; "
          f"bare FileResponse {best['bare'][0]:.0f} segments/s, p99 {best['bare'][1]:.1f} ms")
    print(f"ratio ours / bare: throughput {best['ours'][0] / best['bare'][0]:.2f}x, "
          f"p99 latency {best['ours'][1] / best['bare'][1]:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
