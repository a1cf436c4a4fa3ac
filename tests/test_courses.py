"""Courses through real HTTP: creation, validation, visibility, enrolment, readings, pages,
certificates."""

from __future__ import annotations

import re

from tests.conftest import problem
from tests.test_courses_helpers import beat, course, enrol, lesson_ids, video


async def test_create_course_with_translations_and_lesson_durations(client, make_user):
    curator, reviewer = await make_user("curator"), await make_user("reviewer")
    a = await video(client, curator, "Commencement", 120.0, reviewer,
                    translations={"zh-Hans": {"title": "起势"}})
    reading = await client.post("/api/v1/entries", headers=curator.headers, json={
        "kind": "archive", "archive_type": "document", "translations": {"en": {"title": "Classics"}}})
    reading_id = (await reading.json())["id"]
    body = {"translations": {"en": {"title": "Foundations"}, "zh-Hans": {"title": "基础"}},
            "completion_threshold": 0.8, "visibility": "public",
            "embed_origins": ["https://School.Example:443", "https://lms.example:8443"],
            "modules": [{"title": "Opening", "titles": {"zh-Hans": "开始"},
                         "lessons": [{"entry": a}, {"entry": reading_id, "title": "Read the classics"}]}]}
    r = await client.post("/api/v1/courses", json=body, headers=curator.headers)
    assert r.status == 201, await r.text()
    created = await r.json()
    assert r.headers["Location"] == f"/api/v1/courses/{created['id']}"
    assert created["embed_origins"] == ["https://school.example", "https://lms.example:8443"]
    assert created["completion_threshold"] == 0.8
    first, second = created["modules"][0]["lessons"]
    assert first["duration"] == 120 and first["kind"] == "video" and first["title"] == "Commencement"
    assert second["kind"] == "reading" and second["duration"] is None
    zh = await (await client.get(f"/api/v1/courses/{created['id']}?lang=zh-Hans")).json()
    assert zh["title"] == "基础" and zh["modules"][0]["title"] == "开始"
    assert zh["modules"][0]["lessons"][0]["title"] == "起势"
    listed = await (await client.get("/api/v1/courses")).json()
    assert created["id"] in [c["id"] for c in listed["items"]]


async def test_bad_courses_are_clear_400s_and_roles_are_checked(client, make_user):
    curator, learner = await make_user("curator"), await make_user("learner")
    entry = await video(client, curator, "V", 60.0)
    person = await client.post("/api/v1/entries", headers=curator.headers, json={
        "kind": "person", "translations": {"en": {"title": "Yang Luchan"}}})
    person_id = (await person.json())["id"]
    ok = {"translations": {"en": {"title": "T"}}, "modules": [{"title": "M", "lessons": [{"entry": entry}]}]}
    cases = [
        ({"modules": [{"title": "M", "lessons": [{"entry": "missing"}]}]}, "modules.0.lessons.0.entry"),
        ({"modules": [{"title": "M", "lessons": [{"entry": person_id}]}]}, "modules.0.lessons.0.entry"),
        ({"modules": []}, "modules"),
        ({"completion_threshold": 0}, "completion_threshold"),
        ({"completion_threshold": 1.5}, "completion_threshold"),
        ({"embed_origins": ["http://school.example"]}, "embed_origins.0"),
        ({"embed_origins": ["https://ok.example", "https://school.example/path"]}, "embed_origins.1"),
        ({"embed_origins": ["https://*.example"]}, "embed_origins.0"),
        ({"embed_origins": ["javascript:alert(1)"]}, "embed_origins.0"),
        ({"visibility": "secret"}, "visibility"),
        ({"source_locale": "fr"}, "source_locale"),
    ]
    for change, field in cases:
        r = await client.post("/api/v1/courses", json={**ok, **change}, headers=curator.headers)
        assert r.status == 400, (change, await r.text())
        err = await r.json()
        problem(err, 400)
        assert err["field"] == field, (change, err)
    assert (await client.post("/api/v1/courses", json=ok, headers=learner.headers)).status == 403
    assert (await client.post("/api/v1/courses", json=ok)).status == 401
    dev = await client.post("/api/v1/courses", headers=curator.headers,
                            json={**ok, "embed_origins": ["http://localhost:3000"]})
    assert dev.status == 201  # plain http only for local development origins
    taken = await client.post("/api/v1/courses", json={**ok, "id": "tc-101"}, headers=curator.headers)
    assert taken.status == 201
    again = await client.post("/api/v1/courses", json={**ok, "id": "tc-101"}, headers=curator.headers)
    assert again.status == 409


