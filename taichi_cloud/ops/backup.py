"""``taichi-cloud backup DEST`` and ``restore SRC``: consistent snapshots of a running service.

A backup is a directory::

    backup.json          what is inside: database file, every file with size and sha256
    database/taichi.db   SQLite, copied with the online backup API (a consistent snapshot)
    database/dump.pgdump PostgreSQL, from ``pg_dump --format=custom``
    secret_key           DATA_DIR/secret_key, so sessions, tokens and signed URLs stay valid
    media/...            the media store (``STORAGE_URL`` file:// directory)
    uploads/...          unfinished tus uploads (DATA_DIR/uploads)

The database is copied first and the files after it, so every file a row names is in the
backup (files written later are extra, never missing). ``backup.json`` is written last: a
directory without it is an interrupted backup. The search index is not copied; ``restore``
rebuilds it from the restored catalog.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from .. import __version__
from ..errors import Conflict, Invalid
from ..settings import Settings

FORMAT = 1
MANIFEST = "backup.json"
SQLITE_FILE = "database/taichi.db"
PG_DUMP_FILE = "database/dump.pgdump"
SECRET_FILE = "secret_key"
CHUNK = 1024 * 1024
#: Files a store writes before an atomic rename (``.name.abcd``, ``dir.tmp-…``, ``dir.old-…``).
_TRANSIENT = re.compile(r"^\.|\.(tmp|old)-[0-9a-f]+$")


@dataclass(frozen=True)
class FileRecord:
    path: str  # relative to the backup directory, "/"-separated
    size: int
    sha256: str

    def as_json(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256}


def store_root(settings: Settings) -> Path:
    url = settings.resolved_storage_url
    if not url.startswith("file://"):
        raise Invalid(f"backup copies file:// media stores only, not {url!r}; "
                      "back up the object store with its own tools", field="storage_url")
    return Path(url.removeprefix("file://"))


def sqlite_path(settings: Settings) -> Path | None:
    url = settings.resolved_database_url
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite") else None


def copy_with_digest(source: Path, target: Path) -> FileRecord | None:
    """Copy ``source`` to ``target`` hashing the bytes written; None if it vanished meanwhile."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    try:
        with source.open("rb") as src, target.open("wb") as dst:
            while chunk := src.read(CHUNK):
                digest.update(chunk)
                dst.write(chunk)
                size += len(chunk)
            dst.flush()
            os.fsync(dst.fileno())
    except FileNotFoundError:
        target.unlink(missing_ok=True)
        return None
    return FileRecord("", size, digest.hexdigest())


