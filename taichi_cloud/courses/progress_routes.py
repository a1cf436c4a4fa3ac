"""HTTP routes of progress: heartbeats, readings, one's own progress, xAPI statements."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from ..errors import Conflict, Forbidden, Invalid
from ..keys import BODY, CATALOG, QUERY
from ..util import iso, parse_iso, utcnow
from ..web.context import json_response, viewer
from ..web.openapi import SIGNED_IN, ApiRoutes
from .component import component, presented, require_user
from .intervals import OVERSHOOT_SECONDS, check_seconds, check_segments
from .model import HEARTBEAT, MAX_CLIENT_DURATION, PROGRESS_OUT
from .progress import Heartbeat
from .service import owns_course
from .views import course_progress, lesson_kind
from .xapi import VERSION

api = ApiRoutes()


@api.put("/api/v1/progress/{lesson_id}", summary="Report what was watched (idempotent per "
         "session and seq; segments merge, never double-count)", tag="progress",
         roles=SIGNED_IN, body=HEARTBEAT, response=PROGRESS_OUT, errors=(400, 403, 404, 413, 415),
         description="`event` (play, pause, seek, ended, terminate) is optional and adds the "
         "matching xAPI Video Profile statement; `from` is the seek origin; `at` (RFC 3339) is "
         "the client's clock, used to order devices (never later than the server's).")
async def put_progress(request: web.Request) -> web.Response:
    parts = component(request)
    user = require_user(viewer(request))
    lesson = await parts.courses.lesson(request.match_info["lesson_id"])
    if not await parts.courses.is_enrolled(lesson.course_id, user.id):
        raise Forbidden("enrol in the course before reporting progress on its lessons")
    body = request[BODY]
    position = check_seconds(body["position"], "position")
    duration = await parts.durations.of_entry(lesson.entry_id)
    trusted = duration is not None
    if duration is None:
        if body.get("duration") is None:
            raise Invalid("duration is required: the lesson's media length is not known yet",
                          field="duration")
        duration = check_seconds(body["duration"], "duration")
        if not 0 < duration <= MAX_CLIENT_DURATION:
            raise Invalid(f"duration must be between 0 and {MAX_CLIENT_DURATION:g} seconds",
                          field="duration")
    if position > duration + OVERSHOOT_SECONDS:
        raise Invalid(f"position {position:g} s is beyond the lesson's duration ({duration:g} s)",
                      field="position")
    segments = check_segments(body.get("segments") or [], duration)
    from_position = check_seconds(body["from"], "from") if body.get("from") is not None else None
    state = await parts.recorder.record(Heartbeat(
        user_id=user.id, lesson=lesson, session=body["session"], seq=body["seq"],
        position=min(position, duration), segments=segments, duration=duration,
        trusted_duration=trusted, at=_sent_at(body.get("at")), event=body.get("event"),
        from_position=from_position))
    return json_response(state.public())


def _sent_at(raw: str | None) -> str:
    if not raw:
        return iso()
    now = utcnow()
    try:
        sent = parse_iso(raw)
    except ValueError:
        raise Invalid("at must be an RFC 3339 date-time", field="at") from None
    return iso(min(sent, now))


@api.post("/api/v1/progress/{lesson_id}/complete", summary="Mark a reading (archive item) as "
          "read; video lessons complete by watched time only", tag="progress", roles=SIGNED_IN,
          response={"type": "object"}, errors=(403, 404, 409))
async def complete_reading(request: web.Request) -> web.Response:
    parts = component(request)
    user = require_user(viewer(request))
    lesson = await parts.courses.lesson(request.match_info["lesson_id"])
    if not await parts.courses.is_enrolled(lesson.course_id, user.id):
        raise Forbidden("enrol in the course before reporting progress on its lessons")
    record = await request.app[CATALOG].get_record(lesson.entry_id)
    if lesson_kind(record) != "reading":
        raise Conflict("video lessons complete by watched seconds, not by a request")
    await parts.queries.mark_read(user.id, lesson)
    return json_response({"lesson": lesson.id, "completed": True})


@api.get("/api/v1/me/progress", summary="The caller's progress: one course with modules and "
         "lessons, or every enrolled course", tag="progress", roles=SIGNED_IN,
         query={"course": {"type": "string", "maxLength": 64}},
         response={"type": "object"}, errors=(400, 403, 404))
async def my_progress(request: web.Request) -> web.Response:
    parts = component(request)
    user = require_user(viewer(request))
    course_id = request[QUERY].get("course")
    if course_id:
        course = await parts.courses.get_visible(course_id, user)
        if not await parts.courses.is_enrolled(course_id, user.id):
            raise Forbidden("you are not enrolled in this course")
        rows = (await parts.queries.rows(course_id, [user.id])).get(user.id, {})
        return json_response(course_progress(await presented(request, course), rows))
    courses: list[dict[str, Any]] = []
    for course, enrolled_at in await parts.courses.enrolled_courses(user.id):
        rows = (await parts.queries.rows(course["id"], [user.id])).get(user.id, {})
        summary = course_progress(await presented(request, course), rows)
        courses.append({**summary, "enrolled_at": enrolled_at})
    return json_response({"courses": courses})


@api.get("/api/v1/xapi/statements", summary="xAPI 1.0.3 statements (Video Profile): the "
         "caller's own, or a whole course for its owner", tag="progress", roles=SIGNED_IN,
         query={"since": {"type": "string", "maxLength": 40},
                "course": {"type": "string", "maxLength": 64},
                "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 200}},
         response={"type": "object", "required": ["statements", "more"], "properties": {
             "statements": {"type": "array"}, "more": {"type": "string"}}},
         errors=(400, 404))
async def xapi_statements(request: web.Request) -> web.Response:
    parts = component(request)
    user = require_user(viewer(request))
    q = request[QUERY]
    since = None
    if q.get("since"):
        try:
            since = iso(parse_iso(q["since"]))
        except ValueError:
            raise Invalid("query parameter since must be an RFC 3339 date-time",
                          field="since") from None
    only_user: str | None = user.id
    if q.get("course"):
        course = await parts.courses.get_visible(q["course"], user)
        if owns_course(course, user):
            only_user = None
    elif user.has("admin"):
        only_user = None
    found = await parts.statements.query(user_id=only_user, course_id=q.get("course"),
                                         since=since, limit=q["limit"])
    more = ""
    if len(found) >= q["limit"]:
        params = {"since": found[-1]["stored"], "limit": q["limit"]}
        if q.get("course"):
            params["course"] = q["course"]
        more = "/api/v1/xapi/statements?" + urlencode(params)
    response = json_response({"statements": found, "more": more})
    response.headers["X-Experience-API-Version"] = VERSION
    return response
