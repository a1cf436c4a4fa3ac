"""Structured logs: JSON lines that carry the request id of the request that caused them.

``request_context_middleware`` puts the request id in a contextvar for the length of the
request, so any record logged while handling it (in the handler, in the domain, in tasks it
starts) carries ``request_id`` without being passed around. ``AccessLogger`` writes one line per
finished response (aiohttp calls it after the body went out, so ``duration_ms`` is complete).
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.typedefs import Handler

from ..keys import REQUEST_ID

#: The id of the request being handled in this context ("" outside requests).
current_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

ACCESS_LOGGER = "taichi_cloud.access"
#: Fields an access record adds to the JSON line (passed as ``extra``).
ACCESS_FIELDS = ("method", "path", "status", "duration_ms", "remote", "size", "user_agent")
_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


@web.middleware
async def request_context_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    token = current_request_id.set(request.get(REQUEST_ID, ""))
    try:
        return await handler(request)
    finally:
        current_request_id.reset(token)


class RequestIdFilter(logging.Filter):
    """Gives every record a ``request_id`` attribute (the contextvar unless one was passed)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", ""):
            record.request_id = current_request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id and any extras."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
                    .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "") or current_request_id.get() or None,
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and key not in line and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(log_format: str, level: int = logging.INFO) -> None:
    """Point the root logger at stderr in ``text`` or ``json`` format (replacing handlers)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


class AccessLogger(AbstractAccessLogger):
    """aiohttp ``access_log_class``: one record per response with the request's fields."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        fields = {
            "request_id": request.get(REQUEST_ID, ""),
            "method": request.method,
            "path": request.path,
            "status": response.status,
            "duration_ms": round(time * 1000, 3),
            "remote": request.remote,
            "size": response.body_length,
            "user_agent": request.headers.get("User-Agent", ""),
        }
        self.logger.info("%s %s %s %.1fms", request.method, request.path, response.status,
                         time * 1000, extra=fields)


def access_logger() -> logging.Logger:
    return logging.getLogger(ACCESS_LOGGER)
