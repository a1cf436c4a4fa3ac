"""What handlers read off a request: the viewer, the locales asked for, JSON helpers."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from ..accounts.service import User
from ..keys import LOCALE, SETTINGS, USER


def viewer(request: web.Request) -> User | None:
    user = request.get(USER)
    return user if isinstance(user, User) else None


def requested_locales(request: web.Request) -> tuple[str, ...]:
    """``?lang=`` then Accept-Language; the default locale when the request names none."""
    requested = request[LOCALE].requested
    return requested or (request.app[SETTINGS].default_locale,)


def json_response(data: Any, *, status: int = 200, language: str | None = None,
                  headers: dict[str, str] | None = None) -> web.Response:
    response = web.Response(text=json.dumps(data, ensure_ascii=False), status=status,
                            content_type="application/json", headers=headers)
    if language:
        response.headers["Content-Language"] = language
    return response
