"""Progress heartbeats with group commit: many concurrent heartbeats share one transaction.

A heartbeat is acknowledged only after the transaction holding it has committed, so an
acknowledged heartbeat is durable; while one batch is being written the next one gathers, so
the batch size grows with load and a quiet server still answers at once.

State is merged in Python from what is stored: the raw heartbeat rows make ``(session, seq)``
idempotent, interval union makes arrival order irrelevant, and the resume position follows
the newest heartbeat (by seq within a session, by time across sessions and devices).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ..db import Database
from ..util import iso
from .intervals import Interval, WatchedIntervals
from .service import LessonRef
from .tables import heartbeats, lesson_progress, watch_sessions

log = logging.getLogger(__name__)
#: Completion compares floats from many merges; this absorbs rounding, not real seconds.
EPSILON = 1e-6
MAX_BATCH = 1000


@dataclass
class Heartbeat:
    user_id: str
    lesson: LessonRef
    session: str
    seq: int
    position: float
    segments: list[Interval]
    duration: float
    trusted_duration: bool  # from the media / chapters (True) or the client (False)
    at: str  # when it was sent: client time clamped to the server's, else the server's
    event: str | None = None
    from_position: float | None = None


@dataclass
class LessonState:
    watched_seconds: float
    fraction: float
    completed: bool
    position: float
    duration: float

    def public(self) -> dict[str, Any]:
        return {"watched_seconds": round(self.watched_seconds, 3),
                "fraction": round(self.fraction, 4), "completed": self.completed,
                "position": round(self.position, 3), "duration": round(self.duration, 3)}


@dataclass
class LearningEvent:
    """Something an xAPI statement is made of; produced inside the batch that caused it."""

    verb: str
    heartbeat: Heartbeat
    duration: float
    progress: float
    watched_seconds: float
    session_segments: WatchedIntervals
    time_from: float | None = None


EventSink = Callable[[AsyncConnection, list[LearningEvent]], Awaitable[None]]


@dataclass
class _Progress:
    intervals: WatchedIntervals
    duration: float
    position: float
    position_session: str
    position_seq: int
    position_at: str
    completed_at: str | None
    exists: bool
    dirty: bool = False

    def state(self, threshold: float) -> LessonState:
        watched = self.intervals.clip(self.duration).total if self.duration else 0.0
        fraction = min(1.0, watched / self.duration) if self.duration else 0.0
        return LessonState(watched, fraction, self.completed_at is not None, self.position,
                           self.duration)


@dataclass
class _Session:
    intervals: WatchedIntervals
    last_seq: int
    position: float
    exists: bool
    dirty: bool = False


@dataclass
class _Pending:
    heartbeat: Heartbeat
    done: asyncio.Future[LessonState] = field(repr=False)


class ProgressRecorder:
    def __init__(self, db: Database, sink: EventSink | None = None) -> None:
        self.db = db
        self.sink = sink
        self._pending: list[_Pending] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0  # for the benchmark: how many transactions carried the heartbeats
        self.recorded = 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="progress-writer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self._pending:  # flush what is left rather than dropping acknowledged work
            batch, self._pending = self._pending, []
            await self._flush(batch)

    async def record(self, heartbeat: Heartbeat) -> LessonState:
        done: asyncio.Future[LessonState] = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(heartbeat, done))
        self._wake.set()
        if self._task is None:  # not started (e.g. a script): write synchronously
            batch, self._pending = self._pending, []
            await self._flush(batch)
        return await done

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                await self._flush(batch)

    async def _flush(self, batch: list[_Pending]) -> None:
        try:
            async with self.db.write() as conn:
                states = await self._apply(conn, [p.heartbeat for p in batch])
        except Exception as exc:
            log.exception("writing %d heartbeats failed", len(batch))
            for pending in batch:
                if not pending.done.done():
                    pending.done.set_exception(exc)
            return
        self.batches += 1
        self.recorded += len(batch)
        for pending in batch:
            hb = pending.heartbeat
            if not pending.done.done():
                pending.done.set_result(states[(hb.user_id, hb.lesson.id)])

    async def _apply(self, conn: AsyncConnection,
                     batch: Sequence[Heartbeat]) -> dict[tuple[str, str], LessonState]:
        keys = {(hb.user_id, hb.lesson.id) for hb in batch}
        triples = {(hb.user_id, hb.lesson.id, hb.session) for hb in batch}
        progress = await _load_progress(conn, keys)
        sessions = await _load_sessions(conn, triples)
        seen = await _seen_heartbeats(conn, batch)
        new_rows: list[dict[str, Any]] = []
        events: list[LearningEvent] = []
        for hb in batch:
            key4 = (hb.user_id, hb.lesson.id, hb.session, hb.seq)
            if key4 in seen:
                continue  # a replay: already counted
            seen.add(key4)
            new_rows.append({"user_id": hb.user_id, "lesson_id": hb.lesson.id,
                             "session": hb.session, "seq": hb.seq, "position": hb.position,
                             "segments": [list(s) for s in hb.segments], "event": hb.event,
                             "at": hb.at})
            events += _merge(hb, progress, sessions)
        if new_rows:
            await conn.execute(heartbeats.insert(), new_rows)
            await _save(conn, progress, sessions, {hb.lesson.id: hb.lesson for hb in batch})
            if self.sink is not None and events:
                await self.sink(conn, events)
        thresholds = {hb.lesson.id: hb.lesson.threshold for hb in batch}
        return {key: progress[key].state(thresholds[key[1]]) for key in keys}


def _merge(hb: Heartbeat, progress: dict[tuple[str, str], _Progress],
           sessions: dict[tuple[str, str, str], _Session]) -> list[LearningEvent]:
    key = (hb.user_id, hb.lesson.id)
    state = progress.get(key)
    if state is None:
        state = progress[key] = _Progress(WatchedIntervals(), 0.0, hb.position, hb.session,
                                          hb.seq, hb.at, None, exists=False)
    if hb.trusted_duration:
        state.duration = hb.duration
    else:  # a client cannot shrink the duration later to complete sooner
        state.duration = max(state.duration, hb.duration)
    state.intervals = state.intervals.merge(hb.segments)
    newer = hb.seq >= state.position_seq if hb.session == state.position_session \
        else hb.at > state.position_at
    if newer:
        state.position, state.position_session = hb.position, hb.session
        state.position_seq, state.position_at = hb.seq, hb.at
    state.dirty = True

    skey = (hb.user_id, hb.lesson.id, hb.session)
    session = sessions.get(skey)
    events: list[LearningEvent] = []
    fresh_session = session is None
    if session is None:
        session = sessions[skey] = _Session(WatchedIntervals(), hb.seq, hb.position, exists=False)
    previous_position = session.position
    session.intervals = session.intervals.merge(hb.segments)
    if hb.seq >= session.last_seq:
        session.last_seq, session.position = hb.seq, hb.position
    session.dirty = True

    lesson_state = state.state(hb.lesson.threshold)

    def event(verb: str, time_from: float | None = None) -> LearningEvent:
        return LearningEvent(verb, hb, state.duration, lesson_state.fraction,
                             lesson_state.watched_seconds, session.intervals, time_from)

    if fresh_session:
        events.append(event("initialized"))
    verb = {"play": "played", "pause": "paused", "seek": "seeked", "ended": "paused",
            "terminate": "terminated"}.get(hb.event or "")
    if verb:
        from_position = hb.from_position if hb.from_position is not None else previous_position
        events.append(event(verb, from_position if verb == "seeked" else None))
    if state.completed_at is None and state.duration > 0 and \
            lesson_state.watched_seconds + EPSILON >= hb.lesson.threshold * state.duration:
        state.completed_at = iso()
        events.append(event("completed"))
    return events


async def _load_progress(conn: AsyncConnection,
                         keys: set[tuple[str, str]]) -> dict[tuple[str, str], _Progress]:
    # IN on each column, then the exact pairs in Python (a long OR chain hits SQLite's limits).
    rows = (await conn.execute(sa.select(lesson_progress).where(
        lesson_progress.c.user_id.in_({k[0] for k in keys}),
        lesson_progress.c.lesson_id.in_({k[1] for k in keys})))).all()
    return {(r.user_id, r.lesson_id): _Progress(
        WatchedIntervals.from_json(r.intervals), float(r.duration), float(r.position),
        r.position_session, int(r.position_seq), r.position_at, r.completed_at, exists=True)
        for r in rows if (r.user_id, r.lesson_id) in keys}


async def _load_sessions(conn: AsyncConnection, triples: set[tuple[str, str, str]]
                         ) -> dict[tuple[str, str, str], _Session]:
    users = {t[0] for t in triples}
    wanted = {t[2] for t in triples}
    rows = (await conn.execute(sa.select(watch_sessions).where(
        watch_sessions.c.user_id.in_(users), watch_sessions.c.session.in_(wanted)))).all()
    return {(r.user_id, r.lesson_id, r.session): _Session(
        WatchedIntervals.from_json(r.intervals), int(r.last_seq), float(r.position), exists=True)
        for r in rows if (r.user_id, r.lesson_id, r.session) in triples}


async def _seen_heartbeats(conn: AsyncConnection,
                           batch: Sequence[Heartbeat]) -> set[tuple[str, str, str, int]]:
    sessions = {hb.session for hb in batch}
    seqs = {hb.seq for hb in batch}
    users = {hb.user_id for hb in batch}
    rows = (await conn.execute(sa.select(heartbeats.c.user_id, heartbeats.c.lesson_id,
                                         heartbeats.c.session, heartbeats.c.seq).where(
        heartbeats.c.user_id.in_(users), heartbeats.c.session.in_(sessions),
        heartbeats.c.seq.in_(seqs)))).all()
    return {(r.user_id, r.lesson_id, r.session, int(r.seq)) for r in rows}


async def _save(conn: AsyncConnection, progress: dict[tuple[str, str], _Progress],
                sessions: dict[tuple[str, str, str], _Session],
                refs: dict[str, LessonRef]) -> None:
    now = iso()
    inserts, updates = [], []
    for (user_id, lesson_id), p in progress.items():
        if not p.dirty:
            continue
        values = {"intervals": p.intervals.to_json(),
                  "watched_seconds": p.intervals.clip(p.duration).total if p.duration else 0.0,
                  "duration": p.duration, "position": p.position,
                  "position_session": p.position_session, "position_seq": p.position_seq,
                  "position_at": p.position_at, "completed_at": p.completed_at, "updated_at": now}
        if p.exists:
            updates.append({"k_user": user_id, "k_lesson": lesson_id, **values})
        else:
            ref = refs[lesson_id]
            inserts.append({"user_id": user_id, "lesson_id": lesson_id,
                            "course_id": ref.course_id, "entry_id": ref.entry_id, **values})
    if inserts:
        await conn.execute(lesson_progress.insert(), inserts)
    if updates:
        await conn.execute(lesson_progress.update().where(
            lesson_progress.c.user_id == sa.bindparam("k_user"),
            lesson_progress.c.lesson_id == sa.bindparam("k_lesson")), updates)
    s_inserts, s_updates = [], []
    for (user_id, lesson_id, session), s in sessions.items():
        if not s.dirty:
            continue
        values = {"intervals": s.intervals.to_json(), "last_seq": s.last_seq,
                  "position": s.position}
        if s.exists:
            s_updates.append({"k_user": user_id, "k_lesson": lesson_id, "k_session": session,
                              **values})
        else:
            s_inserts.append({"user_id": user_id, "lesson_id": lesson_id, "session": session,
                              "started_at": now, **values})
    if s_inserts:
        await conn.execute(watch_sessions.insert(), s_inserts)
    if s_updates:
        await conn.execute(watch_sessions.update().where(
            watch_sessions.c.user_id == sa.bindparam("k_user"),
            watch_sessions.c.lesson_id == sa.bindparam("k_lesson"),
            watch_sessions.c.session == sa.bindparam("k_session")), s_updates)