def file_digest(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _walk(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    found: list[Path] = []
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not _TRANSIENT.search(d))
        found += [Path(directory, f) for f in sorted(files) if not _TRANSIENT.search(f)]
    return found


def copy_tree(source_root: Path, dest: Path, prefix: str) -> list[FileRecord]:
    records: list[FileRecord] = []
    for source in _walk(source_root):
        relative = f"{prefix}/{source.relative_to(source_root).as_posix()}"
        copied = copy_with_digest(source, dest / relative)
        if copied is not None:
            records.append(FileRecord(relative, copied.size, copied.sha256))
    return records


def is_empty_dir(path: Path) -> bool:
    return not path.exists() or (path.is_dir() and not any(path.iterdir()))


# -- databases ---------------------------------------------------------------------------------

def snapshot_sqlite(source: Path, target: Path) -> None:
    """The online backup API from a separate read connection: a consistent copy, WAL or not."""
    if not source.exists():
        raise Invalid(f"there is no database at {source}; nothing to back up")
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(source.resolve().as_uri() + "?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)  # all pages in one step: one read transaction, one snapshot
        dst.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
    finally:
        dst.close()
        src.close()


def _pg_target(url: str) -> tuple[str, str | None]:
    """A libpq URL without our ``?schema=`` parameter, and that schema."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    schema = query.pop("schema", [None])[0]
    scheme = "postgresql" if parts.scheme in ("postgresql", "postgres") else parts.scheme
    return urlunsplit(parts._replace(scheme=scheme, query=urlencode(query, doseq=True))), schema


def _require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise Invalid(f"{name} is not on PATH: install the PostgreSQL client tools "
                      f"(the same major version as the server) to back up or restore PostgreSQL")
    return path


def _run_tool(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise Invalid(f"{Path(argv[0]).name} failed: {done.stderr.strip()[-2000:]}")


def dump_postgres(url: str, target: Path) -> None:
    libpq_url, schema = _pg_target(url)
    target.parent.mkdir(parents=True, exist_ok=True)
    argv = [_require_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
            f"--file={target}", f"--dbname={libpq_url}"]
    if schema:
        argv.append(f"--schema={schema}")
    _run_tool(argv)


def restore_postgres(url: str, source: Path, *, clean: bool) -> None:
    libpq_url, _schema = _pg_target(url)
    argv = [_require_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error",
            f"--dbname={libpq_url}"]
    if clean:
        argv += ["--clean", "--if-exists"]
    _run_tool([*argv, str(source)])


# -- backup ------------------------------------------------------------------------------------

def write_backup(settings: Settings, dest: Path) -> dict[str, Any]:
    """Write a backup of the service described by ``settings`` into ``dest`` (new or empty)."""
    if not is_empty_dir(dest):
        raise Conflict(f"{dest} is not empty; back up into a new directory")
    dest.mkdir(parents=True, exist_ok=True)
    media_root = store_root(settings)
    db_file = sqlite_path(settings)
    if db_file is not None:
        snapshot_sqlite(db_file, dest / SQLITE_FILE)
        database: dict[str, Any] = {"dialect": "sqlite", "path": SQLITE_FILE}
        db_path = SQLITE_FILE
    else:
        dump_postgres(settings.resolved_database_url, dest / PG_DUMP_FILE)
        database = {"dialect": "postgresql", "path": PG_DUMP_FILE}
        db_path = PG_DUMP_FILE
    size, sha = file_digest(dest / db_path)
    files = [FileRecord(db_path, size, sha)]
    secret = settings.data_path / SECRET_FILE
    if secret.exists():
        copied = copy_with_digest(secret, dest / SECRET_FILE)
        if copied is not None:
            files.append(FileRecord(SECRET_FILE, copied.size, copied.sha256))
    files += copy_tree(media_root, dest, "media")
    files += copy_tree(settings.data_path / "uploads", dest, "uploads")
    manifest = {
        "format": FORMAT, "version": __version__,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "database": database, "files": [f.as_json() for f in files],
    }
    temp = dest / (MANIFEST + ".partial")
    temp.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    os.replace(temp, dest / MANIFEST)
    return manifest


# -- restore -----------------------------------------------------------------------------------

def read_manifest(src: Path) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads((src / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise Invalid(f"{src} is not a complete backup (no {MANIFEST})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Invalid(f"{src / MANIFEST} is damaged: {exc}") from None
    if manifest.get("format") != FORMAT:
        raise Invalid(f"{src} has backup format {manifest.get('format')!r}; this build reads {FORMAT}")
    return manifest


def _safe_relative(path: str) -> str:
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\\" in path:
        raise Invalid(f"the backup manifest names an unsafe path {path!r}")
    return path


def verify_backup(src: Path, manifest: dict[str, Any]) -> list[FileRecord]:
    """Every file exists with the recorded size and sha256, or :class:`Invalid` names it."""
    records: list[FileRecord] = []
    for item in manifest.get("files", []):
        record = FileRecord(_safe_relative(str(item["path"])), int(item["size"]), str(item["sha256"]))
        path = src / record.path
        if not path.is_file():
            raise Invalid(f"the backup is missing {record.path}")
        size, sha = file_digest(path)
        if (size, sha) != (record.size, record.sha256):
            raise Invalid(f"{record.path} in the backup does not match its checksum "
                          f"(size {size}, expected {record.size})")
        records.append(record)
    return records


def _restore_target_checks(settings: Settings, force: bool) -> None:
    data, media = settings.data_path, store_root(settings)
    if force:
        return
    for label, path in (("data directory", data), ("media store", media)):
        if not is_empty_dir(path):
            raise Conflict(f"the {label} {path} is not empty; restore into an empty one "
                           "or pass --force to replace what is there")


def _clear_for_restore(settings: Settings) -> None:
    db_file = sqlite_path(settings)
    if db_file is not None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{db_file}{suffix}").unlink(missing_ok=True)
    for name in ("search", "uploads", "work"):
        shutil.rmtree(settings.data_path / name, ignore_errors=True)


def restore_backup(settings: Settings, src: Path, *, force: bool = False) -> dict[str, Any]:
    """Bring a backup back into ``settings``' data dir and media store (checksums verified)."""
    manifest = read_manifest(src)
    records = verify_backup(src, manifest)
    _restore_target_checks(settings, force)
    if force:
        _clear_for_restore(settings)
    dialect = manifest["database"]["dialect"]
    db_file = sqlite_path(settings)
    if (dialect == "sqlite") != (db_file is not None):
        raise Invalid(f"the backup holds a {dialect} database but DATABASE_URL is "
                      f"{'SQLite' if db_file else 'PostgreSQL'}")
    settings.data_path.mkdir(parents=True, exist_ok=True)
    if db_file is not None:
        snapshot_sqlite(src / SQLITE_FILE, db_file)
        with sqlite3.connect(db_file) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
        conn.close()
    else:
        restore_postgres(settings.resolved_database_url, src / PG_DUMP_FILE, clean=force)
    media_root = store_root(settings)
    for record in records:
        top, _, rest = record.path.partition("/")
        if top == "media":
            target = media_root / rest
        elif top == "uploads":
            target = settings.data_path / "uploads" / rest
        elif record.path == SECRET_FILE:
            target = settings.data_path / SECRET_FILE
        else:
            continue  # the database, restored above
        copied = copy_with_digest(src / record.path, target)
        if copied is None or copied.sha256 != record.sha256:
            raise Invalid(f"{record.path} changed while it was being restored")
        if record.path == SECRET_FILE:
            target.chmod(0o600)
    return manifest


async def rebuild_search(settings: Settings) -> int:
    from ..search import reindex

    return await reindex(settings)


async def backup_command(settings: Settings, dest: str) -> int:
    manifest = await asyncio.to_thread(write_backup, settings, Path(dest))
    files = manifest["files"]
    total = sum(f["size"] for f in files)
    print(f"backup written to {dest}: {manifest['database']['dialect']} database and "
          f"{len(files) - 1} files, {total} bytes")
    return 0


async def restore_command(settings: Settings, src: str, *, force: bool) -> int:
    manifest = await asyncio.to_thread(restore_backup, settings, Path(src), force=force)
    from ..db import Database, migrate

    db = Database(settings.resolved_database_url)
    await db.connect()
    try:
        await migrate(db)  # a backup from an older release gets the current schema
    finally:
        await db.close()
    documents = await rebuild_search(settings)
    print(f"restored the backup of {manifest['created_at']} into {settings.data_dir}: "
          f"{len(manifest['files'])} files verified, search index rebuilt ({documents} documents)")
    return 0
