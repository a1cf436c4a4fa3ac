"""The command line as a user runs it: real processes, real files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, data_dir: Path, stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "taichi_cloud", "--data-dir", str(data_dir), *args],
                          input=stdin, capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={**os.environ, **(env or {})})


def test_migrate_users_add_and_import(tmp_path):
    data = tmp_path / "data"
    first = run("migrate", data_dir=data)
    assert first.returncode == 0, first.stderr
    assert "applied catalog:1" in first.stdout
    assert "up to date" in run("migrate", data_dir=data).stdout

    added = run("users", "add", "Keeper@Example.org", "--role", "curator", "--password-stdin",
                data_dir=data, stdin="a long password\n")
    assert added.returncode == 0, added.stderr
    assert "created curator keeper@example.org" in added.stdout
    again = run("users", "add", "keeper@example.org", "--role", "curator", "--password-stdin",
                data_dir=data, stdin="a long password\n")
    assert again.returncode == 2 and "already exists" in again.stderr
    short = run("users", "add", "x@example.org", "--role", "learner", "--password-stdin",
                data_dir=data, stdin="short\n")
    assert short.returncode == 2 and "at least 8" in short.stderr

    imported = run("import", str(ROOT / "catalog" / "people.yaml"), data_dir=data)
    assert imported.returncode == 0, imported.stderr
    assert "created" in imported.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("- id: x\n  kind: dragon\n  translations: {en: {title: X}}\n")
    failed = run("import", str(bad), data_dir=data)
    assert failed.returncode == 2 and "kind" in failed.stderr


def test_bad_settings_stop_with_a_message(tmp_path):
    result = run("migrate", data_dir=tmp_path, env={"TAICHI_CLOUD_MAX_UPLOAD_BYTES": "huge"})
    assert result.returncode == 2
    assert "TAICHI_CLOUD_MAX_UPLOAD_BYTES" in result.stderr and "Traceback" not in result.stderr
