"""Benchmark: search queries per second on the demo catalog, through HTTP and in-process.

    .venv/bin/python bench/search_demo.py [--clients 32] [--seconds 10] [--backend whoosh]

A real ``taichi-cloud serve`` (its own process, SQLite, the seed catalog of ``catalog/``) answers
``GET /api/v1/search`` for the 56 judged queries of ``tests/relevance/queries.yaml`` (six
languages, pinyin, typos, people, chapters) sent by ``--clients`` concurrent keep-alive clients
for ``--seconds``. In the same run, the same queries go straight to a ``SearchService`` over the
same catalog in this process (no HTTP, no JSON), from the same number of concurrent tasks.
Prints queries/s and p50/p99 for both and the ratio (HTTP / direct: the cost of the web layer).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import yaml  # noqa: E402

from tests.test_ops_helpers import ServerProcess, instance_env, run_cli  # noqa: E402

QUERIES = yaml.safe_load((ROOT / "tests" / "relevance" / "queries.yaml").read_text("utf-8"))


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else 0.0


def report(name: str, latencies: list[float], seconds: float) -> float:
    rate = len(latencies) / seconds
    print(f"  {name:<32} {len(latencies):>7} queries  {rate:>8,.0f}/s  "
          f"p50 {percentile(latencies, 50) * 1000:6.1f} ms  p99 {percentile(latencies, 99) * 1000:6.1f} ms")
    return rate


async def run_clients(clients: int, seconds: float, one_query: Any) -> list[float]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def client(offset: int) -> None:
        i = offset
        while time.perf_counter() < deadline:
            query = QUERIES[i % len(QUERIES)]
            i += 1
            started = time.perf_counter()
            await one_query(query)
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(client(n * 7) for n in range(clients)))
    return latencies


async def over_http(base: str, clients: int, seconds: float) -> list[float]:
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def one(query: dict[str, Any]) -> None:
            async with session.get(f"{base}/api/v1/search", params={"q": query["q"], "lang": query["lang"]}) as r:
                assert r.status == 200, await r.text()
                await r.read()
        await run_clients(clients, 1.0, one)  # warm-up: caches, jieba, OpenCC
        return await run_clients(clients, seconds, one)


async def direct(data_dir: Path, backend: str, clients: int, seconds: float) -> list[float]:
    from taichi_cloud.catalog.seed import SEED_DIR, import_records, read_catalog_files
    from taichi_cloud.catalog.service import Catalog
    from taichi_cloud.db import Database, migrate
    from taichi_cloud.search.base import SearchQuery
    from taichi_cloud.search.service import SearchService
    from taichi_cloud.settings import Settings

    settings = Settings(data_dir=str(data_dir), search_backend=backend)
    db = Database(settings.resolved_database_url)
    await db.connect()
    await migrate(db)
    catalog = Catalog(db)
    service = SearchService(settings, catalog)
    await service.start()
    await import_records(catalog, read_catalog_files(SEED_DIR))
    await service.flush()
    try:
        async def one(query: dict[str, Any]) -> None:
            await service.search(SearchQuery(text=query["q"], lang=query["lang"]))
        await run_clients(clients, 1.0, one)
        return await run_clients(clients, seconds, one)
    finally:
        await service.close()
        await db.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--backend", choices=["whoosh", "tantivy"], default="whoosh")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        env = instance_env(base / "served", search_backend=args.backend)
        imported = run_cli(env, "import", str(ROOT / "catalog"))
        assert imported.returncode == 0, imported.stderr
        print(f"demo catalog search, backend {args.backend}, {len(QUERIES)} judged queries, "
              f"{args.clients} concurrent clients, {args.seconds:g} s each; load average "
              f"{os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
        with ServerProcess(env, base / "serve.log") as server:
            await asyncio.sleep(2)  # the index is rebuilt in the background at first start
            http = await over_http(server.base_url, args.clients, args.seconds)
        direct_latencies = await direct(base / "direct", args.backend, args.clients, args.seconds)
        http_rate = report("through HTTP (serve process)", http, args.seconds)
        direct_rate = report("SearchService in-process", direct_latencies, args.seconds)
        print(f"ratio HTTP / in-process: {http_rate / direct_rate:.2f}x throughput, "
              f"p50 {statistics.median(http) / statistics.median(direct_latencies):.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
