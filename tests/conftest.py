"""Real-service fixtures: the app over real HTTP, on SQLite and on the PostgreSQL server.

``database_url`` is parametrised: tests that take ``client`` (or ``app``) run once on SQLite
and once on PostgreSQL (127.0.0.1:5432, database ``test``, one schema per test). Set
``TAICHI_TEST_DATABASES=sqlite`` to run on SQLite only.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from taichi_cloud.app import create_app
from taichi_cloud.keys import ACCOUNTS
from taichi_cloud.settings import Settings

PG_BASE = os.environ.get("TAICHI_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
DATABASES = os.environ.get("TAICHI_TEST_DATABASES", "sqlite,postgresql").split(",")


@pytest.fixture(params=DATABASES)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'taichi.db'}"
        return
    schema = "t_" + secrets.token_hex(6)
    yield f"{PG_BASE}?schema={schema}"
    import asyncpg

    conn = await asyncpg.connect(PG_BASE)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(data_dir=str(tmp_path / "data"), database_url=database_url,
                    storage_url=f"file://{tmp_path / 'media'}", secret_key="test-secret",
                    public_url="http://testserver.example")


@pytest.fixture
async def app(settings: Settings) -> web.Application:
    return create_app(settings)


@pytest.fixture
async def client(app: web.Application) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


@dataclass
class Account:
    id: str
    email: str
    role: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


MakeUser = Callable[..., Awaitable[Account]]


@pytest.fixture
def make_user(client: TestClient[web.Request, web.Application]) -> MakeUser:
    """Create an account with a role and return it with a bearer token."""
    async def make(role: str = "learner", email: str | None = None) -> Account:
        accounts = client.app[ACCOUNTS]
        email = email or f"{role}-{secrets.token_hex(4)}@example.org"
        user = await accounts.create_user(email, "correct horse battery", role.title(), role)
        return Account(user.id, email, role, await accounts.issue_token(user.id))
    return make


def problem(body: dict[str, Any], status: int) -> None:
    """Assert an RFC 9457 problem body with the given status."""
    assert body["status"] == status
    for key in ("type", "title", "detail"):
        assert isinstance(body[key], str) and body[key]
