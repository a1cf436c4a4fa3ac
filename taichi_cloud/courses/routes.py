"""HTTP routes of courses: catalog of courses, enrolment, class reports, certificates."""

from __future__ import annotations

from aiohttp import web

from ..errors import Conflict, Forbidden
from ..keys import BODY, LOCALE, QUERY, SETTINGS
from ..web.context import json_response, viewer
from ..web.openapi import SIGNED_IN, ApiRoutes
from .certificates import format_issue_date
from .component import component, presented, require_user
from .model import COURSE_CREATE, COURSE_OUT, COURSE_PATCH
from .reports import class_report, report_csv
from .service import CREATORS, owns_course
from .views import course_progress

api = ApiRoutes()
COURSE_REF = {"$ref": "#/components/schemas/Course"}
COMPONENTS = {"Course": COURSE_OUT, "CourseCreate": COURSE_CREATE, "CoursePatch": COURSE_PATCH}
CERTIFICATE_OUT = {
    "type": "object", "required": ["code", "verification_url", "issued_at"],
    "properties": {"id": {"type": "string"}, "course": {"type": "string"},
                   "learner": {"type": "string"}, "learner_name": {"type": "string"},
                   "issued_at": {"type": "string"}, "issued_on": {"type": "string"},
                   "code": {"type": "string"}, "verification_url": {"type": "string"}},
}


@api.get("/api/v1/courses", summary="Courses the caller may see (public, own, enrolled)",
         tag="courses", query={
             "owner": {"type": "string", "maxLength": 64},
             "page": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 1},
             "per_page": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}},
         response={"type": "object", "required": ["total", "items"], "properties": {
             "total": {"type": "integer"}, "items": {"type": "array", "items": COURSE_REF}}})
async def list_courses(request: web.Request) -> web.Response:
    q = request[QUERY]
    total, found = await component(request).courses.list_visible(
        viewer(request), q["page"], q["per_page"], owner=q.get("owner"))
    items = [await presented(request, course) for course in found]
    return json_response({"total": total, "page": q["page"], "per_page": q["per_page"],
                          "items": items})


@api.post("/api/v1/courses", summary="Create a course of modules and lessons (catalog entries)",
          tag="courses", roles=CREATORS, body=COURSE_CREATE, response=COURSE_REF, status=201,
          errors=(400, 409, 413, 415))
async def create_course(request: web.Request) -> web.Response:
    parts = component(request)
    user = require_user(viewer(request))
    course_id = await parts.courses.create(request[BODY], user)
    shown = await presented(request, await parts.courses.get_visible(course_id, user))
    return json_response(shown, status=201, language=shown["locale"],
                         headers={"Location": f"/api/v1/courses/{course_id}"})


@api.get("/api/v1/courses/{id}", summary="One course with its modules and lessons",
         tag="courses", response=COURSE_REF, errors=(404,))
async def get_course(request: web.Request) -> web.Response:
    parts = component(request)
    user = viewer(request)
    course = await parts.courses.get_visible(request.match_info["id"], user)
    shown = await presented(request, course)
    shown["enrolled"] = user is not None and await parts.courses.is_enrolled(course["id"], user.id)
    return json_response(shown, language=shown["locale"])


@api.patch("/api/v1/courses/{id}", summary="Edit a course's texts, visibility, threshold, "
           "embed origins", tag="courses", roles=CREATORS, body=COURSE_PATCH,
           response=COURSE_REF, errors=(400, 404, 413, 415))
async def patch_course(request: web.Request) -> web.Response:
    parts = component(request)
    user = require_user(viewer(request))
    await parts.courses.update(request.match_info["id"], request[BODY], user)
    shown = await presented(request, await parts.courses.get_visible(request.match_info["id"], user))
    return json_response(shown, language=shown["locale"])


@api.post("/api/v1/courses/{id}/enrollment", summary="Enrol the caller (self-paced, always open)",
          tag="courses", roles=SIGNED_IN, status=201, errors=(404,),
          response={"type": "object", "properties": {
              "course": {"type": "string"}, "user": {"type": "string"},
              "enrolled_at": {"type": "string"}}})
async def enroll(request: web.Request) -> web.Response:
    user = require_user(viewer(request))
    course_id = request.match_info["id"]
    enrolled_at, created = await component(request).courses.enroll(course_id, user)
    return json_response({"course": course_id, "user": user.id, "enrolled_at": enrolled_at},
                         status=201 if created else 200)


@api.get("/api/v1/courses/{id}/report", summary="Class report per learner and lesson (owner only)",
         tag="courses", roles=CREATORS,
         query={"format": {"enum": ["json", "csv"], "default": "json"}},
         response={"type": "object", "properties": {"course": {"type": "string"},
                                                    "learners": {"type": "array"}}},
         errors=(400, 404))
async def course_report(request: web.Request) -> web.Response:
    parts = component(request)
    user = require_user(viewer(request))
    course = await parts.courses.get_visible(request.match_info["id"], user)
    if not owns_course(course, user):
        raise Forbidden("only the school or curator that owns the course may read its report")
    shown = await presented(request, course)
    enrolled = await parts.courses.enrolled_users(course["id"])
    ids = [u for u, _ in enrolled]
    report = class_report(shown, enrolled, await parts.queries.people(ids),
                          await parts.queries.rows(course["id"], ids))
    if request[QUERY]["format"] == "csv":
        response = web.Response(text=report_csv(shown, report), content_type="text/csv",
                                charset="utf-8")
        response.headers["Content-Disposition"] = f'attachment; filename="report-{course["id"]}.csv"'
        return response
    return json_response(report)


@api.get("/api/v1/courses/{id}/certificate", summary="The caller's certificate for a completed "
         "course", tag="courses", roles=SIGNED_IN, response=CERTIFICATE_OUT, errors=(404, 409))
async def course_certificate(request: web.Request) -> web.Response:
    parts = component(request)
    user = require_user(viewer(request))
    course = await parts.courses.get_visible(request.match_info["id"], user)
    if not await parts.courses.is_enrolled(course["id"], user.id):
        raise Forbidden("enrol in the course first")
    shown = await presented(request, course)
    summary = course_progress(shown, (await parts.queries.rows(course["id"], [user.id])).get(user.id, {}))
    if not summary["completed"]:
        raise Conflict(f"the course is not complete yet: {summary['completed_lessons']} of "
                       f"{summary['total_lessons']} lessons done")
    certificate = await parts.certificates.issue(user.id, course["id"], user.name)
    body = certificate.public(request.app[SETTINGS].public_url)
    body["course_title"] = shown["title"]
    body["issued_on"] = issued_on(request, certificate.issued_at, user.time_zone, user.locale)
    return json_response(body)


def issued_on(request: web.Request, issued_at: str, time_zone: str | None,
              locale: str | None) -> str:
    """The issue date in the learner's time zone and language (``?lang=`` overrides it)."""
    tag = request[LOCALE].ui if request.query.get("lang") or not locale else locale
    return format_issue_date(issued_at, tag, time_zone)
