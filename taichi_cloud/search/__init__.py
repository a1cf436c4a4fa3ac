"""Multilingual search (issue 3): analysis pipeline, backends, service and routes."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from ..settings import Settings


async def _search_service(app: web.Application) -> AsyncIterator[None]:
    from ..keys import CATALOG, SEARCH, SETTINGS
    from .service import SearchService

    service = SearchService(app[SETTINGS], app[CATALOG])
    await service.start()
    app[SEARCH] = service
    yield
    await service.close()


def setup(app: web.Application) -> None:
    """Add the search service (a cleanup_ctx after the database) and its routes to ``app``."""
    from ..keys import API_SPEC
    from . import routes

    app.cleanup_ctx.append(_search_service)
    app.router.add_routes(routes.api.table)
    app[API_SPEC].add(routes.api, routes.COMPONENTS)


async def reindex(settings: Settings) -> int:
    """Rebuild the search index from the catalog into a new directory and swap it in.

    A running server notices the new index within a few seconds and switches to it.
    Returns the number of search documents (entries + chapters).
    """
    from ..catalog.service import Catalog
    from ..db import Database
    from .index import SearchIndex
    from .service import index_root

    db = Database(settings.resolved_database_url)
    await db.connect()
    try:
        records = [record async for record in Catalog(db).iter_records()]
    finally:
        await db.close()
    index = SearchIndex(index_root(settings), settings.search_backend)
    try:
        return await asyncio.to_thread(index.rebuild, records)
    finally:
        index.close()


async def _cmd_reindex(settings: Settings, args: argparse.Namespace) -> int:
    count = await reindex(settings)
    print(f"search index ({settings.search_backend}) rebuilt: {count} documents")
    return 0


def cli_commands() -> dict[str, Callable[[Settings, argparse.Namespace], Awaitable[Any]]]:
    """Commands this component adds to ``taichi-cloud`` (see ``cli._component_command``)."""
    return {"reindex": _cmd_reindex}
