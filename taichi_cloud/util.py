"""Small helpers shared by every component: ids and timestamps."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from datetime import UTC, datetime


def new_id() -> str:
    """An opaque, URL-safe identifier (72 random bits) that starts with a letter or digit, so it
    is never mistaken for a command-line option."""
    while True:
        value = secrets.token_urlsafe(9)
        if value[0].isalnum():
            return value


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime | None = None) -> str:
    """RFC 3339 UTC with fixed-width microseconds, so strings sort like the instants they name."""
    return (dt or utcnow()).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


async def stop_task(task: asyncio.Task[object] | None) -> None:
    """Cancel a background task and wait until it has finished (its cancellation swallowed)."""
    if task is None or task.done():
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