async def test_visibility_enrolment_and_edits(client, make_user):
    curator, learner, other = await make_user("curator"), await make_user("learner"), await make_user("school")
    entry = await video(client, curator, "V", 60.0)
    private = await course(client, curator, [[entry]], visibility="private")
    unlisted = await course(client, curator, [[entry]], visibility="unlisted")
    assert (await client.get(f"/api/v1/courses/{private['id']}", headers=learner.headers)).status == 404
    assert (await client.post(f"/api/v1/courses/{private['id']}/enrollment",
                              headers=learner.headers)).status == 404
    assert (await client.get(f"/api/v1/courses/{unlisted['id']}")).status == 200
    listed = [c["id"] for c in (await (await client.get("/api/v1/courses")).json())["items"]]
    assert unlisted["id"] not in listed and private["id"] not in listed
    r = await client.post(f"/api/v1/courses/{unlisted['id']}/enrollment", headers=learner.headers)
    assert r.status == 201
    assert (await client.post(f"/api/v1/courses/{unlisted['id']}/enrollment",
                              headers=learner.headers)).status == 200
    mine = await (await client.get("/api/v1/courses", headers=learner.headers)).json()
    assert unlisted["id"] in [c["id"] for c in mine["items"]]
    got = await (await client.get(f"/api/v1/courses/{unlisted['id']}", headers=learner.headers)).json()
    assert got["enrolled"] is True
    r = await client.patch(f"/api/v1/courses/{unlisted['id']}", headers=other.headers,
                           json={"visibility": "public"})
    assert r.status == 403
    r = await client.patch(f"/api/v1/courses/{unlisted['id']}", headers=curator.headers,
                           json={"embed_origins": ["https://new.example"], "completion_threshold": 0.5})
    assert r.status == 200 and (await r.json())["embed_origins"] == ["https://new.example"]
    (lesson,) = lesson_ids(unlisted)
    state = await (await beat(client, learner, lesson, "s", 1, 30, [[0, 30]])).json()
    assert state["completed"] is True  # the new threshold applies at once


async def test_readings_complete_by_marking_and_certificate(client, make_user):
    curator, learner = await make_user("curator"), await make_user("learner")
    entry = await video(client, curator, "Form", 100.0)
    r = await client.post("/api/v1/entries", headers=curator.headers, json={
        "kind": "archive", "archive_type": "document", "translations": {"en": {"title": "Treatise"}}})
    reading = (await r.json())["id"]
    created = await course(client, curator, [[entry], [reading]])
    video_lesson, reading_lesson = lesson_ids(created)
    await enrol(client, created["id"], learner)
    assert (await client.post(f"/api/v1/progress/{video_lesson}/complete",
                              headers=learner.headers)).status == 409
    r = await client.get(f"/api/v1/courses/{created['id']}/certificate", headers=learner.headers)
    assert r.status == 409 and "0 of 2" in (await r.json())["detail"]
    await beat(client, learner, video_lesson, "s", 1, 100, [[0, 100]])
    assert (await client.post(f"/api/v1/progress/{reading_lesson}/complete",
                              headers=learner.headers)).status == 200
    r = await client.get(f"/api/v1/courses/{created['id']}/certificate", headers=learner.headers)
    assert r.status == 200, await r.text()
    cert = await r.json()
    assert cert["verification_url"] == f"http://testserver.example/certificates/{cert['code']}"
    again = await (await client.get(f"/api/v1/courses/{created['id']}/certificate",
                                    headers=learner.headers)).json()
    assert again["code"] == cert["code"]  # issued once
    page = await client.get(f"/certificates/{cert['code']}")
    assert page.status == 200
    html = await page.text()
    assert "Learner" in html and "Yang style foundations" in html
    forged = cert["code"][:-2] + ("AA" if not cert["code"].endswith("AA") else "BB")
    assert (await client.get(f"/certificates/{forged}")).status == 404
    assert (await client.get("/certificates/nothing-here")).status == 404


async def test_certificate_dates_follow_the_learners_time_zone_and_language(client, make_user):
    from taichi_cloud.courses.certificates import format_issue_date

    # 23:30 UTC on 31 December is already 1 January in Shanghai
    assert format_issue_date("2024-12-31T23:30:00.000000Z", "en", "Asia/Shanghai") == "January 1, 2025"
    assert format_issue_date("2024-12-31T23:30:00.000000Z", "en", "America/New_York") == "December 31, 2024"
    assert format_issue_date("2024-12-31T23:30:00.000000Z", "zh-Hans", "Asia/Shanghai") == "2025年1月1日"
    assert format_issue_date("2024-12-31T23:30:00.000000Z", "fr", None) == "31 décembre 2024"


async def test_course_page_and_me_page(client, make_user):
    curator, reviewer, learner = await make_user("curator"), await make_user("reviewer"), await make_user("learner")
    a = await video(client, curator, "Part one", 100.0, reviewer=reviewer)
    b = await video(client, curator, "Part two", 100.0, reviewer=reviewer)
    created = await course(client, curator, [[a, b]])
    la, lb = lesson_ids(created)
    page = await client.get(f"/courses/{created['id']}")
    assert page.status == 200
    html = await page.text()
    assert "Part one" in html and "Sign in to enrol" in html
    assert 'type="application/json+oembed"' in html
    await enrol(client, created["id"], learner)
    await beat(client, learner, la, "s", 1, 100, [[0, 100]])
    await beat(client, learner, lb, "s", 1, 42, [[0, 42]])
    html = await (await client.get(f"/courses/{created['id']}", headers=learner.headers)).text()
    assert "Continue where you left off" in html and f"/videos/{b}?t=42" in html
    assert re.search(r'<progress max="1" value="0.71"', html)  # (1 + 0.42) / 2
    me = await client.get("/me", headers=learner.headers)
    assert me.status == 200 and "Yang style foundations" in await me.text()
    anonymous = await client.get("/me", allow_redirects=False)
    assert anonymous.status == 303 and anonymous.headers["Location"] == "/login?next=/me"
    assert (await client.get("/courses/missing")).status == 404
