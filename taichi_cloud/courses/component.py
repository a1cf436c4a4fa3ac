"""The courses component's services, bundled in ``app[COURSES]``, and shared request helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ..accounts.service import User
from ..catalog.service import can_view
from ..errors import Unauthorized
from ..keys import CATALOG, COURSES, DB, MEDIA, SETTINGS
from ..web.context import requested_locales, viewer
from .certificates import Certificates
from .durations import LessonDurations
from .lrs import LrsForwarder
from .progress import ProgressRecorder
from .reports import ProgressQueries
from .service import Courses, all_lessons
from .views import present_course
from .xapi import StatementStore


@dataclass
class CoursesComponent:
    courses: Courses
    durations: LessonDurations
    recorder: ProgressRecorder
    queries: ProgressQueries
    statements: StatementStore
    certificates: Certificates
    forwarder: LrsForwarder | None


def component(request: web.Request) -> CoursesComponent:
    found: CoursesComponent = request.app[COURSES]
    return found


async def courses_context(app: web.Application) -> AsyncIterator[None]:
    from ..app import resolve_secret

    settings = app[SETTINGS]
    db, catalog = app[DB], app[CATALOG]
    statements = StatementStore(db, settings.public_url, forward=bool(settings.xapi_lrs_endpoint))
    forwarder = None
    if settings.xapi_lrs_endpoint:
        forwarder = LrsForwarder(db, settings.xapi_lrs_endpoint, settings.xapi_lrs_username,
                                 settings.xapi_lrs_password)
        statements.on_outbox.append(forwarder.wake)
    recorder = ProgressRecorder(db, statements.sink)
    parts = CoursesComponent(
        courses=Courses(db, catalog), durations=LessonDurations(catalog, app.get(MEDIA)),
        recorder=recorder, queries=ProgressQueries(db), statements=statements,
        certificates=Certificates(db, resolve_secret(settings)), forwarder=forwarder)
    app[COURSES] = parts
    recorder.start()
    if forwarder is not None:
        forwarder.start()
    yield
    await recorder.stop()
    if forwarder is not None:
        await forwarder.stop()


async def presented(request: web.Request, course: dict[str, Any]) -> dict[str, Any]:
    """A course in the request's language, with lesson titles and durations from the catalog."""
    parts = component(request)
    records = await request.app[CATALOG].titles({lesson["entry"] for lesson in all_lessons(course)})
    # An entry withdrawn or made private after the course was built is not shown through it.
    who = viewer(request)
    records = {i: r for i, r in records.items() if can_view(r, who)}
    durations = await parts.durations.of_records(records.values())
    return present_course(course, requested_locales(request), records, durations)


def require_user(user: User | None) -> User:
    if user is None:
        raise Unauthorized("sign in or send an Authorization: Bearer token")
    return user


async def watch_context(request: web.Request, entry_id: str,
                        lesson_id: str | None = None) -> dict[str, Any]:
    """For a watch page: the lesson (of an enrolled course) the viewer is studying with this
    entry, where to resume and how much is watched. Empty values for anyone else.

    ``lesson_id`` (e.g. from ``?lesson=``) picks one lesson when the entry is in several courses.
    """
    import sqlalchemy as sa

    from .tables import enrollments, lesson_progress, lessons

    empty: dict[str, Any] = {"lesson": None, "course": None, "resume": 0.0, "lesson_fraction": 0.0}
    user = viewer(request)
    if user is None:
        return empty
    db = request.app[DB]
    async with db.read() as conn:
        rows = (await conn.execute(
            sa.select(lessons.c.id, lessons.c.course_id, lesson_progress.c.position,
                      lesson_progress.c.watched_seconds, lesson_progress.c.duration,
                      lesson_progress.c.completed_at, lesson_progress.c.position_at)
            .join(enrollments, sa.and_(enrollments.c.course_id == lessons.c.course_id,
                                       enrollments.c.user_id == user.id))
            .outerjoin(lesson_progress, sa.and_(lesson_progress.c.lesson_id == lessons.c.id,
                                                lesson_progress.c.user_id == user.id))
            .where(lessons.c.entry_id == entry_id))).all()
    if not rows:
        return empty
    chosen = next((r for r in rows if r.id == lesson_id), None) or \
        max(rows, key=lambda r: r.position_at or "")
    duration = float(chosen.duration or 0.0)
    fraction = min(1.0, float(chosen.watched_seconds or 0.0) / duration) if duration else 0.0
    resume = 0.0 if chosen.completed_at else float(chosen.position or 0.0)
    return {"lesson": chosen.id, "course": chosen.course_id, "resume": round(resume, 1),
            "lesson_fraction": round(fraction, 4)}
