"""Metrics at /metrics and request ids in log records, in-process over real HTTP."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from taichi_cloud.app import create_app
from taichi_cloud.keys import QUEUE
from taichi_cloud.ops import METRICS, AccessLogger
from taichi_cloud.ops.logs import JsonFormatter, RequestIdFilter


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


async def scrape(client: TestClient) -> str:
    r = await client.get("/metrics")
    assert r.status == 200 and r.content_type == "text/plain"
    return await r.text()


async def test_requests_are_counted_by_route_template_and_status(client):
    before = await scrape(client)
    for _ in range(3):
        assert (await client.get("/api/v1/entries/no-such-entry")).status == 404
    assert (await client.get("/healthz")).status == 200
    assert (await client.get("/definitely/not/a/route")).status == 404
    text = await scrape(client)
    route = "/api/v1/entries/{id}"
    assert value(text, "taichi_http_requests_total", method="GET", route=route, status="404") \
        - value(before, "taichi_http_requests_total", method="GET", route=route, status="404") == 3
    assert value(text, "taichi_http_requests_total", method="GET", route="/healthz", status="200") >= 1
    assert value(text, "taichi_http_requests_total", method="GET", route="unmatched", status="404") >= 1
    assert value(text, "taichi_http_request_duration_seconds_count", method="GET", route=route) >= 3
    assert "no-such-entry" not in text and "definitely" not in text  # no raw paths as labels
    assert value(text, "taichi_http_requests_in_flight") == 1  # the scrape itself


async def test_the_component_api_feeds_jobs_transcodes_and_queue_depth(client):
    metrics = client.app[METRICS]
    metrics.observe_job("media.process", 12.5)
    metrics.observe_job("media.process", 3.0, outcome="failed")
    metrics.observe_transcode(media_seconds=60.0, wall_seconds=20.0)  # 3x real time
    await client.app[QUEUE].enqueue("ops.test-kind", {"n": 1})
    text = await scrape(client)
    assert value(text, "taichi_job_duration_seconds_count", kind="media.process", outcome="completed") == 1
    assert value(text, "taichi_job_duration_seconds_sum", kind="media.process", outcome="failed") == 3.0
    assert value(text, "taichi_transcoded_media_seconds_total") == 60.0
    assert value(text, "taichi_transcode_speed_ratio_bucket", le="2.0") == 0
    assert value(text, "taichi_transcode_speed_ratio_bucket", le="4.0") == 1
    depth = {dict(labels)["state"]: v for (name, labels), v in samples(text).items()
             if name == "taichi_job_queue_depth"}
    assert sum(depth.values()) >= 1, depth  # read from the real queue at scrape time


async def test_each_app_has_its_own_registry(settings):
    first, second = create_app(settings), create_app(settings.replace(data_dir=settings.data_dir + "2"))
    first[METRICS].observe_job("x", 1.0)
    assert first[METRICS].registry is not second[METRICS].registry
    assert b'kind="x"' in first[METRICS].exposition()
    assert b'kind="x"' not in second[METRICS].exposition()


async def test_metrics_is_in_the_openapi_document(client):
    doc = await (await client.get("/api/openapi.json")).json()
    assert "text/plain" in doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"]


async def test_records_logged_during_a_request_carry_its_id(settings):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    domain_log = logging.getLogger("taichi_cloud.tests.domain")
    access_log = logging.getLogger("taichi_cloud.tests.access")
    for logger in (domain_log, access_log):
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)

    app = create_app(settings)

    async def logs_something(request: web.Request) -> web.Response:
        # What any domain code does: a plain logger call, no request passed in.
        domain_log.info("doing work for %s", request.path, extra={"entry": "e1"})
        return web.json_response({})

    app.router.add_get("/ops-test/log", logs_something)  # this test's own app instance only
    server = TestServer(app)
    await server.start_server(access_log_class=AccessLogger, access_log=access_log)
    client = TestClient(server)
    try:
        r = await client.get("/ops-test/log", headers={"X-Request-Id": "rid-123"})
        assert r.headers["X-Request-Id"] == "rid-123"
        r = await client.get("/healthz", headers={"X-Request-Id": "x" * 100})  # too long: replaced
        generated = r.headers["X-Request-Id"]
        domain_log.info("outside any request")
    finally:
        await client.close()
        for logger in (domain_log, access_log):
            logger.removeHandler(handler)

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    work = next(line for line in lines if line["message"] == "doing work for /ops-test/log")
    assert work["request_id"] == "rid-123" and work["entry"] == "e1" and work["level"] == "info"
    access = [line for line in lines if line["logger"] == "taichi_cloud.tests.access"]
    assert {a["request_id"] for a in access} == {"rid-123", generated}
    first = next(a for a in access if a["request_id"] == "rid-123")
    assert first["method"] == "GET" and first["path"] == "/ops-test/log" and first["status"] == 200
    assert first["duration_ms"] >= 0
    outside = next(line for line in lines if line["message"] == "outside any request")
    assert outside["request_id"] is None


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_real_transcode_shows_in_job_and_speed_metrics(client, make_user, tmp_path):
    from .media_helpers import clip, tus_upload, wait_for_media

    curator = await make_user("curator")
    data = clip(tmp_path / "m.mp4").read_bytes()
    done = await tus_upload(client, curator.headers, data, filename="m.mp4")
    assert (await wait_for_media(client, done["Taichi-Media-Id"], curator.headers))["status"] == "ready"
    text = ""
    for _ in range(50):  # the worker reports just after it settles the job
        text = await (await client.get("/metrics")).text()
        if 'outcome="completed"' in text:
            break
        await asyncio.sleep(0.1)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    jobs = [s for s in families["taichi_job_duration_seconds"].samples
            if s.name.endswith("_count") and s.labels.get("outcome") == "completed"]
    assert [s.labels["kind"] for s in jobs] == ["media.process"] and jobs[0].value == 1
    assert families["taichi_transcoded_media_seconds"].samples[0].value == pytest.approx(2.0, abs=0.2)
    speed = [s for s in families["taichi_transcode_speed_ratio"].samples if s.name.endswith("_count")]
    assert speed[0].value == 1
