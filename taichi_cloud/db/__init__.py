"""Database access behind one small interface, for SQLite (default) and PostgreSQL.

Domain code writes SQLAlchemy Core statements and runs them inside ``db.read()`` or
``db.write()``. On SQLite every write goes through one connection guarded by a lock and starts
with ``BEGIN IMMEDIATE`` (WAL mode keeps readers concurrent); reads use a small pool. aiosqlite
and asyncpg run the I/O off the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from .migrations import migrate
from .schema import metadata

__all__ = ["Database", "metadata", "migrate"]


def _split_schema(url: str) -> tuple[str, str | None]:
    """Strip our own ``?schema=NAME`` from a PostgreSQL URL (tests isolate themselves with it)."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    schema = query.pop("schema", [None])[0]
    return urlunsplit(parts._replace(query=urlencode(query, doseq=True))), schema


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.dialect = "sqlite" if url.startswith("sqlite") else "postgresql"
        self._writer: AsyncEngine | None = None
        self._reader: AsyncEngine | None = None
        self._write_lock = asyncio.Lock()
        self.schema: str | None = None

    async def connect(self) -> None:
        if self.dialect == "sqlite":
            path = self.url.removeprefix("sqlite:///")
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            async_url = "sqlite+aiosqlite:///" + path
            self._writer = create_async_engine(async_url, pool_size=1, max_overflow=0)
            self._reader = create_async_engine(async_url, pool_size=4, max_overflow=4)
            _sqlite_setup(self._writer, begin="BEGIN IMMEDIATE")
            _sqlite_setup(self._reader, begin="BEGIN")
        elif self.url.startswith(("postgresql://", "postgres://")):
            base, self.schema = _split_schema(self.url)
            async_url = "postgresql+asyncpg://" + base.split("://", 1)[1]
            connect_args: dict[str, Any] = {}
            if self.schema:
                connect_args["server_settings"] = {"search_path": self.schema}
            engine = create_async_engine(async_url, pool_size=8, max_overflow=8,
                                         connect_args=connect_args)
            if self.schema:
                await _ensure_schema(async_url, self.schema)
            self._writer = self._reader = engine
        else:
            raise ValueError(f"unsupported DATABASE_URL {self.url!r}: use sqlite:/// or postgresql://")

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        assert self._reader is not None, "Database.connect() was not awaited"
        async with self._reader.connect() as conn:
            yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """One transaction; committed when the block exits without an exception."""
        assert self._writer is not None, "Database.connect() was not awaited"
        if self.dialect == "sqlite":
            async with self._write_lock, self._writer.begin() as conn:
                yield conn
        else:
            async with self._writer.begin() as conn:
                yield conn

    async def close(self) -> None:
        for engine in {id(e): e for e in (self._writer, self._reader) if e is not None}.values():
            await engine.dispose()
        self._writer = self._reader = None


def _sqlite_setup(engine: AsyncEngine, *, begin: str) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from the driver so BEGIN is ours (IMMEDIATE for the writer).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)


async def _ensure_schema(async_url: str, schema: str) -> None:
    if not schema.replace("_", "").isalnum():
        raise ValueError(f"invalid schema name {schema!r}")
    engine = create_async_engine(async_url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    finally:
        await engine.dispose()
