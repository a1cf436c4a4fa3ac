"""Server-rendered course pages: a course, the learner's own page, certificate verification."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..keys import SETTINGS
from ..web.context import viewer
from ..web.openapi import ApiRoutes
from ..web.pages import render
from .certificates import format_issue_date
from .component import component, presented, require_user
from .views import course_progress

api = ApiRoutes()
HTML: dict[str, Any] = {"response_content": "text/html"}


@api.get("/courses/{id}", summary="Course page: modules, lessons, progress, continue",
         tag="pages", **HTML, errors=(404,))
async def course_page(request: web.Request) -> web.Response:
    parts = component(request)
    user = viewer(request)
    course = await parts.courses.get_visible(request.match_info["id"], user)
    shown = await presented(request, course)
    enrolled = user is not None and await parts.courses.is_enrolled(course["id"], user.id)
    rows = (await parts.queries.rows(course["id"], [user.id])).get(user.id, {}) if user else {}
    progress = course_progress(shown, rows)
    return render(request, "course.html", title=shown["title"], course=shown, enrolled=enrolled,
                  progress=progress, language=shown["locale"])


@api.post("/courses/{id}/enroll", summary="Enrol from the course page's form", tag="pages",
          **HTML, status=303, errors=(401, 404))
async def enroll_form(request: web.Request) -> web.StreamResponse:
    user = viewer(request)
    course_id = request.match_info["id"]
    if user is None:
        raise web.HTTPSeeOther(f"/login?next=/courses/{course_id}")
    await component(request).courses.enroll(course_id, user)
    raise web.HTTPSeeOther(f"/courses/{course_id}")


@api.get("/me", summary="The learner's page: courses, progress, certificates", tag="pages",
         **HTML, errors=())
async def me_page(request: web.Request) -> web.StreamResponse:
    user = viewer(request)
    if user is None:
        raise web.HTTPSeeOther("/login?next=/me")
    parts = component(request)
    courses: list[dict[str, Any]] = []
    for course, enrolled_at in await parts.courses.enrolled_courses(user.id):
        rows = (await parts.queries.rows(course["id"], [user.id])).get(user.id, {})
        shown = await presented(request, course)
        courses.append({"course": shown, "progress": course_progress(shown, rows),
                        "enrolled_on": format_issue_date(enrolled_at, _tag(request, user.locale),
                                                         user.time_zone)})
    certificates = []
    titles = {c["course"]["id"]: c["course"]["title"] for c in courses}
    for cert in await parts.certificates.for_user(user.id):
        certificates.append({**cert.public(request.app[SETTINGS].public_url),
                             "course_title": titles.get(cert.course_id, cert.course_id),
                             "issued_on": format_issue_date(cert.issued_at,
                                                            _tag(request, user.locale),
                                                            user.time_zone)})
    return render(request, "me.html", title=require_user(user).name, courses=courses,
                  certificates=certificates)


@api.get("/certificates/{code}", summary="Verify a course certificate", tag="pages", **HTML,
         errors=(404,))
async def certificate_page(request: web.Request) -> web.Response:
    parts = component(request)
    cert = await parts.certificates.verify(request.match_info["code"])
    course = await parts.courses.get(cert.course_id)
    shown = await presented(request, course) if course else None
    learner = (await parts.queries.people([cert.user_id])).get(cert.user_id, {})
    issued_on = format_issue_date(cert.issued_at, _tag(request, learner.get("locale")),
                                  learner.get("time_zone"))
    return render(request, "certificate.html", title=shown["title"] if shown else cert.course_id,
                  certificate=cert.public(request.app[SETTINGS].public_url), course=shown,
                  issued_on=issued_on)


def _tag(request: web.Request, learner_locale: str | None) -> str:
    from ..keys import LOCALE

    ui: str = request[LOCALE].ui
    return ui if request.query.get("lang") or not learner_locale else learner_locale
