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
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from ..db import Database
from ..util import iso, stop_task
from .intervals import JOIN_GAP, Interval, WatchedIntervals
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
    #: ``intervals`` clipped to ``duration``, summed: computed once per change, not per use.
    _watched: float | None = field(default=None, repr=False)

    @classmethod
    def empty(cls) -> _Progress:
        """Nothing recorded yet (a batch holding only replays of a lost write)."""
        return cls(WatchedIntervals(), 0.0, 0.0, "", -1, "", None, exists=False)

    def update(self, segments: list[Interval], duration: float) -> None:
        self.intervals = self.intervals.merge(segments) if segments else self.intervals
        self.duration = duration
        self._watched = None

    @property
    def watched(self) -> float:
        if self._watched is None:
            self._watched = _watched_within(self.intervals, self.duration)
        return self._watched

    def state(self, threshold: float) -> LessonState:
        watched = self.watched
        fraction = min(1.0, watched / self.duration) if self.duration else 0.0
        return LessonState(watched, fraction, self.completed_at is not None, self.position,
                           self.duration)


def _watched_within(intervals: WatchedIntervals, duration: float) -> float:
    """``intervals.clip(duration).total`` without building the clipped set (spans are disjoint)."""
    if duration <= 0:
        return 0.0
    total = 0.0
    for start, end in intervals.spans:
        if start >= duration:
            break
        total += max(0.0, min(end, duration) - max(0.0, start))
    return total


def _stored_intervals(value: object) -> WatchedIntervals:
    """Intervals as ``to_json`` stored them: already sorted and disjoint, so kept as they are
    after a check; anything else is merged from scratch."""
    if isinstance(value, list):
        try:
            spans = tuple((float(s), float(e)) for s, e in value)
        except (TypeError, ValueError):
            return WatchedIntervals.from_json(value)
        if all(s < e for s, e in spans) and \
                all(a[1] + JOIN_GAP < b[0] for a, b in zip(spans, spans[1:], strict=False)):
            return WatchedIntervals(spans)
    return WatchedIntervals.from_json(value)


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
        await stop_task(self._task)
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
        # Insert first: the primary key decides which heartbeats are new, and a replay (also
        # one repeated inside this batch) is skipped without reading any history.
        first: dict[tuple[str, str, str, int], Heartbeat] = {}
        for hb in batch:
            first.setdefault((hb.user_id, hb.lesson.id, hb.session, hb.seq), hb)
        fresh = await self._insert_new(conn, first)
        new = [hb for key4, hb in first.items() if key4 in fresh]
        progress = await _load_progress(conn, self.db.dialect, keys)
        events: list[LearningEvent] = []
        if new:
            triples = {(hb.user_id, hb.lesson.id, hb.session) for hb in new}
            sessions = await _load_sessions(conn, self.db.dialect, triples)
            for hb in new:
                events += _merge(hb, progress, sessions)
            await _save(conn, progress, sessions, {hb.lesson.id: hb.lesson for hb in new})
            if self.sink is not None and events:
                await self.sink(conn, events)
        thresholds = {hb.lesson.id: hb.lesson.threshold for hb in batch}
        return {key: progress[key].state(thresholds[key[1]]) if key in progress
                else _Progress.empty().state(thresholds[key[1]]) for key in keys}

    async def _insert_new(self, conn: AsyncConnection, rows: dict[tuple[str, str, str, int],
                                                               Heartbeat]) -> set[tuple[str, str, str, int]]:
        """Insert the heartbeats not stored yet; the keys of those that were new."""
        insert = (sqlite_insert if self.db.dialect == "sqlite" else pg_insert)(heartbeats)
        statement = insert.on_conflict_do_nothing().returning(
            heartbeats.c.user_id, heartbeats.c.lesson_id, heartbeats.c.session, heartbeats.c.seq)
        params = [{"user_id": hb.user_id, "lesson_id": hb.lesson.id, "session": hb.session,
                   "seq": hb.seq, "position": hb.position,
                   "segments": [list(s) for s in hb.segments], "event": hb.event, "at": hb.at}
                  for hb in rows.values()]
        result = await conn.execute(statement, params)
        return {(r.user_id, r.lesson_id, r.session, int(r.seq)) for r in result}


def _merge(hb: Heartbeat, progress: dict[tuple[str, str], _Progress],
           sessions: dict[tuple[str, str, str], _Session]) -> list[LearningEvent]:
    key = (hb.user_id, hb.lesson.id)
    state = progress.get(key)
    if state is None:
        state = progress[key] = _Progress(WatchedIntervals(), 0.0, hb.position, hb.session,
                                          hb.seq, hb.at, None, exists=False)
    # A client cannot shrink the duration later to complete sooner; the media's own can.
    state.update(hb.segments, hb.duration if hb.trusted_duration
                 else max(state.duration, hb.duration))
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
    if hb.segments:
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


def _by_keys(dialect: str, table: sa.Table, names: tuple[str, ...],
             keys: Iterable[tuple[str, ...]]) -> sa.Select[Any]:
    """Rows of ``table`` whose columns ``names`` equal one of ``keys``, each found through the
    primary key. SQLite scans the whole table for a row-value IN, so there the keys travel as
    one JSON parameter joined through ``json_each`` (one cached statement whatever the count)."""
    wanted = sorted(keys)
    if dialect != "sqlite":
        return sa.select(table).where(sa.tuple_(*(table.c[n] for n in names)).in_(wanted))
    pairs = sa.func.json_each(sa.bindparam("wanted_keys", json.dumps(wanted))) \
        .table_valued("value").alias("wanted")
    return sa.select(table).join(pairs, sa.and_(*(
        table.c[n] == sa.func.json_extract(pairs.c.value, sa.literal_column(f"'$[{i}]'"))
        for i, n in enumerate(names))))


async def _load_progress(conn: AsyncConnection, dialect: str,
                         keys: set[tuple[str, str]]) -> dict[tuple[str, str], _Progress]:
    rows = (await conn.execute(_by_keys(dialect, lesson_progress, ("user_id", "lesson_id"),
                                        keys))).all()
    return {(r.user_id, r.lesson_id): _Progress(
        _stored_intervals(r.intervals), float(r.duration), float(r.position),
        r.position_session, int(r.position_seq), r.position_at, r.completed_at, exists=True)
        for r in rows}


async def _load_sessions(conn: AsyncConnection, dialect: str,
                         triples: set[tuple[str, str, str]]) -> dict[tuple[str, str, str], _Session]:
    names = ("user_id", "lesson_id", "session")
    rows = (await conn.execute(_by_keys(dialect, watch_sessions, names, triples))).all()
    return {(r.user_id, r.lesson_id, r.session): _Session(
        _stored_intervals(r.intervals), int(r.last_seq), float(r.position), exists=True)
        for r in rows}


async def _save(conn: AsyncConnection, progress: dict[tuple[str, str], _Progress],
                sessions: dict[tuple[str, str, str], _Session],
                refs: dict[str, LessonRef]) -> None:
    now = iso()
    inserts, updates = [], []
    for (user_id, lesson_id), p in progress.items():
        if not p.dirty:
            continue
        values = {"intervals": p.intervals.to_json(), "watched_seconds": p.watched,
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
