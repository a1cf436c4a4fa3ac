"""Request ids, security headers, problem responses, locale negotiation, authentication, CSRF."""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler

from ..errors import DomainError, Forbidden, Invalid, TooManyRequests
from ..keys import (
    ACCOUNTS,
    AUTH,
    CSRF_TOKEN,
    I18N,
    LOCALE,
    REQUEST_ID,
    SESSION_TOKEN,
    SETTINGS,
    USER,
)

log = logging.getLogger("taichi_cloud.web")

SESSION_COOKIE = "taichi_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CREDENTIAL_PATHS = frozenset({"/api/v1/auth/login", "/api/v1/auth/register", "/login"})
#: Paths that answer problems as JSON; everything else is a page with an HTML error page.
JSON_PREFIXES = ("/api/", "/oembed", "/streams/", "/healthz", "/metrics")
PROBLEM_TYPE = "https://taichi.cloud/problems/"


def is_api(request: web.Request) -> bool:
    return request.path.startswith(JSON_PREFIXES)


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    incoming = request.headers.get("X-Request-Id", "")
    rid = incoming if 0 < len(incoming) <= 64 and incoming.isascii() and incoming.isprintable() \
        else secrets.token_hex(8)
    request[REQUEST_ID] = rid
    response = await handler(request)
    response.headers["X-Request-Id"] = rid
    return response


@web.middleware
async def security_headers_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    if not request.path.startswith("/embed/"):
        # Embeds send their own frame-ancestors; everything else may not be framed.
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Content-Security-Policy",
                           "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
                           "worker-src 'self' blob:; "
                           "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'self'")
    if request.secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


def problem_response(request: web.Request, status: int, title: str, detail: str,
                     slug: str = "error", **extra: Any) -> web.Response:
    body: dict[str, Any] = {"type": PROBLEM_TYPE + slug, "title": title, "status": status,
                            "detail": detail, "instance": request.path}
    if REQUEST_ID in request:
        body["request_id"] = request[REQUEST_ID]
    body.update({k: v for k, v in extra.items() if v is not None})
    return web.Response(status=status, text=json.dumps(body, ensure_ascii=False),
                        content_type="application/problem+json")


def _render_error(request: web.Request, status: int, title: str, detail: str, slug: str,
                  **extra: Any) -> web.Response:
    if is_api(request) or "text/html" not in request.headers.get("Accept", "text/html"):
        return problem_response(request, status, title, detail, slug, **extra)
    from .pages import render_error_page

    return render_error_page(request, status, title, detail)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except DomainError as exc:
        i18n = request.app[I18N]
        ui = request[LOCALE].ui if LOCALE in request else "en"
        response = _render_error(request, exc.status, i18n.translate(ui, exc.title), exc.detail,
                                 exc.slug, field=exc.field)
        if isinstance(exc, TooManyRequests):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = _render_error(request, exc.status, exc.reason, exc.text or exc.reason,
                                 exc.reason.lower().replace(" ", "-"))
        for name in ("Allow", "Retry-After"):
            if name in exc.headers:
                response.headers[name] = exc.headers[name]
        return response
    except Exception:
        log.exception("unhandled error in %s %s (request %s)", request.method, request.path,
                      request.get(REQUEST_ID))
        return _render_error(request, 500, "Internal error",
                             "the server failed to answer; the error was logged", "internal")


@web.middleware
async def locale_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    choice = request.app[I18N].negotiate(None, request.headers.get("Accept-Language"))
    request[LOCALE] = choice
    query_lang = request.query.get("lang")
    if query_lang:
        try:
            choice = request.app[I18N].negotiate(query_lang, request.headers.get("Accept-Language"))
        except Invalid:
            raise Invalid(f"{query_lang!r} is not a valid BCP 47 language tag", field="lang") from None
        request[LOCALE] = choice
    response = await handler(request)
    # Handlers that resolve content in another language set Content-Language themselves.
    if "Content-Language" not in response.headers:
        response.headers["Content-Language"] = choice.ui
    return response


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    accounts = request.app[ACCOUNTS]
    request[USER] = None
    request[AUTH] = None
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Invalid("Authorization must be 'Bearer <token>'", field="Authorization")
        user = await accounts.user_for_token(token.strip())
        if user is None:
            from ..errors import Unauthorized

            raise Unauthorized("the token is unknown or expired")
        request[USER], request[AUTH] = user, "bearer"
    elif request.path in CREDENTIAL_PATHS and request.method not in SAFE_METHODS:
        # Signing in needs no session (and so no CSRF token); refuse other sites' forms.
        origin = request.headers.get("Origin")
        if origin and origin != "null" and urlsplit(origin).netloc != request.host:
            raise Forbidden("cross-site sign-in refused")
    elif SESSION_COOKIE in request.cookies:
        token = request.cookies[SESSION_COOKIE]
        user = await accounts.user_for_token(token)
        if user is not None:
            request[USER], request[AUTH], request[SESSION_TOKEN] = user, "cookie", token
            request[CSRF_TOKEN] = accounts.csrf_token(token)
            if request.method not in SAFE_METHODS and not await _csrf_ok(request, token):
                raise Forbidden(f"cookie-authenticated writes need the {CSRF_HEADER} header "
                                "(from GET /api/v1/me or the page's csrf-token meta tag)")
    return await handler(request)


async def _csrf_ok(request: web.Request, token: str) -> bool:
    accounts = request.app[ACCOUNTS]
    presented = request.headers.get(CSRF_HEADER)
    if presented is None and request.content_type == "application/x-www-form-urlencoded":
        # Form posts carry it as a field; aiohttp caches the parsed form for the handler.
        from .pages import read_form

        form = await read_form(request)
        field = form.get("csrf_token")
        presented = field if isinstance(field, str) else None
    return accounts.check_csrf(token, presented)


def set_session_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    settings = request.app[SETTINGS]
    secure = request.secure or settings.public_url.startswith("https://")
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="Lax", secure=secure,
                        path="/", max_age=settings.session_days * 86400)


MIDDLEWARES = [request_id_middleware, security_headers_middleware, error_middleware,
               locale_middleware, auth_middleware]
