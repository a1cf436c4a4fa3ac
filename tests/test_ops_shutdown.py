"""Graceful shutdown and JSON access logs, on a real ``taichi-cloud serve`` process.

The in-flight request is a real sign-up whose database write is held up: the test keeps the
SQLite write lock (as a long backup or another writer would), sends SIGTERM while the handler
waits for it, then lets go. The request must still be answered and the process exit 0.
"""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import time
import urllib.request

from .test_ops_helpers import ServerProcess, instance_env


def _post_register(port: int, body: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(("POST /api/v1/auth/register HTTP/1.1\r\n"
                  f"Host: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                  f"Content-Length: {len(body)}\r\nX-Request-Id: held-register\r\n"
                  "Connection: close\r\n\r\n").encode() + body)
    return sock


def _read_response(sock: socket.socket) -> tuple[int, bytes]:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    assert head, "the connection closed without a response"
    return int(head.split(b" ", 2)[1]), body


def _accepting(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return True
    except OSError:
        return False


def test_sigterm_lets_an_in_flight_request_finish_and_exits_0(tmp_path):
    env = instance_env(tmp_path, log_format="json")
    with ServerProcess(env, tmp_path / "serve.log") as server:
        request = urllib.request.Request(server.base_url + "/healthz",
                                         headers={"X-Request-Id": "probe-before-term"})
        with urllib.request.urlopen(request) as r:
            assert r.status == 200

        lock = sqlite3.connect(tmp_path / "data" / "taichi.db", isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")  # the server's next write waits (busy_timeout)
        body = json.dumps({"email": "late@example.org", "password": "a long enough password",
                           "name": "Late"}).encode()
        sock = _post_register(server.port, body)
        time.sleep(1.0)  # the handler has hashed the password and now waits for the lock
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(1.5)
        assert server.proc.poll() is None, "serve quit with a request in flight"
        assert not _accepting(server.port), "still accepting connections after SIGTERM"
        lock.rollback()
        lock.close()
        status, answer = _read_response(sock)
        sock.close()
        assert status == 201, answer
        assert json.loads(answer)["user"]["email"] == "late@example.org"
        assert server.proc.wait(30) == 0
        lines = server.json_lines()

    users = sqlite3.connect(tmp_path / "data" / "taichi.db")
    try:
        emails = [row[0] for row in users.execute("SELECT email FROM users")]
    finally:
        users.close()
    assert "late@example.org" in emails  # acknowledged, and there after the shutdown

    access = [line for line in lines if line["logger"] == "taichi_cloud.access"]
    probe = next(line for line in access if line["request_id"] == "probe-before-term")
    assert probe["method"] == "GET" and probe["path"] == "/healthz" and probe["status"] == 200
    assert isinstance(probe["duration_ms"], float) and probe["duration_ms"] >= 0
    assert probe["level"] == "info" and probe["time"].endswith("Z")
    held = next(line for line in access if line["request_id"] == "held-register")
    assert held["status"] == 201 and held["duration_ms"] > 2000
    for line in lines:  # every line is a complete structured record
        assert {"time", "level", "logger", "message", "request_id"} <= set(line)
