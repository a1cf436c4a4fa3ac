"""The job queue interface. ``DatabaseQueue`` implements it on the app database; a Redis-backed
queue (issue 7) implements the same protocol, so callers and the worker never change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

ACTIVE_STATES = ("queued", "running")
FINAL_STATES = ("done", "failed", "cancelled")
CancelListener = Callable[[Sequence[str]], None]


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    kind: str
    payload: dict[str, Any]
    state: str
    tries: int  # attempts started so far, including the current one while running
    max_tries: int
    ref: str | None = None
    timeout: float | None = None
    progress: float = 0.0
    error: str | None = None
    lease_owner: str | None = None
    #: set by ``claim`` on a job whose lease expired once too often: it is already marked
    #: failed and must not run; the worker only runs its failure hook.
    exhausted: bool = False


class PermanentFailure(Exception):
    """Raised by a job handler when retrying cannot help (bad input): fail at once."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class JobQueue(Protocol):
    async def enqueue(self, kind: str, payload: dict[str, Any], *, job_id: str | None = None,
                      ref: str | None = None, max_tries: int | None = None,
                      timeout_seconds: float | None = None, delay: float = 0.0) -> str:
        """Add a job (JSON payload); an active job with the same id is left as it is."""

    async def claim(self, owner: str, kinds: Iterable[str], lease_seconds: float) -> Job | None:
        """Atomically take the next due job (or one whose lease expired)."""

    async def heartbeat(self, job_id: str, owner: str, lease_seconds: float,
                        progress: float | None = None) -> bool:
        """Extend the lease; False when the job was cancelled or taken by another worker."""

    async def complete(self, job_id: str, owner: str) -> None: ...

    async def retry(self, job_id: str, owner: str, error: str, delay: float) -> None: ...

    async def fail(self, job_id: str, owner: str, error: str) -> None: ...

    async def release(self, job_id: str, owner: str) -> None:
        """Give a running job back untouched (graceful shutdown): its try does not count."""

    async def cancel(self, *, job_id: str | None = None, ref: str | None = None) -> list[str]:
        """Cancel active jobs by id or by ref; running workers stop them."""

    async def get(self, job_id: str) -> Job | None: ...

    async def jobs_for(self, ref: str) -> list[Job]: ...

    async def counts(self) -> dict[str, int]: ...

    def add_cancel_listener(self, listener: CancelListener) -> None:
        """In-process workers hear about cancellations at once (others at their heartbeat)."""

    async def wait_for_work(self, seconds: float) -> None:
        """Return when a job may be due (woken by in-process enqueues) or after ``seconds``."""
