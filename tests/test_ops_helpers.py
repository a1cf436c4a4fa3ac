"""A real ``taichi-cloud serve`` process for the operations tests (and a test of the helper).

Used by test_ops_shutdown, test_backup and test_fuzz_api: each starts its own server on a free
127.0.0.1 port with its own data dir and media store, and reads its stderr afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def instance_env(base: Path, **settings: str) -> dict[str, str]:
    """Environment for a process working on the instance kept under ``base``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAICHI_CLOUD_")}
    env.update({"TAICHI_CLOUD_DATA_DIR": str(base / "data"),
                "TAICHI_CLOUD_STORAGE_URL": f"file://{base / 'media'}",
                "TAICHI_CLOUD_SECRET_KEY": "", "PYTHONUNBUFFERED": "1"})
    env.update({f"TAICHI_CLOUD_{k.upper()}": v for k, v in settings.items()})
    return env


def run_cli(env: dict[str, str], *args: str, stdin: str | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "taichi_cloud", *args], env=env, cwd=ROOT,
                          input=stdin, capture_output=True, text=True, timeout=timeout, check=False)


def add_user(env: dict[str, str], email: str, role: str, password: str) -> None:
    done = run_cli(env, "users", "add", email, "--role", role, "--password-stdin", stdin=password + "\n")
    assert done.returncode == 0, done.stderr


class ServerProcess:
    """``python -m taichi_cloud serve`` on a free port; stderr goes to a file."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "taichi_cloud", "serve", "--port", str(self.port)],
            env=env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.base_url + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"serve did not answer /healthz within {timeout}s:\n{self.log()}")

    def terminate(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self._log.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._log.close()

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def json_lines(self) -> list[dict[str, Any]]:
        lines = []
        for line in self.log().splitlines():
            if line.startswith("{"):
                lines.append(json.loads(line))
        return lines

    def __enter__(self) -> ServerProcess:
        try:
            self.wait_ready()
        except BaseException:
            self.kill()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


def test_a_server_process_starts_answers_and_stops(tmp_path):
    env = instance_env(tmp_path)
    with ServerProcess(env, tmp_path / "serve.log") as server:
        with urllib.request.urlopen(server.base_url + "/healthz") as r:
            assert json.loads(r.read()) == {"status": "ok"}
        assert server.terminate() == 0
