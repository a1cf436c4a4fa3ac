"""Every shared object of the application, declared once as an ``AppKey``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from jinja2 import Environment

    from .accounts.service import Accounts
    from .catalog.service import Catalog
    from .db import Database
    from .i18n import I18n
    from .settings import Settings
    from .web.openapi import ApiSpec

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
DB: web.AppKey[Database] = web.AppKey("db")
I18N: web.AppKey[I18n] = web.AppKey("i18n")
ACCOUNTS: web.AppKey[Accounts] = web.AppKey("accounts")
CATALOG: web.AppKey[Catalog] = web.AppKey("catalog")
JINJA: web.AppKey[Environment] = web.AppKey("jinja")
API_SPEC: web.AppKey[ApiSpec] = web.AppKey("api_spec")
# Filled by the search, media, jobs and courses components (typed where they are made).
SEARCH: web.AppKey[Any] = web.AppKey("search")
STORE: web.AppKey[Any] = web.AppKey("blob_store")
QUEUE: web.AppKey[Any] = web.AppKey("job_queue")
MEDIA: web.AppKey[Any] = web.AppKey("media")
COURSES: web.AppKey[Any] = web.AppKey("courses")

# Per-request values, set by the middlewares and the route declarations.
REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id", str)
LOCALE: web.RequestKey[Any] = web.RequestKey("locale")  # i18n.LocaleChoice
USER: web.RequestKey[Any] = web.RequestKey("user")  # accounts.service.User | None
AUTH: web.RequestKey[str | None] = web.RequestKey("auth")  # "bearer" | "cookie" | None
SESSION_TOKEN: web.RequestKey[str] = web.RequestKey("session_token", str)
CSRF_TOKEN: web.RequestKey[str] = web.RequestKey("csrf_token", str)
QUERY: web.RequestKey[dict[str, Any]] = web.RequestKey("query", dict)  # validated ?params
BODY: web.RequestKey[Any] = web.RequestKey("json")  # validated JSON body
