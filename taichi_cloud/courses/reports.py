"""Reading progress back: one learner's course, a school's class report (JSON and CSV)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from ..accounts.tables import users
from ..db import Database
from ..util import iso
from .service import LessonRef
from .tables import lesson_progress
from .views import course_progress

CSV_COLUMNS = ("learner_id", "learner_name", "learner_email", "enrolled_at", "module",
               "lesson_id", "lesson_title", "entry", "kind", "duration", "watched_seconds",
               "fraction", "completed", "completed_at", "position", "last_seen")


class ProgressQueries:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def rows(self, course_id: str, user_ids: Iterable[str] | None = None
                   ) -> dict[str, dict[str, dict[str, Any]]]:
        """``{user_id: {lesson_id: stored state}}`` of a course (optionally some learners)."""
        query = sa.select(lesson_progress).where(lesson_progress.c.course_id == course_id)
        if user_ids is not None:
            query = query.where(lesson_progress.c.user_id.in_(list(user_ids)))
        async with self.db.read() as conn:
            found = (await conn.execute(query)).all()
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for r in found:
            out.setdefault(r.user_id, {})[r.lesson_id] = dict(r._mapping)
        return out

    async def latest_for_entry(self, user_id: str, entry_id: str) -> dict[str, Any] | None:
        """The newest state of a learner for any lesson showing this entry (embed resume)."""
        async with self.db.read() as conn:
            row = (await conn.execute(sa.select(lesson_progress).where(
                lesson_progress.c.user_id == user_id, lesson_progress.c.entry_id == entry_id)
                .order_by(lesson_progress.c.position_at.desc()).limit(1))).first()
        return dict(row._mapping) if row else None

    async def mark_read(self, user_id: str, lesson: LessonRef) -> None:
        """Readings (archive items) complete when the learner says they have read them."""
        now = iso()
        async with self.db.write() as conn:
            row = (await conn.execute(sa.select(lesson_progress.c.completed_at).where(
                lesson_progress.c.user_id == user_id,
                lesson_progress.c.lesson_id == lesson.id))).first()
            if row is not None:
                if row.completed_at is None:
                    await conn.execute(lesson_progress.update().where(
                        lesson_progress.c.user_id == user_id,
                        lesson_progress.c.lesson_id == lesson.id).values(
                        completed_at=now, updated_at=now))
                return
            await conn.execute(lesson_progress.insert().values(
                user_id=user_id, lesson_id=lesson.id, course_id=lesson.course_id,
                entry_id=lesson.entry_id, intervals=[], watched_seconds=0.0, duration=0.0,
                position=0.0, position_session="", position_seq=0, position_at=now,
                completed_at=now, updated_at=now))

    async def people(self, user_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        ids = list(set(user_ids))
        if not ids:
            return {}
        async with self.db.read() as conn:
            rows = (await conn.execute(sa.select(users.c.id, users.c.name, users.c.email,
                                                 users.c.locale, users.c.time_zone)
                                       .where(users.c.id.in_(ids)))).all()
        return {r.id: dict(r._mapping) for r in rows}


def class_report(presented: Mapping[str, Any], enrolled: list[tuple[str, str]],
                 people: Mapping[str, Mapping[str, Any]],
                 rows: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> dict[str, Any]:
    learners = []
    for user_id, enrolled_at in enrolled:
        person = people.get(user_id, {})
        summary = course_progress(presented, rows.get(user_id, {}))
        learners.append({
            "id": user_id, "name": person.get("name", ""), "email": person.get("email", ""),
            "enrolled_at": enrolled_at, "fraction": summary["fraction"],
            "completed": summary["completed"], "completed_lessons": summary["completed_lessons"],
            "total_lessons": summary["total_lessons"],
            "modules": [{"id": m["id"], "title": m["title"], "fraction": m["fraction"],
                         "completed": m["completed"], "lessons": m["lessons"]}
                        for m in summary["modules"]],
        })
    return {"course": presented["id"], "title": presented["title"], "generated_at": iso(),
            "learners": learners}


def report_csv(presented: Mapping[str, Any], report: Mapping[str, Any]) -> str:
    titles = {lesson["id"]: (module["title"], lesson["title"], lesson["kind"])
              for module in presented["modules"] for lesson in module["lessons"]}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for learner in report["learners"]:
        for module in learner["modules"]:
            for lesson in module["lessons"]:
                module_title, lesson_title, kind = titles[lesson["lesson"]]
                writer.writerow([
                    learner["id"], _cell(learner["name"]), _cell(learner["email"]),
                    learner["enrolled_at"], _cell(module_title), lesson["lesson"],
                    _cell(lesson_title), lesson["entry"], kind, lesson["duration"] or "",
                    lesson["watched_seconds"], lesson["fraction"],
                    "true" if lesson["completed"] else "false", lesson["completed_at"] or "",
                    lesson["position"], lesson["last_seen"] or ""])
    return out.getvalue()


def _cell(value: str) -> str:
    # Spreadsheets run cells starting with these as formulas (CSV injection).
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
