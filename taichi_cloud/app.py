"""The application factory: ``create_app(settings) -> web.Application``.

Every shared object is an ``AppKey`` (see ``keys.py``) made and closed in a ``cleanup_ctx``;
there are no module-level singletons.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from . import courses, jobs, media, ops, search
from .accounts import routes as account_routes
from .accounts.service import Accounts
from .catalog import routes as catalog_routes
from .catalog.service import Catalog
from .db import Database, migrate
from .i18n import I18n
from .keys import ACCOUNTS, API_SPEC, CATALOG, DB, I18N, SETTINGS
from .settings import Settings
from .web import pages, system
from .web.middlewares import MIDDLEWARES
from .web.openapi import ApiSpec


def resolve_secret(settings: Settings) -> str:
    """The configured key, or one kept in ``DATA_DIR/secret_key`` (made once, mode 0600)."""
    if settings.secret_key:
        return settings.secret_key
    path = settings.data_path / "secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(key)
    return key


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    db = Database(settings.resolved_database_url)
    await db.connect()
    await migrate(db)
    app[DB] = db
    app[ACCOUNTS] = Accounts(db, resolve_secret(settings), settings.session_days)
    app[CATALOG] = Catalog(db)
    yield
    await db.close()


def create_app(settings: Settings) -> web.Application:
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    app = web.Application(middlewares=MIDDLEWARES, client_max_size=settings.max_request_bytes)
    app[SETTINGS] = settings
    app[I18N] = I18n(default=settings.default_locale)
    spec = app[API_SPEC] = ApiSpec()
    app.cleanup_ctx.append(_database)

    for routes, components in ((system.api, {}), (account_routes.api, account_routes.COMPONENTS),
                               (catalog_routes.api, catalog_routes.COMPONENTS)):
        app.router.add_routes(routes.table)
        spec.add(routes, components)
    # Components that add their own services (cleanup_ctx after the database) and routes.
    for component in (jobs, media, search, courses):
        component.setup(app)
    ops.setup(app)  # request-id logs, metrics middleware and GET /metrics
    pages.setup(app)
    return app
