"""Prometheus metrics at ``GET /metrics``, one ``CollectorRegistry`` per application.

Requests are counted and timed by a middleware, labelled by route *template* (never the raw
path, so ids cannot blow up the series count). Other components feed the rest through
``app[METRICS]``: ``observe_job``, ``observe_transcode`` and ``set_queue_depth``; when the app has a
job queue, its depth by state is also read at every scrape.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from ..keys import QUEUE
from ..web.openapi import ApiRoutes

log = logging.getLogger(__name__)
api = ApiRoutes()

REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
JOB_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
#: Transcoding speed is media seconds per wall-clock second (2.0 = twice real time).
SPEED_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
UNMATCHED = "unmatched"


class Metrics:
    """The service's metrics; every instance has its own registry (no global state)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("taichi_http_requests", "HTTP requests answered.",
                                ["method", "route", "status"], registry=r)
        self.request_seconds = Histogram("taichi_http_request_duration_seconds",
                                         "Time to produce the response (until the handler returned).",
                                         ["method", "route"], buckets=REQUEST_BUCKETS, registry=r)
        self.in_flight = Gauge("taichi_http_requests_in_flight", "Requests being handled now.",
                               registry=r)
        self.queue_depth = Gauge("taichi_job_queue_depth", "Jobs in the queue by state.",
                                 ["state"], registry=r)
        self.job_seconds = Histogram("taichi_job_duration_seconds", "Wall-clock time of a job try.",
                                     ["kind", "outcome"], buckets=JOB_BUCKETS, registry=r)
        self.transcode_speed = Histogram("taichi_transcode_speed_ratio",
                                         "Media seconds transcoded per wall-clock second.",
                                         buckets=SPEED_BUCKETS, registry=r)
        self.transcoded_seconds = Counter("taichi_transcoded_media_seconds",
                                          "Seconds of media transcoded.", registry=r)
        self._queue_states: set[str] = set()

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.request_seconds.labels(method, route).observe(seconds)

    def observe_job(self, kind: str, seconds: float, outcome: str = "completed") -> None:
        """One finished job try: ``outcome`` is e.g. completed, retried, failed, released."""
        self.job_seconds.labels(kind, outcome).observe(max(seconds, 0.0))

    def observe_transcode(self, media_seconds: float, wall_seconds: float) -> None:
        """A finished transcode of ``media_seconds`` of media that took ``wall_seconds``."""
        if media_seconds <= 0 or wall_seconds <= 0:
            return
        self.transcoded_seconds.inc(media_seconds)
        self.transcode_speed.observe(media_seconds / wall_seconds)

    def set_queue_depth(self, counts: Mapping[str, int]) -> None:
        """Jobs per state; states seen before and now absent drop to 0."""
        for state in self._queue_states - set(counts):
            self.queue_depth.labels(state).set(0)
        for state, count in counts.items():
            self.queue_depth.labels(state).set(count)
        self._queue_states |= set(counts)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


METRICS: web.AppKey[Metrics] = web.AppKey("metrics", Metrics)


def route_label(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else UNMATCHED


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    metrics = request.app[METRICS]
    started = time.perf_counter()
    metrics.in_flight.inc()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:  # redirects are raised, not returned
        status = exc.status
        raise
    except asyncio.CancelledError:
        status = 499  # the client went away (nginx's convention)
        raise
    finally:
        metrics.in_flight.dec()
        metrics.observe_request(request.method, route_label(request), status,
                                time.perf_counter() - started)


@api.get("/metrics", summary="Prometheus metrics (text exposition format)", tag="system",
         response_content="text/plain", errors=())
async def metrics_endpoint(request: web.Request) -> web.Response:
    metrics = request.app[METRICS]
    queue = request.app.get(QUEUE)
    if queue is not None:
        try:
            metrics.set_queue_depth(await queue.counts())
        except Exception:  # a scrape must still answer when the database is busy or down
            log.warning("reading the job queue depth failed", exc_info=True)
    response = web.Response(body=metrics.exposition())
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response
