"""``backup`` while serving, ``restore`` into a fresh instance, and the refusals in between."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import sqlite3
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from taichi_cloud.ops.backup import SECRET_FILE, SQLITE_FILE
from taichi_cloud.storage import open_store

from .test_catalog import VIDEO
from .test_ops_helpers import ServerProcess, add_user, instance_env, run_cli

PASSWORD = "a long enough password"


def call(base: str, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def login(base: str, email: str) -> str:
    status, body = call(base, "POST", "/api/v1/auth/login", {"email": email, "password": PASSWORD})
    assert status == 200, body
    return str(body["token"])


def populate(base: str) -> dict[str, Any]:
    curator, reviewer = login(base, "curator@example.org"), login(base, "reviewer@example.org")
    entries = []
    for n in range(3):
        body = {**VIDEO, "translations": {**VIDEO["translations"],
                                          "en": {"title": f"Backup form {n}", "summary": "kept"}}}
        status, entry = call(base, "POST", "/api/v1/entries", body, curator)
        assert status == 201, entry
        entries.append(entry)
    published = entries[0]["id"]
    for to, token in (("review", curator), ("published", reviewer)):
        status, _ = call(base, "POST", f"/api/v1/entries/{published}/transitions", {"to": to}, token)
        assert status == 200
    status, _ = call(base, "POST", "/api/v1/auth/register",
                     {"email": "learner@example.org", "password": PASSWORD, "name": "Learner"})
    assert status == 201
    return {"curator": curator, "entries": {e["id"]: e for e in entries}, "published": published}


def write_media(media: Path) -> dict[str, str]:
    """A few blobs through the real store (atomic writes), plus a writer's leftover temp file."""
    store = open_store(f"file://{media}")
    blobs = {"originals/m1/source": b"\x00\x01" * 50_000, "streams/m1/master.m3u8": b"#EXTM3U\n",
             "streams/m1/v0/seg-00001.m4s": bytes(range(256)) * 300}
    for key, data in blobs.items():
        asyncio.run(store.put_bytes(key, data))
    (media / "streams" / "m1" / ".seg-00002.m4s.1a2b").write_bytes(b"half written")
    return {key: hashlib.sha256(data).hexdigest() for key, data in blobs.items()}


def test_backup_while_serving_and_restore_into_a_fresh_instance(tmp_path):
    source_env = instance_env(tmp_path / "a")
    for email, role in (("curator@example.org", "curator"), ("reviewer@example.org", "reviewer")):
        add_user(source_env, email, role, PASSWORD)
    backup_dir = tmp_path / "backup"
    with ServerProcess(source_env, tmp_path / "a.log") as server:
        state = populate(server.base_url)
        digests = write_media(tmp_path / "a" / "media")
        stop = threading.Event()
        written: list[int] = []

        def keep_writing() -> None:  # the service keeps taking writes during the backup
            while not stop.is_set():
                status, _ = call(server.base_url, "POST", "/api/v1/auth/register",
                                 {"email": f"busy{len(written)}@example.org", "password": PASSWORD,
                                  "name": "Busy"})
                written.append(status)

        writer = threading.Thread(target=keep_writing)
        writer.start()
        try:
            done = run_cli(source_env, "backup", str(backup_dir))
        finally:
            stop.set()
            writer.join()
        assert done.returncode == 0, done.stderr
        assert written and set(written) == {201}
        assert server.terminate() == 0

    manifest = json.loads((backup_dir / "backup.json").read_text())
    listed = {f["path"]: f for f in manifest["files"]}
    for key, digest in digests.items():
        assert listed[f"media/{key}"]["sha256"] == digest
    assert not any("/." in path for path in listed), "a temp file was backed up"
    assert {SQLITE_FILE, SECRET_FILE} <= set(listed)
    snapshot = sqlite3.connect(backup_dir / SQLITE_FILE)
    try:
        assert snapshot.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        users_in_backup = {r[0] for r in snapshot.execute("SELECT email FROM users")}
    finally:
        snapshot.close()
    assert {"curator@example.org", "learner@example.org"} <= users_in_backup

    target_env = instance_env(tmp_path / "b")
    done = run_cli(target_env, "restore", str(backup_dir))
    assert done.returncode == 0, done.stderr
    assert "search index rebuilt" in done.stdout
    for key, digest in digests.items():
        assert hashlib.sha256((tmp_path / "b" / "media" / key).read_bytes()).hexdigest() == digest

    with ServerProcess(target_env, tmp_path / "b.log") as server:
        base = server.base_url
        for entry_id, entry in state["entries"].items():
            status, body = call(base, "GET", f"/api/v1/entries/{entry_id}", token=state["curator"])
            assert status == 200  # the old token still works: tokens and secret came along
            assert body["translations"] == entry["translations"]
        login(base, "learner@example.org")
        status, found = call(base, "GET", "/api/v1/search?q=Backup+form&lang=en")
        assert status == 200 and state["published"] in [h["id"] for h in found["hits"]]
        users_after = {r[0] for r in sqlite3.connect(tmp_path / "b" / "data" / "taichi.db")
                       .execute("SELECT email FROM users")}
        assert users_after == users_in_backup


