"""Forwarding statements to an external LRS from the durable outbox, with retries.

Rows leave the outbox only after the LRS accepted them; a failure pushes the row's next
attempt back exponentially (capped), so a restart or an LRS outage loses nothing. Statement
ids are deterministic, so a resend after a lost reply is a no-op at the LRS.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from datetime import timedelta
from typing import Any

import aiohttp
import sqlalchemy as sa

from ..db import Database
from ..util import iso, stop_task, utcnow
from .tables import xapi_outbox, xapi_statements
from .xapi import VERSION

log = logging.getLogger(__name__)


class LrsForwarder:
    def __init__(self, db: Database, endpoint: str, username: str = "", password: str = "",
                 *, batch: int = 100, base_delay: float = 2.0, max_delay: float = 300.0,
                 idle_poll: float = 5.0) -> None:
        self.db = db
        self.endpoint = endpoint
        credentials = base64.b64encode(f"{username}:{password}".encode()).decode()
        self.authorization = f"Basic {credentials}" if username else None
        self.batch = batch
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.idle_poll = idle_poll
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        self._task = asyncio.get_running_loop().create_task(self._run(), name="xapi-forwarder")

    async def stop(self) -> None:
        await stop_task(self._task)
        if self._session is not None:
            await self._session.close()
        self._task = self._session = None

    async def _run(self) -> None:
        while True:
            try:
                sent = await self.forward_due()
            except Exception:
                log.exception("forwarding xAPI statements failed")
                sent = 0
            if sent:
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._next_wait())
            except TimeoutError:
                pass

    def _next_wait(self) -> float:
        return min(self.idle_poll, max(0.05, self.base_delay))

    async def forward_due(self) -> int:
        """Send one batch of due statements; returns how many the LRS accepted."""
        now = iso()
        async with self.db.read() as conn:
            rows = (await conn.execute(
                sa.select(xapi_outbox.c.statement_id, xapi_outbox.c.attempts,
                          xapi_statements.c.statement)
                .join(xapi_statements, xapi_statements.c.id == xapi_outbox.c.statement_id)
                .where(xapi_outbox.c.next_attempt_at <= now)
                .order_by(xapi_outbox.c.next_attempt_at, xapi_statements.c.stored,
                          xapi_statements.c.ordinal)
                .limit(self.batch))).all()
        if not rows:
            return 0
        ids = [r.statement_id for r in rows]
        error = await self._post([_for_lrs(r.statement) for r in rows])
        async with self.db.write() as conn:
            if error is None:
                await conn.execute(xapi_outbox.delete().where(xapi_outbox.c.statement_id.in_(ids)))
                return len(ids)
            for r in rows:
                delay = min(self.max_delay, self.base_delay * 2 ** r.attempts)
                await conn.execute(xapi_outbox.update().where(
                    xapi_outbox.c.statement_id == r.statement_id).values(
                    attempts=r.attempts + 1, last_error=error[:1000],
                    next_attempt_at=iso(utcnow() + timedelta(seconds=delay))))
        log.warning("LRS refused %d statements (%s); retrying later", len(ids), error)
        return 0

    async def _post(self, statements: list[dict[str, Any]]) -> str | None:
        assert self._session is not None, "LrsForwarder.start() was not called"
        headers = {"X-Experience-API-Version": VERSION, "Content-Type": "application/json"}
        if self.authorization:
            headers["Authorization"] = self.authorization
        try:
            async with self._session.post(self.endpoint, data=json.dumps(statements),
                                          headers=headers) as response:
                if response.status in (200, 204):
                    return None
                text = (await response.text())[:300]
                return f"HTTP {response.status}: {text}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            return f"{type(exc).__name__}: {exc}"

    async def pending(self) -> int:
        async with self.db.read() as conn:
            return int((await conn.execute(sa.select(sa.func.count())
                                           .select_from(xapi_outbox))).scalar_one())


def _for_lrs(statement: dict[str, Any]) -> dict[str, Any]:
    # `stored` (and `authority`) are set by the receiving LRS, not by the sender.
    return {k: v for k, v in statement.items() if k not in ("stored", "authority")}
