"""Media pipeline: probing, the one-pass HLS + DASH ladder, posters, storyboards, captions."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from ..util import stop_task

if TYPE_CHECKING:
    from ..settings import Settings

log = logging.getLogger(__name__)
JANITOR_SECONDS = 600.0


async def _media_services(app: web.Application) -> AsyncIterator[None]:
    from ..app import resolve_secret
    from ..keys import CATALOG, DB, MEDIA, QUEUE, SETTINGS, STORE
    from .service import MediaService
    from .tus import UPLOADS_KEY, make_uploads

    settings = app[SETTINGS]
    store = app[STORE]
    service = MediaService(settings, app[DB], store, app[QUEUE], app[CATALOG],
                           resolve_secret(settings))
    app[MEDIA] = service
    app[CATALOG].subscribe(service.on_entry_changed)
    uploads = app[UPLOADS_KEY] = make_uploads(app)
    await uploads.finish_interrupted()
    await service.reconcile()

    async def janitor() -> None:
        while True:
            try:
                await uploads.remove_expired()
            except Exception:
                log.exception("removing expired uploads failed")
            await asyncio.sleep(JANITOR_SECONDS)

    task = asyncio.create_task(janitor(), name="expired uploads janitor")
    yield
    await stop_task(task)


def setup(app: web.Application) -> None:
    """Add the media services (uploads, jobs, streams) and routes to ``app``."""
    from ..jobs import register_job_kind
    from ..keys import API_SPEC, MEDIA
    from ..storage import store_context
    from . import routes, streams, tus
    from .pipeline import process_job_kind
    from .service import PROCESS_JOB

    app.cleanup_ctx.append(store_context)
    app.cleanup_ctx.append(_media_services)
    register_job_kind(app, PROCESS_JOB, process_job_kind(lambda: app[MEDIA]))
    for component in (tus, routes, streams):
        app.router.add_routes(component.api.table)
        app[API_SPEC].add(component.api, getattr(component, "COMPONENTS", None))
    app.on_response_prepare.append(tus.tus_response_headers)


def cli_commands() -> dict[str, Callable[[Settings, argparse.Namespace], Awaitable[int]]]:
    from .ingest import ingest_command

    return {"ingest": ingest_command}
