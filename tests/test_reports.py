"""Class reports for the owning school or curator, JSON and CSV; nobody else sees them."""

from __future__ import annotations

import csv
import io

from tests.conftest import problem
from tests.test_courses_helpers import beat, course, enrol, lesson_ids, video


async def test_owner_reads_report_as_json_and_csv(client, make_user):
    school, curator = await make_user("school"), await make_user("curator")
    a = await video(client, curator, "Commencement", 100.0)
    b = await video(client, curator, "=HYPERLINK(\"x\")", 60.0)  # a hostile title for the CSV
    created = await course(client, school, [[a], [b]])
    la, lb = lesson_ids(created)
    ann, bo = await make_user("learner"), await make_user("learner")
    for learner in (ann, bo):
        await enrol(client, created["id"], learner)
    await beat(client, ann, la, "s", 1, 95, [[0, 95]])
    await beat(client, ann, lb, "s", 1, 30, [[0, 30]])
    await beat(client, bo, la, "s", 1, 20, [[10, 20]])

    r = await client.get(f"/api/v1/courses/{created['id']}/report", headers=school.headers)
    assert r.status == 200
    report = await r.json()
    by_id = {learner["id"]: learner for learner in report["learners"]}
    assert set(by_id) == {ann.id, bo.id}
    assert by_id[ann.id]["email"] == ann.email
    assert by_id[ann.id]["completed_lessons"] == 1 and by_id[ann.id]["completed"] is False
    ann_lessons = {lesson["lesson"]: lesson for m in by_id[ann.id]["modules"] for lesson in m["lessons"]}
    assert ann_lessons[la]["watched_seconds"] == 95 and ann_lessons[la]["completed"]
    assert ann_lessons[lb]["fraction"] == 0.5
    bo_lessons = {lesson["lesson"]: lesson for m in by_id[bo.id]["modules"] for lesson in m["lessons"]}
    assert bo_lessons[la]["watched_seconds"] == 10 and bo_lessons[lb]["watched_seconds"] == 0

    r = await client.get(f"/api/v1/courses/{created['id']}/report?format=csv", headers=school.headers)
    assert r.status == 200 and r.content_type == "text/csv"
    assert "attachment" in r.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(await r.text())))
    assert len(rows) == 4  # 2 learners x 2 lessons
    ann_a = next(x for x in rows if x["learner_id"] == ann.id and x["lesson_id"] == la)
    assert ann_a["watched_seconds"] == "95.0" and ann_a["completed"] == "true"
    assert ann_a["learner_email"] == ann.email and ann_a["duration"] == "100.0"
    hostile = next(x for x in rows if x["lesson_id"] == lb)
    assert hostile["lesson_title"].startswith("'=")  # not run as a formula


async def test_report_is_403_for_other_schools_and_learners(client, make_user):
    school, curator = await make_user("school"), await make_user("curator")
    entry = await video(client, curator, "Part", 100.0)
    created = await course(client, school, [[entry]])
    learner = await make_user("learner")
    await enrol(client, created["id"], learner)
    for other in (await make_user("school"), await make_user("curator"), learner):
        for suffix in ("", "?format=csv"):
            r = await client.get(f"/api/v1/courses/{created['id']}/report{suffix}", headers=other.headers)
            assert r.status == 403
            problem(await r.json(), 403)
    admin = await make_user("admin")
    assert (await client.get(f"/api/v1/courses/{created['id']}/report", headers=admin.headers)).status == 200
    r = await client.get("/api/v1/courses/nope/report", headers=school.headers)
    assert r.status == 404
    r = await client.get(f"/api/v1/courses/{created['id']}/report?format=xml", headers=school.headers)
    assert r.status == 400


async def test_learners_never_see_each_others_progress(client, make_user):
    school, curator = await make_user("school"), await make_user("curator")
    entry = await video(client, curator, "Part", 100.0)
    created = await course(client, school, [[entry]])
    (lesson,) = lesson_ids(created)
    ann, bo = await make_user("learner"), await make_user("learner")
    for learner in (ann, bo):
        await enrol(client, created["id"], learner)
    await beat(client, ann, lesson, "s", 1, 80, [[0, 80]], event="pause")
    mine = await (await client.get(f"/api/v1/me/progress?course={created['id']}", headers=bo.headers)).json()
    assert mine["modules"][0]["lessons"][0]["watched_seconds"] == 0
    statements = await (await client.get(f"/api/v1/xapi/statements?course={created['id']}",
                                         headers=bo.headers)).json()
    assert statements["statements"] == []
    owners = await (await client.get(f"/api/v1/xapi/statements?course={created['id']}",
                                     headers=school.headers)).json()
    assert {s["actor"]["account"]["name"] for s in owners["statements"]} == {ann.id}
