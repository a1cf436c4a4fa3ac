"""The courses component's services, bundled in ``app[COURSES]``, and shared request helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ..accounts.service import User
from ..keys import CATALOG, COURSES, DB, MEDIA, SETTINGS
from ..web.context import requested_locales
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
    durations = await parts.durations.of_records(records.values())
    return present_course(course, requested_locales(request), records, durations)


def require_user(user: User | None) -> User:
    from ..errors import Unauthorized

    if user is None:
        raise Unauthorized("sign in or send an Authorization: Bearer token")
    return user
