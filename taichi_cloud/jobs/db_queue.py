"""The job queue in the application database (SQLite or PostgreSQL).

Claiming is one transaction: on SQLite the single writer (``BEGIN IMMEDIATE``) serialises it,
also across processes; on PostgreSQL ``SELECT ... FOR UPDATE SKIP LOCKED`` lets many workers
claim at once without ever taking the same row.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from ..db import Database
from ..util import iso, new_id, utcnow
from .queue import ACTIVE_STATES, CancelListener, Job
from .tables import jobs


def _at(seconds_from_now: float) -> str:
    return iso(utcnow() + timedelta(seconds=seconds_from_now))


def _job(row: Any, *, exhausted: bool = False, **changes: Any) -> Job:
    r = {**row._mapping, **changes}
    return Job(id=r["id"], kind=r["kind"], payload=dict(r["payload"] or {}), state=r["state"],
               tries=r["tries"], max_tries=r["max_tries"], ref=r["ref"],
               timeout=r["timeout_seconds"], progress=r["progress"], error=r["error"],
               lease_owner=r["lease_owner"], exhausted=exhausted)


class DatabaseQueue:
    def __init__(self, db: Database, *, default_max_tries: int = 4) -> None:
        self.db = db
        self.default_max_tries = default_max_tries
        self._listeners: list[CancelListener] = []
        self._wakeup = asyncio.Event()

    async def enqueue(self, kind: str, payload: dict[str, Any], *, job_id: str | None = None,
                      ref: str | None = None, max_tries: int | None = None,
                      timeout_seconds: float | None = None, delay: float = 0.0) -> str:
        job_id = job_id or new_id()
        now = iso()
        values = dict(kind=kind, ref=ref, payload=payload, state="queued", tries=0,
                      max_tries=max_tries or self.default_max_tries, timeout_seconds=timeout_seconds,
                      run_at=_at(delay) if delay else now, lease_owner=None, lease_expires=None,
                      heartbeat_at=None, progress=0.0, error=None, updated_at=now,
                      finished_at=None)
        async with self.db.write() as conn:
            row = (await conn.execute(sa.select(jobs.c.state).where(jobs.c.id == job_id))).first()
            if row is None:
                await conn.execute(jobs.insert().values(id=job_id, created_at=now, **values))
            elif row.state not in ACTIVE_STATES:  # a finished job with this id runs again
                await conn.execute(jobs.update().where(jobs.c.id == job_id).values(**values))
        self._wakeup.set()
        return job_id

    async def claim(self, owner: str, kinds: Iterable[str], lease_seconds: float) -> Job | None:
        now = iso()
        due = sa.or_(sa.and_(jobs.c.state == "queued", jobs.c.run_at <= now),
                     sa.and_(jobs.c.state == "running", jobs.c.lease_expires < now))
        query = (sa.select(jobs).where(due, jobs.c.kind.in_(list(kinds)))
                 .order_by(jobs.c.run_at, jobs.c.created_at).limit(1))
        if self.db.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        async with self.db.write() as conn:
            row = (await conn.execute(query)).first()
            if row is None:
                return None
            if row.state == "running" and row.tries >= row.max_tries:
                error = f"the worker running it stopped {row.tries} times (lease expired)"
                await conn.execute(jobs.update().where(jobs.c.id == row.id).values(
                    state="failed", error=error, lease_owner=None, lease_expires=None,
                    updated_at=now, finished_at=now))
                return _job(row, exhausted=True, state="failed", error=error)
            await conn.execute(jobs.update().where(jobs.c.id == row.id).values(
                state="running", tries=row.tries + 1, lease_owner=owner,
                lease_expires=_at(lease_seconds), heartbeat_at=now, updated_at=now))
        return _job(row, state="running", tries=row.tries + 1, lease_owner=owner)

    def _owned(self, job_id: str, owner: str) -> Any:
        return sa.and_(jobs.c.id == job_id, jobs.c.lease_owner == owner, jobs.c.state == "running")

    async def heartbeat(self, job_id: str, owner: str, lease_seconds: float,
                        progress: float | None = None) -> bool:
        now = iso()
        values: dict[str, Any] = dict(lease_expires=_at(lease_seconds), heartbeat_at=now,
                                      updated_at=now)
        if progress is not None:
            values["progress"] = progress
        async with self.db.write() as conn:
            result = await conn.execute(jobs.update().where(self._owned(job_id, owner)).values(**values))
        return bool(result.rowcount)

    async def _finish(self, job_id: str, owner: str, **values: Any) -> None:
        now = iso()
        async with self.db.write() as conn:
            await conn.execute(jobs.update().where(self._owned(job_id, owner)).values(
                lease_owner=None, lease_expires=None, updated_at=now, **values))

    async def complete(self, job_id: str, owner: str) -> None:
        await self._finish(job_id, owner, state="done", progress=1.0, error=None, finished_at=iso())

    async def retry(self, job_id: str, owner: str, error: str, delay: float) -> None:
        await self._finish(job_id, owner, state="queued", run_at=_at(delay), error=error)

    async def fail(self, job_id: str, owner: str, error: str) -> None:
        await self._finish(job_id, owner, state="failed", error=error, finished_at=iso())

    async def release(self, job_id: str, owner: str) -> None:
        await self._finish(job_id, owner, state="queued", run_at=iso(), tries=jobs.c.tries - 1)
        self._wakeup.set()

    async def cancel(self, *, job_id: str | None = None, ref: str | None = None) -> list[str]:
        if job_id is None and ref is None:
            raise ValueError("cancel needs a job id or a ref")
        where: list[Any] = [jobs.c.state.in_(ACTIVE_STATES)]
        if job_id is not None:
            where.append(jobs.c.id == job_id)
        if ref is not None:
            where.append(jobs.c.ref == ref)
        now = iso()
        async with self.db.write() as conn:
            ids = [r.id for r in (await conn.execute(sa.select(jobs.c.id).where(*where))).all()]
            if ids:
                await conn.execute(jobs.update().where(jobs.c.id.in_(ids)).values(
                    state="cancelled", lease_owner=None, lease_expires=None, updated_at=now,
                    finished_at=now))
        if ids:
            for listener in self._listeners:
                listener(ids)
        return ids

    async def get(self, job_id: str) -> Job | None:
        async with self.db.read() as conn:
            row = (await conn.execute(sa.select(jobs).where(jobs.c.id == job_id))).first()
        return _job(row) if row is not None else None

    async def jobs_for(self, ref: str) -> list[Job]:
        async with self.db.read() as conn:
            rows = (await conn.execute(sa.select(jobs).where(jobs.c.ref == ref)
                                       .order_by(jobs.c.created_at))).all()
        return [_job(r) for r in rows]

    async def counts(self) -> dict[str, int]:
        async with self.db.read() as conn:
            rows = (await conn.execute(sa.select(jobs.c.state, sa.func.count())
                                       .group_by(jobs.c.state))).all()
        return {state: int(count) for state, count in rows}

    def add_cancel_listener(self, listener: CancelListener) -> None:
        self._listeners.append(listener)

    async def wait_for_work(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._wakeup.wait(), seconds)
        except TimeoutError:
            pass
        self._wakeup.clear()

