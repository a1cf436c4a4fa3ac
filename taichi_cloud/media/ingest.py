"""``taichi-cloud ingest FILE... [--entry ID] [--title T --lang L]``: local files through the
same pipeline as uploads, with one progress bar per file; exit 0 when all are ready."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from aiohttp import web

from ..errors import Invalid
from ..i18n import normalize_tag
from .service import FINAL_STATUSES

if TYPE_CHECKING:
    from ..settings import Settings
    from .service import MediaService

BAR_WIDTH = 30
POLL_SECONDS = 0.5


def progress_line(name: str, status: str, fraction: float, error: str | None = None) -> str:
    filled = int(round(BAR_WIDTH * max(0.0, min(1.0, fraction))))
    bar = "#" * filled + "-" * (BAR_WIDTH - filled)
    tail = f" {error}" if error else ""
    return f"{name[:30]:<30} [{bar}] {fraction * 100:5.1f}% {status}{tail}"


async def watch(service: MediaService, files: list[tuple[str, str]], out: TextIO) -> bool:
    """Draw a bar per ``(name, media_id)`` until every one is ready or failed."""
    live = out.isatty()
    drawn: list[str] = []
    while True:
        lines, finished, ok = [], 0, True
        for name, media_id in files:
            asset = await service.get_asset(media_id)
            status = asset["status"] if asset else "failed"
            fraction = 1.0 if status == "ready" else float(asset["progress"] or 0) if asset else 0.0
            lines.append(progress_line(name, status, fraction, asset["error"] if asset else "gone"))
            finished += status in FINAL_STATUSES
            ok = ok and status == "ready"
        if live:
            if drawn:
                out.write(f"\x1b[{len(drawn)}F")
            out.write("".join(f"\x1b[2K{line}\n" for line in lines))
        else:
            for index, line in enumerate(lines):
                if not drawn or _changed(drawn[index], line):
                    out.write(line + "\n")
        out.flush()
        drawn = lines
        if finished == len(files):
            return ok
        await asyncio.sleep(POLL_SECONDS)


def _changed(before: str, after: str) -> bool:
    """Without a terminal, print a file's line when its status or tenth of progress changes."""
    return before.split("]")[1][:5] != after.split("]")[1][:5] or before.split()[-1] != after.split()[-1]


async def ingest_command(settings: Settings, args: argparse.Namespace) -> int:
    from ..cli import with_services
    from ..keys import MEDIA

    paths = [Path(f) for f in args.files]
    for path in paths:
        if not path.is_file():
            raise Invalid(f"{path} is not a file")
    if args.entry and len(paths) > 1:
        raise Invalid("--entry takes one file (an entry shows one media)")
    lang = normalize_tag(args.lang or "en")

    async def work(app: web.Application) -> int:
        service: MediaService = app[MEDIA]
        files = []
        for path in paths:
            asset = await service.create_asset(
                path, owner=None, entry_id=args.entry, filename=path.name,
                title=args.title if len(paths) == 1 or not args.title else f"{args.title} ({path.name})",
                lang=lang)
            files.append((path.name, asset["id"]))
            print(f"{path.name}: media {asset['id']} on entry {asset['entry_id']}", file=sys.stderr)
        return 0 if await watch(service, files, sys.stdout) else 1

    return await with_services(settings, work)