def make_small_backup(tmp_path: Path) -> tuple[dict[str, str], Path]:
    env = instance_env(tmp_path / "src")
    add_user(env, "one@example.org", "learner", PASSWORD)
    write_media(tmp_path / "src" / "media")
    done = run_cli(env, "backup", str(tmp_path / "bk"))
    assert done.returncode == 0, done.stderr
    return env, tmp_path / "bk"


def test_restore_refuses_non_empty_targets_and_damaged_backups(tmp_path):
    env, backup = make_small_backup(tmp_path)
    done = run_cli(env, "backup", str(backup))
    assert done.returncode == 2 and "not empty" in done.stderr

    target = instance_env(tmp_path / "dst")
    (tmp_path / "dst" / "data").mkdir(parents=True)
    (tmp_path / "dst" / "data" / "notes.txt").write_text("mine")
    done = run_cli(target, "restore", str(backup))
    assert done.returncode == 2 and "not empty" in done.stderr and "--force" in done.stderr
    assert not (tmp_path / "dst" / "data" / "taichi.db").exists()

    damaged = tmp_path / "damaged"
    shutil.copytree(backup, damaged)
    segment = damaged / "media" / "streams" / "m1" / "v0" / "seg-00001.m4s"
    segment.write_bytes(b"X" + segment.read_bytes()[1:])
    fresh = instance_env(tmp_path / "fresh")
    done = run_cli(fresh, "restore", str(damaged))
    assert done.returncode == 2 and "seg-00001.m4s" in done.stderr and "checksum" in done.stderr
    assert not (tmp_path / "fresh" / "data").exists()  # nothing written before verification

    (damaged / "backup.json").unlink()
    done = run_cli(fresh, "restore", str(damaged))
    assert done.returncode == 2 and "not a complete backup" in done.stderr

    done = run_cli(target, "restore", "--force", str(backup))
    assert done.returncode == 0, done.stderr
    emails = {r[0] for r in sqlite3.connect(tmp_path / "dst" / "data" / "taichi.db")
              .execute("SELECT email FROM users")}
    assert emails == {"one@example.org"}


def test_a_manifest_cannot_write_outside_the_target(tmp_path):
    _env, backup = make_small_backup(tmp_path)
    for n, path in enumerate(["../outside", "/etc/passwd", "media/../../outside"]):
        hostile = tmp_path / f"hostile{n}"
        shutil.copytree(backup, hostile)
        manifest = json.loads((hostile / "backup.json").read_text())
        manifest["files"].append({"path": path, "size": 1, "sha256": "0" * 64})
        (hostile / "backup.json").write_text(json.dumps(manifest))
        done = run_cli(instance_env(tmp_path / "t"), "restore", str(hostile))
        assert done.returncode == 2 and "unsafe path" in done.stderr, (path, done.stderr)
    assert not (tmp_path / "outside").exists() and not (tmp_path / "t" / "data").exists()
