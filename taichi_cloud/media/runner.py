"""Running ffmpeg with progress reporting, blocking or from asyncio (cancellable)."""

from __future__ import annotations

import asyncio
import collections
import subprocess
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import IO

from taichi_cloud.media.errors import TranscodeFailed
from taichi_cloud.media.tools import ffmpeg_binary

ProgressCallback = Callable[[float], None]
STDERR_TAIL_LINES = 25
_GLOBAL_ARGS = ("-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-progress", "pipe:1", "-nostats")


def ffmpeg_command(args: Sequence[str]) -> list[str]:
    """The full argv: executable, our global options (progress on stdout), then ``args``."""
    return [ffmpeg_binary(), *_GLOBAL_ARGS, *args]


class ProgressParser:
    """Turns ``-progress`` key=value lines into a monotonic fraction 0..1 of ``duration``."""

    def __init__(self, duration: float, on_progress: ProgressCallback | None) -> None:
        self.duration = duration
        self.on_progress = on_progress
        self.fraction = 0.0

    def feed(self, line: str) -> None:
        key, _, value = line.strip().partition("=")
        if key in ("out_time_us", "out_time_ms") and value.lstrip("-").isdigit():
            # Both keys carry microseconds (out_time_ms is misnamed in ffmpeg).
            if self.duration > 0:
                self._report(min(0.999, int(value) / 1_000_000 / self.duration))
        elif key == "progress" and value == "end":
            self._report(1.0)

    def _report(self, fraction: float) -> None:
        if fraction > self.fraction or (fraction == 1.0 and self.fraction < 1.0):
            self.fraction = max(self.fraction, fraction)
            if self.on_progress is not None:
                self.on_progress(self.fraction)


def run_ffmpeg(
    args: Sequence[str],
    duration: float,
    on_progress: ProgressCallback | None = None,
    timeout: float | None = None,
) -> None:
    """Run ffmpeg to completion; raise ``TranscodeFailed`` with the last stderr lines."""
    parser = ProgressParser(duration, on_progress)
    tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
    process = subprocess.Popen(
        ffmpeg_command(args),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
    )
    assert process.stdout is not None and process.stderr is not None
    stderr_reader = threading.Thread(target=_collect, args=(process.stderr, tail), daemon=True)
    stderr_reader.start()
    timed_out = threading.Event()

    def kill_on_timeout() -> None:
        timed_out.set()
        process.kill()

    timer = threading.Timer(timeout, kill_on_timeout) if timeout else None
    if timer is not None:
        timer.start()
    try:
        for line in process.stdout:
            parser.feed(line)
        returncode = process.wait()
    finally:
        if timer is not None:
            timer.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
        stderr_reader.join(timeout=5)
    _check(returncode, timed_out.is_set(), timeout, tail)


async def run_ffmpeg_async(
    args: Sequence[str],
    duration: float,
    on_progress: ProgressCallback | None = None,
    timeout: float | None = None,  # noqa: ASYNC109 - same contract as run_ffmpeg; also kills ffmpeg
) -> None:
    """Like ``run_ffmpeg``; cancelling the awaiting task kills the ffmpeg process."""
    parser = ProgressParser(duration, on_progress)
    tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
    process = await asyncio.create_subprocess_exec(
        *ffmpeg_command(args),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None

    async def pump(stream: asyncio.StreamReader, sink: Callable[[str], None]) -> None:
        async for raw in stream:
            sink(raw.decode("utf-8", "replace"))

    timed_out = False
    try:
        async with asyncio.timeout(timeout):
            await asyncio.gather(
                pump(process.stdout, parser.feed),
                pump(process.stderr, lambda text: tail.append(text.rstrip())),
            )
            returncode = await process.wait()
    except TimeoutError:
        timed_out = True
        returncode = -9
    finally:
        if process.returncode is None:
            process.kill()
            # Shielded so that a second cancellation cannot leave a zombie behind.
            await asyncio.shield(process.wait())
    _check(returncode, timed_out, timeout, tail)


def _collect(stream: IO[str], tail: collections.deque[str]) -> None:
    for line in stream:
        tail.append(line.rstrip())


def _check(returncode: int, timed_out: bool, timeout: float | None, tail: Iterable[str]) -> None:
    stderr_tail = "\n".join(line for line in tail if line)
    if timed_out:
        raise TranscodeFailed(
            f"ffmpeg did not finish within {timeout:g} s", stderr_tail=stderr_tail
        )
    if returncode != 0:
        raise TranscodeFailed(
            f"ffmpeg exited with status {returncode}",
            stderr_tail=stderr_tail,
            returncode=returncode,
        )
