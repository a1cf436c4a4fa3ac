"""Routes declared with their contract: roles, query/body JSON Schemas, responses.

The same declaration enforces the role check, validates input (JSON Schema 2020-12, which
OpenAPI 3.1 embeds) and produces ``/api/openapi.json`` — so the document cannot drift from the
routes, and ``tests/test_openapi.py`` fails when a registered route is missing from it.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonschema_rs
from aiohttp import web
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from .. import __version__
from ..errors import Forbidden, Invalid, NotFound, TooLarge, Unauthorized, UnsupportedMedia
from ..keys import BODY, QUERY, SETTINGS, USER

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Schema = dict[str, Any]

#: Who may call a route: anyone, any signed-in user, or the listed roles (admins always may).
ANYONE: tuple[str, ...] = ()
SIGNED_IN: tuple[str, ...] = ("*",)

PROBLEM = {"$ref": "#/components/schemas/Problem"}


@dataclass
class RouteSpec:
    method: str
    path: str
    summary: str
    tag: str
    roles: tuple[str, ...]
    query: Mapping[str, Schema] = field(default_factory=dict)
    body: Schema | None = None
    body_content: str = "application/json"
    response: Schema | None = None
    response_content: str = "application/json"
    status: int = 200
    errors: tuple[int, ...] = (400,)
    description: str = ""


class ApiRoutes:
    """A ``RouteTableDef`` that also records each route's contract."""

    def __init__(self) -> None:
        self.table = web.RouteTableDef()
        self.specs: list[RouteSpec] = []

    def route(self, method: str, path: str, *, summary: str, tag: str,
              roles: tuple[str, ...] = ANYONE, **spec: Any) -> Callable[[Handler], Handler]:
        rs = RouteSpec(method.upper(), path, summary, tag, roles, **spec)
        query_validator = _query_validator(rs.query) if rs.query else None
        body_validator = Validator(rs.body) if rs.body and rs.body_content == "application/json" else None

        def decorate(handler: Handler) -> Handler:
            @functools.wraps(handler)
            async def wrapped(request: web.Request) -> web.StreamResponse:
                if any(_FORBIDDEN_CHARS.search(v) for v in request.match_info.values()):
                    raise NotFound("no such resource")
                enforce_roles(request, rs.roles)
                if query_validator is not None:
                    request[QUERY] = _validate_query(request, rs.query, query_validator)
                if body_validator is not None:
                    request[BODY] = await read_json(request, body_validator)
                return await handler(request)

            self.specs.append(rs)
            self.table.route(rs.method, path)(wrapped)
            return wrapped
        return decorate

    def get(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", path, **kw)

    def patch(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("PATCH", path, **kw)

    def put(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, **kw)


class Validator:
    """JSON Schema 2020-12 validation: the Rust validator answers "valid?" in microseconds (hot
    paths such as progress heartbeats); the Python one explains an invalid body, naming the field."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.fast = jsonschema_rs.validator_for(schema)
        self.slow = Draft202012Validator(schema)

    def iter_errors(self, data: Any) -> Any:
        if self.fast.is_valid(data):
            return iter(())
        return self.slow.iter_errors(data)


def enforce_roles(request: web.Request, roles: tuple[str, ...]) -> None:
    if not roles:
        return
    user = request.get(USER)
    if user is None:
        raise Unauthorized("sign in or send an Authorization: Bearer token")
    if roles != SIGNED_IN and not user.has(*roles):
        raise Forbidden(f"this needs the role {' or '.join(roles)}")


def _query_validator(query: Mapping[str, Schema]) -> Draft202012Validator:
    return Draft202012Validator({"type": "object", "properties": dict(query)})


def _validate_query(request: web.Request, query: Mapping[str, Schema],
                    validator: Draft202012Validator) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, schema in query.items():
        raw = request.query.get(name)
        if raw is not None and _FORBIDDEN_CHARS.search(raw):
            raise Invalid(f"query parameter {name} may not hold control characters", field=name)
        if raw is None or raw == "":
            if "default" in schema:
                values[name] = schema["default"]
            continue
        kind = schema.get("type")
        try:
            if kind == "integer":
                values[name] = int(raw)
            elif kind == "number":
                values[name] = float(raw)
            elif kind == "boolean":
                if raw.lower() not in {"true", "false", "1", "0"}:
                    raise ValueError
                values[name] = raw.lower() in {"true", "1"}
            else:
                values[name] = raw
        except ValueError:
            raise Invalid(f"query parameter {name} must be of type {kind}", field=name) from None
    raise_first_error(validator, values, prefix="query parameter ")
    return values


async def read_json(request: web.Request, validator: Validator | Draft202012Validator | None = None) -> Any:
    """Parse a JSON body: 415 for other types, 413 past the size limit, 400 naming the field."""

    if request.content_type != "application/json":
        raise UnsupportedMedia("send the body as application/json")
    limit = request.app[SETTINGS].max_request_bytes
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(f"the body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    # Read to the end of the body: one read() returns only what has arrived so far.
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise Invalid("the body is not valid UTF-8") from None
    except RecursionError:
        raise Invalid("the body is nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise Invalid(f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    check_text(data)
    if validator is not None:
        raise_first_error(validator, data)
    return data


_FORBIDDEN_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def check_text(data: Any) -> None:
    """Refuse strings no database stores faithfully: NUL and other C0 controls (tab, newline and
    carriage return are text) and lone surrogates (escaped ``\\ud800`` is valid JSON, not UTF-8)."""
    stack, path_of = [data], {id(data): ""}
    while stack:
        value = stack.pop()
        where = path_of.get(id(value), "")
        items: Any = value.items() if isinstance(value, dict) else enumerate(value) \
            if isinstance(value, list) else ()
        for key, item in items:
            name = f"{where}.{key}" if where else str(key)
            if isinstance(key, str) and _FORBIDDEN_CHARS.search(key):
                raise Invalid(f"{name}: field names may not hold control characters or lone surrogates", field=name)
            if isinstance(item, str):
                if _FORBIDDEN_CHARS.search(item):
                    raise Invalid(f"{name}: control characters and lone surrogates are not allowed", field=name)
            elif isinstance(item, (dict, list)):
                path_of[id(item)] = name
                stack.append(item)


def raise_first_error(validator: Validator | Draft202012Validator, data: Any, prefix: str = "") -> None:
    try:
        errors = sorted(validator.iter_errors(data), key=lambda e: (len(e.path), list(map(str, e.path))))
    except RecursionError:
        raise Invalid("the body is nested too deeply") from None
    if not errors:
        return
    err = errors[0]
    while err.context:
        # anyOf/oneOf: report the branch that got furthest into the value, not the union.
        err = max(err.context, key=lambda e: len(e.absolute_path))
    path = ".".join(str(p) for p in err.absolute_path)
    raise Invalid(f"{prefix}{path or 'body'}: {_describe(err)}", field=path or None)


def _describe(err: ValidationError) -> str:
    if err.validator == "additionalProperties":
        extra = re.findall(r"'([^']+)' (?:was|were) unexpected", err.message)
        unknown = re.findall(r"'([^']+)'", err.message.split("(")[-1]) if not extra else extra
        return f"unknown field(s) {', '.join(unknown)}" if unknown else str(err.message)
    if err.validator == "maxLength":
        return f"is longer than {err.validator_value} characters"
    if err.validator == "required":
        return str(err.message).replace("is a required property", "is required")
    message = str(err.message)
    return message if len(message) < 200 else message[:200] + "…"


def build_openapi(specs: list[RouteSpec], components: Mapping[str, Schema]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for rs in specs:
        op: dict[str, Any] = {
            "summary": rs.summary, "tags": [rs.tag],
            "operationId": f"{rs.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', rs.path.lower()).strip('_')}",
        }
        if rs.description:
            op["description"] = rs.description
        params: list[dict[str, Any]] = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in re.findall(r"{(\w+)(?::[^}]*)?}", rs.path)
        ]
        params += [{"name": name, "in": "query", "required": False, "schema": schema}
                   for name, schema in rs.query.items()]
        if params:
            op["parameters"] = params
        if rs.body is not None:
            op["requestBody"] = {"required": True, "content": {rs.body_content: {"schema": rs.body}}}
        ok: dict[str, Any] = {"description": "OK"}
        if 300 <= rs.status < 400:
            ok = {"description": "Redirect", "headers": {"Location": {"schema": {"type": "string"}}}}
        elif rs.response is not None:
            ok["content"] = {rs.response_content: {"schema": rs.response}}
        elif rs.response_content != "application/json":
            ok["content"] = {rs.response_content: {"schema": {"type": "string"}}}
        responses: dict[str, Any] = {str(rs.status): ok}
        codes = set(rs.errors)
        if rs.roles:
            codes |= {401} | ({403} if rs.roles != SIGNED_IN else set())
        for code in sorted(codes):
            responses[str(code)] = {"description": _REASONS.get(code, "Error"),
                                    "content": {"application/problem+json": {"schema": PROBLEM}}}
        op["responses"] = responses
        if rs.roles:
            op["security"] = [{"bearer": []}, {"session": []}]
            if rs.roles != SIGNED_IN:
                op["x-roles"] = list(rs.roles)
        openapi_path = re.sub(r"{(\w+):[^}]*}", r"{\1}", rs.path)
        paths.setdefault(openapi_path, {})[rs.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "taichi-cloud", "version": __version__,
                 "description": "Cloud museum and study platform for Tai Chi culture."},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": {"Problem": PROBLEM_SCHEMA, **components},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "taichi_session"},
            },
        },
    }


_REASONS = {400: "Invalid input", 401: "Not signed in", 403: "Wrong role", 404: "Not found",
            409: "Conflict", 412: "Precondition failed", 413: "Too large", 415: "Unsupported media type",
            429: "Too many requests"}

PROBLEM_SCHEMA: Schema = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"}, "instance": {"type": "string"}, "field": {"type": "string"},
        "request_id": {"type": "string"},
    },
}


class ApiSpec:
    """Collects the route specs and shared schemas of every component of one app."""

    def __init__(self) -> None:
        self.specs: list[RouteSpec] = []
        self.components: dict[str, Schema] = {}
        self._document: dict[str, Any] | None = None

    def add(self, routes: ApiRoutes, components: Mapping[str, Schema] | None = None) -> None:
        self.specs.extend(routes.specs)
        self.components.update(components or {})
        self._document = None

    def document(self) -> dict[str, Any]:
        if self._document is None:
            self._document = build_openapi(self.specs, self.components)
        return self._document
