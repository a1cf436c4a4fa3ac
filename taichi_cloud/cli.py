"""The ``taichi-cloud`` command line (also ``python -m taichi_cloud``)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from .errors import DomainError
from .settings import Settings, load_settings

log = logging.getLogger("taichi_cloud")
Command = Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, int]]



def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="taichi-cloud", description=__doc__)
    parser.add_argument("--config", help="a TOML settings file")
    parser.add_argument("--data-dir", help="directory for the database, index and uploads")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the service")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--demo", action="store_true",
                       help="seed the demo catalog, accounts and clips on first run")
    serve.add_argument("--with-worker", action="store_true",
                       help="also run jobs when QUEUE_URL names a shared queue")
    sub.add_parser("worker", help="run media and index jobs only")
    ingest = sub.add_parser("ingest", help="upload and transcode local files")
    ingest.add_argument("files", nargs="+")
    ingest.add_argument("--entry")
    ingest.add_argument("--title")
    ingest.add_argument("--lang", default="en")
    imp = sub.add_parser("import", help="load catalog data files (the format of catalog/)")
    imp.add_argument("path")
    users = sub.add_parser("users", help="manage accounts")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    add = users_sub.add_parser("add", help="create an account")
    add.add_argument("email")
    add.add_argument("--role", required=True,
                     choices=["learner", "curator", "reviewer", "school", "admin"])
    add.add_argument("--name", default="")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    sub.add_parser("reindex", help="rebuild the search index and swap it in")
    sub.add_parser("migrate", help="upgrade the database schema")
    backup = sub.add_parser("backup", help="write a consistent snapshot (also while serving)")
    backup.add_argument("dest", help="a new or empty directory")
    restore = sub.add_parser("restore", help="bring a backup back into an empty data dir")
    restore.add_argument("src", help="a directory written by backup")
    restore.add_argument("--force", action="store_true",
                         help="replace the database and files already in the data dir")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings(args.config, overrides={
            "data_dir": args.data_dir, "with_worker": getattr(args, "with_worker", None)})
        from .ops import configure_logging

        configure_logging(settings.log_format)  # text or JSON lines with request ids
        if args.command == "serve":
            return serve(settings, args)
        handler = COMMANDS[args.command if args.command != "users" else "users add"]
        return asyncio.run(handler(settings, args))
    except DomainError as exc:
        print(f"taichi-cloud: {exc.detail}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def serve(settings: Settings, args: argparse.Namespace) -> int:
    from .app import create_app

    app = create_app(settings)
    if args.demo:
        from .demo import demo_context

        app.cleanup_ctx.append(demo_context)
    from .ops import serve_options

    # Graceful shutdown: on SIGTERM in-flight requests get SHUTDOWN_TIMEOUT seconds to finish.
    web.run_app(app, host=args.host, port=args.port, print=lambda m: log.info("%s", m),
                **serve_options(settings))
    return 0


async def with_services(settings: Settings, work: Callable[[web.Application], Awaitable[int]]) -> int:
    """Run ``work`` with the app's services started (database, catalog, search, ...)."""
    from .app import create_app

    app = create_app(settings)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        return await work(app)
    finally:
        await runner.cleanup()


async def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    from .catalog.seed import import_records, read_catalog_files
    from .keys import CATALOG

    records = read_catalog_files(Path(args.path))

    async def work(app: web.Application) -> int:
        report = await import_records(app[CATALOG], records)
        print(f"imported {len(records)} entries: {report.created} created, {report.updated} updated")
        return 0
    return await with_services(settings, work)


async def cmd_users_add(settings: Settings, args: argparse.Namespace) -> int:
    from .keys import ACCOUNTS

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")

    async def work(app: web.Application) -> int:
        user = await app[ACCOUNTS].create_user(args.email, password, args.name, args.role)
        print(f"created {user.role} {user.email} ({user.id})")
        return 0
    return await with_services(settings, work)


async def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from .db import Database, migrate

    db = Database(settings.resolved_database_url)
    await db.connect()
    try:
        applied = await migrate(db)
    finally:
        await db.close()
    print("\n".join(f"applied {m}" for m in applied) or "the schema is up to date")
    return 0


async def _component_command(settings: Settings, args: argparse.Namespace) -> int:
    """Commands the search, media and jobs components provide (``cli_commands()``)."""
    from . import jobs, media, search

    for component in (search, media, jobs):
        commands: dict[str, Any] = getattr(component, "cli_commands", lambda: {})()
        if args.command in commands:
            return int(await commands[args.command](settings, args))
    print(f"taichi-cloud: {args.command} is not available in this build", file=sys.stderr)
    return 2


async def _ops_backup(settings: Settings, args: argparse.Namespace) -> int:
    from .ops.backup import backup_command

    return await backup_command(settings, args.dest)


async def _ops_restore(settings: Settings, args: argparse.Namespace) -> int:
    from .ops.backup import restore_command

    return await restore_command(settings, args.src, force=args.force)


COMMANDS: dict[str, Command] = {
    "import": cmd_import, "users add": cmd_users_add, "migrate": cmd_migrate,
    "reindex": _component_command, "worker": _component_command, "ingest": _component_command,
    "backup": _ops_backup, "restore": _ops_restore,
}
