"""Health, the OpenAPI document and its human-readable rendering."""

from __future__ import annotations

from aiohttp import web

from ..keys import API_SPEC, JINJA
from .context import json_response
from .openapi import ApiRoutes

api = ApiRoutes()


@api.get("/healthz", summary="Liveness: the service answers", tag="system",
         response={"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}},
         errors=())
async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


@api.get("/api/openapi.json", summary="This API as an OpenAPI 3.1 document", tag="system",
         response={"type": "object"}, errors=())
async def openapi_document(request: web.Request) -> web.Response:
    return json_response(request.app[API_SPEC].document())


@api.get("/api/docs", summary="Human-readable API reference", tag="system",
         response_content="text/html", errors=())
async def api_docs(request: web.Request) -> web.Response:
    from .pages import render

    doc = request.app[API_SPEC].document()
    operations = [
        {"method": method.upper(), "path": path, **op}
        for path, ops in doc["paths"].items() for method, op in ops.items()
    ]
    assert JINJA in request.app
    return render(request, "api_docs.html", operations=operations, title="API")
