"""The OpenAPI document is complete, valid OpenAPI 3.1, and covers the contract's routes."""

from __future__ import annotations

import re

from openapi_spec_validator import validate

# Routes of CONTRACT.md that the foundation serves; components add theirs to the same document.
CONTRACT_ROUTES = [
    ("get", "/healthz"), ("get", "/api/openapi.json"), ("get", "/api/docs"),
    ("post", "/api/v1/auth/register"), ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/logout"), ("get", "/api/v1/me"),
    ("get", "/api/v1/entries"), ("get", "/api/v1/entries/{id}"), ("post", "/api/v1/entries"),
    ("patch", "/api/v1/entries/{id}"), ("post", "/api/v1/entries/{id}/transitions"),
    ("get", "/api/v1/people/{id}/lineage"),
    ("get", "/"), ("get", "/videos/{id}"), ("get", "/archives/{id}"), ("get", "/people/{id}"),
    ("get", "/collections/{id}"), ("get", "/login"),
]


async def test_every_registered_route_is_documented(client):
    doc = await (await client.get("/api/openapi.json")).json()
    validate(doc)
    assert doc["openapi"].startswith("3.1")
    missing = []
    for route in client.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if route.method in ("HEAD", "*") or path is None or "prefix" in info:
            continue
        path = re.sub(r"{(\w+):[^}]*}", r"{\1}", path)
        op = doc["paths"].get(path, {}).get(route.method.lower())
        if op is None:
            missing.append(f"{route.method} {path}")
            continue
        assert op["summary"] and op["responses"], path
    assert not missing, f"routes missing from /api/openapi.json: {missing}"


async def test_contract_routes_are_served_and_documented(client):
    doc = await (await client.get("/api/openapi.json")).json()
    for method, path in CONTRACT_ROUTES:
        assert method in doc["paths"].get(path, {}), f"{method.upper()} {path}"


async def test_protected_routes_declare_security_and_errors(client):
    doc = await (await client.get("/api/openapi.json")).json()
    post = doc["paths"]["/api/v1/entries"]["post"]
    assert post["security"] and {"400", "401", "403"} <= set(post["responses"])
    assert post["requestBody"]["content"]["application/json"]["schema"]["required"] == ["kind", "translations"]


async def test_api_docs_page_lists_operations(client):
    r = await client.get("/api/docs")
    assert r.status == 200 and r.content_type == "text/html"
    text = await r.text()
    assert "/api/v1/entries/{id}/transitions" in text and "<html lang=" in text
