"""Schemathesis against ``/api/openapi.json`` of a live ``taichi-cloud serve`` on 127.0.0.1.

Every documented operation gets a bounded number of generated requests (as an admin, so the
role checks let them through to validation and the domain): no 5xx, and every response
matches the status codes' documented schema and content type.
"""

from __future__ import annotations

import json
import tempfile
import urllib.request
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
)

from taichi_cloud.app import create_app
from taichi_cloud.keys import API_SPEC
from taichi_cloud.settings import Settings

from .test_ops_helpers import ServerProcess, add_user, instance_env

PASSWORD = "a long enough password"


def no_server_error(ctx: schemathesis.CheckContext, response: schemathesis.Response,
                    case: schemathesis.Case) -> bool | None:
    """No 5xx, except the 501 that oEmbed 1.0 prescribes for a format it does not offer."""
    if case.operation.path == "/oembed" and response.status_code == 501 \
            and (case.query or {}).get("format") not in (None, "json"):
        return None
    return not_a_server_error(ctx, response, case)


def from_the_app(response: schemathesis.Response) -> bool:
    """False for answers aiohttp's HTTP parser gives before the app runs (a request line over
    8190 bytes, bad header bytes): a plain-text 400 without our X-Request-Id."""
    return "x-request-id" in response.headers  # schemathesis lower-cases header names


def documented_schema(ctx: schemathesis.CheckContext, response: schemathesis.Response,
                      case: schemathesis.Case) -> bool | None:
    if not from_the_app(response):
        assert response.status_code == 400, response.status_code
        return None
    response_schema_conformance(ctx, response, case)
    return content_type_conformance(ctx, response, case)


CHECKS = [no_server_error, documented_schema]
#: Revoking the token every other case uses would turn the rest into 401s.
SKIPPED = "POST /api/v1/auth/logout"


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    base = tmp_path_factory.mktemp("fuzz")
    env = instance_env(base)
    add_user(env, "admin@example.org", "admin", PASSWORD)
    with ServerProcess(env, base / "serve.log") as server:
        request = urllib.request.Request(
            server.base_url + "/api/v1/auth/login", method="POST",
            data=json.dumps({"email": "admin@example.org", "password": PASSWORD}).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request) as r:
            token = json.loads(r.read())["token"]
        yield server.base_url, token
        server.terminate()


def served_document() -> dict[str, object]:
    """The document ``GET /api/openapi.json`` serves, built the same way at collection time
    (pytest needs the operations before the live server exists); the test below checks that
    the live server serves exactly this document."""
    with tempfile.TemporaryDirectory() as scratch:
        app = create_app(Settings(data_dir=scratch, storage_url=f"file://{scratch}/media"))
        return app[API_SPEC].document()


@schemathesis.serializer("application/offset+octet-stream")
def tus_chunk(_ctx: schemathesis.SerializationContext, value: object) -> bytes:
    """tus PATCH bodies are raw bytes; generated values are sent as their UTF-8 text."""
    if isinstance(value, bytes):
        return value
    return value.encode() if isinstance(value, str) else json.dumps(value).encode()


DOCUMENT = served_document()
schema = schemathesis.openapi.from_dict(DOCUMENT)


def test_the_live_server_serves_the_fuzzed_document(live_server: tuple[str, str]) -> None:
    with urllib.request.urlopen(live_server[0] + "/api/openapi.json") as r:
        assert json.loads(r.read()) == json.loads(json.dumps(DOCUMENT))


def call_and_check(case: schemathesis.Case, live_server: tuple[str, str]) -> None:
    base_url, token = live_server
    case.call_and_validate(base_url=base_url, headers={"Authorization": f"Bearer {token}"},
                           checks=CHECKS, timeout=30)


FUZZ = settings(max_examples=15, deadline=None, derandomize=True,
                suppress_health_check=list(HealthCheck))


@schema.exclude(name=[SKIPPED]).parametrize()
@FUZZ
def test_api_operations_answer_within_their_contract(case: schemathesis.Case,
                                                    live_server: tuple[str, str]) -> None:
    call_and_check(case, live_server)
