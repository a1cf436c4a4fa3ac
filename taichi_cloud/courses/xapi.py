"""xAPI 1.0.3 statements following the xAPI Video Profile, derived from heartbeats.

``statement_for`` is pure; ``StatementStore`` writes statements (and outbox rows when an
external LRS is configured) inside the heartbeat batch's own transaction, and reads them back.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ..db import Database
from ..util import iso
from .progress import LearningEvent
from .tables import xapi_outbox, xapi_statements

VERSION = "1.0.3"
PROFILE = "https://w3id.org/xapi/video"
VIDEO_TYPE = "https://w3id.org/xapi/video/activity-type/video"
COURSE_TYPE = "http://adlnet.gov/expapi/activities/course"
EXT = "https://w3id.org/xapi/video/extensions/"
VERBS = {
    "initialized": "http://adlnet.gov/expapi/verbs/initialized",
    "played": "https://w3id.org/xapi/video/verbs/played",
    "paused": "https://w3id.org/xapi/video/verbs/paused",
    "seeked": "https://w3id.org/xapi/video/verbs/seeked",
    "completed": "http://adlnet.gov/expapi/verbs/completed",
    "terminated": "http://adlnet.gov/expapi/verbs/terminated",
}
#: A fixed namespace so the same heartbeat always yields the same statement id (LRS dedupe).
NAMESPACE = uuid.UUID("5f1f3c2e-7d0a-4b7e-9a53-1f3f6c1b2a90")


def _seconds(value: float) -> float:
    return round(value, 3)


def statement_for(event: LearningEvent, public_url: str, stored: str) -> dict[str, Any]:
    hb = event.heartbeat
    base = public_url.rstrip("/")
    key = f"{hb.user_id}/{hb.lesson.id}/" + (
        "completed" if event.verb == "completed" else f"{hb.session}/{hb.seq}/{event.verb}")
    context_ext = {EXT + "session-id": hb.session, EXT + "length": _seconds(event.duration),
                   EXT + "completion-threshold": round(hb.lesson.threshold, 3)}
    statement: dict[str, Any] = {
        "id": str(uuid.uuid5(NAMESPACE, key)),
        "version": VERSION,
        "actor": {"objectType": "Agent", "account": {"homePage": base, "name": hb.user_id}},
        "verb": {"id": VERBS[event.verb], "display": {"en-US": event.verb}},
        "object": {"objectType": "Activity", "id": f"{base}/videos/{hb.lesson.entry_id}",
                   "definition": {"type": VIDEO_TYPE}},
        "context": {
            "contextActivities": {
                "parent": [{"objectType": "Activity", "id": f"{base}/courses/{hb.lesson.course_id}",
                            "definition": {"type": COURSE_TYPE}}],
                "category": [{"objectType": "Activity", "id": PROFILE,
                              "definition": {"type": "http://adlnet.gov/expapi/activities/profile"}}],
            },
            "extensions": context_ext,
        },
        "timestamp": hb.at,
        "stored": stored,
    }
    result_ext: dict[str, Any] = {}
    played = event.session_segments.xapi_segments()
    progress = round(event.progress, 3)
    if event.verb == "played":
        result_ext = {EXT + "time": _seconds(hb.position)}
    elif event.verb == "seeked":
        result_ext = {EXT + "time-from": _seconds(event.time_from or 0.0),
                      EXT + "time-to": _seconds(hb.position)}
    elif event.verb in ("paused", "terminated", "completed"):
        result_ext = {EXT + "time": _seconds(hb.position), EXT + "progress": progress,
                      EXT + "played-segments": played}
    if result_ext:
        statement["result"] = {"extensions": result_ext}
    if event.verb == "completed":
        statement["result"].update({"completion": True,
                                    "duration": f"PT{_seconds(event.watched_seconds)}S"})
    return statement


class StatementStore:
    def __init__(self, db: Database, public_url: str, forward: bool) -> None:
        self.db = db
        self.public_url = public_url
        self.forward = forward
        self.on_outbox: list[Any] = []  # callbacks woken when the outbox gains rows

    async def sink(self, conn: AsyncConnection, events: list[LearningEvent]) -> None:
        """Called inside the heartbeat transaction: statements commit with their heartbeats."""
        stored = iso()
        rows = []
        for ordinal, event in enumerate(events):
            statement = statement_for(event, self.public_url, stored)
            hb = event.heartbeat
            rows.append({"id": statement["id"], "user_id": hb.user_id,
                         "course_id": hb.lesson.course_id, "lesson_id": hb.lesson.id,
                         "stored": stored, "ordinal": ordinal, "statement": statement})
        ids = [r["id"] for r in rows]
        existing = set((await conn.execute(sa.select(xapi_statements.c.id).where(
            xapi_statements.c.id.in_(ids)))).scalars().all())
        rows = [r for r in {r["id"]: r for r in rows}.values() if r["id"] not in existing]
        if not rows:
            return
        await conn.execute(xapi_statements.insert(), rows)
        if self.forward:
            await conn.execute(xapi_outbox.insert(), [
                {"statement_id": r["id"], "attempts": 0, "next_attempt_at": stored}
                for r in rows])
            for wake in self.on_outbox:
                wake()

    async def query(self, *, user_id: str | None, course_id: str | None, since: str | None,
                    limit: int) -> list[dict[str, Any]]:
        """Statements in ``stored`` order (oldest first), optionally after ``since``."""
        cond: list[Any] = []
        if user_id is not None:
            cond.append(xapi_statements.c.user_id == user_id)
        if course_id is not None:
            cond.append(xapi_statements.c.course_id == course_id)
        if since:
            cond.append(xapi_statements.c.stored > since)
        columns = (xapi_statements.c.stored, xapi_statements.c.statement)
        order = (xapi_statements.c.stored, xapi_statements.c.ordinal)
        async with self.db.read() as conn:
            rows = list((await conn.execute(sa.select(*columns).where(sa.and_(sa.true(), *cond))
                                            .order_by(*order).limit(limit))).all())
            if len(rows) == limit:
                # One batch shares one `stored` instant: finish it so `since` never skips any.
                last = rows[-1].stored
                seen = {r.statement["id"] for r in rows}
                ties = (await conn.execute(sa.select(*columns).where(
                    sa.and_(sa.true(), *cond),
                    xapi_statements.c.stored == last).order_by(*order))).all()
                rows += [r for r in ties if r.statement["id"] not in seen]
        return [r.statement for r in rows]
