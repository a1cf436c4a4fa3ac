"""Operations: structured logs with request ids, Prometheus metrics, graceful shutdown, backups.

``setup(app)`` adds the request-context and metrics middlewares (right after the request-id
middleware, so they see the final status of every response) and ``GET /metrics``.
``serve_options(settings)`` are the ``web.run_app`` arguments ``taichi-cloud serve`` uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from .logs import AccessLogger, access_logger, configure_logging, current_request_id
from .metrics import METRICS, Metrics

if TYPE_CHECKING:
    from ..settings import Settings

__all__ = ["METRICS", "SHUTDOWN_TIMEOUT", "AccessLogger", "Metrics", "configure_logging",
           "current_request_id", "serve_options", "setup"]

#: Seconds ``serve`` waits for in-flight requests after SIGTERM/SIGINT before cancelling them.
SHUTDOWN_TIMEOUT = 30.0


def setup(app: web.Application) -> None:
    from ..keys import API_SPEC
    from ..web.middlewares import request_id_middleware
    from . import metrics
    from .logs import request_context_middleware

    app[METRICS] = Metrics()
    after = app.middlewares.index(request_id_middleware) + 1 \
        if request_id_middleware in app.middlewares else 0
    app.middlewares.insert(after, metrics.metrics_middleware)
    app.middlewares.insert(after, request_context_middleware)
    app.router.add_routes(metrics.api.table)
    app[API_SPEC].add(metrics.api)


def serve_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``web.run_app``: our access log and the graceful-shutdown wait."""
    return {"access_log_class": AccessLogger, "access_log": access_logger(),
            "shutdown_timeout": SHUTDOWN_TIMEOUT, "handle_signals": True}
