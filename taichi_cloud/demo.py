"""``serve --demo``: the seed catalog, demo accounts and generated demo clips on first run."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from .catalog.seed import SEED_DIR, import_records, read_catalog_files
from .errors import Conflict
from .keys import ACCOUNTS, CATALOG, MEDIA
from .util import stop_task

log = logging.getLogger(__name__)

DEMO_USERS = (("admin@demo.taichi.cloud", "admin", "Demo Admin"),
              ("curator@demo.taichi.cloud", "curator", "Demo Curator"),
              ("reviewer@demo.taichi.cloud", "reviewer", "Demo Reviewer"),
              ("school@demo.taichi.cloud", "school", "Demo School"),
              ("learner@demo.taichi.cloud", "learner", "Demo Learner"))
DEMO_PASSWORD = "taichi-demo"


async def seed_demo(app: web.Application) -> bool:
    """Import the seed catalog and create demo accounts unless already done; True if seeded."""
    catalog = app[CATALOG]
    total, _ = await catalog.list_entries(None, per_page=1)
    if total:
        return False
    records = read_catalog_files(SEED_DIR)
    report = await import_records(catalog, records)
    log.info("demo catalog: %d entries imported", report.created)
    for email, role, name in DEMO_USERS:
        try:
            await app[ACCOUNTS].create_user(email, DEMO_PASSWORD, name, role)
        except Conflict:
            pass
    log.info("demo accounts (password %r): %s", DEMO_PASSWORD, ", ".join(e for e, _, _ in DEMO_USERS))
    return True


async def _make_demo_clips(app: web.Application) -> None:
    media = app.get(MEDIA)
    if media is not None and hasattr(media, "ingest_demo_clips"):
        await media.ingest_demo_clips(read_catalog_files(SEED_DIR))


async def demo_context(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx for ``serve --demo``: seed before serving; clips are made in the background
    so the site answers at once (entries show "being prepared" until their clip is ready).
    Seed entries still without media (say, after an interrupted first run) get theirs too."""
    await seed_demo(app)
    clips = asyncio.create_task(_make_demo_clips(app), name="demo-clips")
    yield
    await stop_task(clips)
