"""Courses never reveal entries their viewers may not see; audit logs are for an entry's editors."""

from __future__ import annotations

from .test_catalog import VIDEO, create, publish

SECRET = {**VIDEO, "source_locale": "en", "translations": {"en": {"title": "Unreleased master class"}}}


async def test_a_course_cannot_name_another_curators_draft(client, make_user):
    curator, school = await make_user("curator"), await make_user("school")
    draft = await create(client, curator.headers, SECRET)
    r = await client.post("/api/v1/courses", headers=school.headers, json={
        "translations": {"en": {"title": "Probe"}},
        "modules": [{"title": "One", "lessons": [{"entry": draft["id"]}]}]})
    assert r.status == 400 and "no entry" in (await r.json())["detail"]


async def test_an_entry_withdrawn_later_is_not_shown_through_the_course(client, make_user):
    curator, reviewer, school = await make_user("curator"), await make_user("reviewer"), await make_user("school")
    entry = await create(client, curator.headers, SECRET)
    await publish(client, entry["id"], curator, reviewer)
    r = await client.post("/api/v1/courses", headers=school.headers, json={
        "translations": {"en": {"title": "Open course"}},
        "modules": [{"title": "One", "lessons": [{"entry": entry["id"]}]}]})
    assert r.status == 201, await r.text()
    course_id = (await r.json())["id"]
    shown = await (await client.get(f"/api/v1/courses/{course_id}")).json()
    assert shown["modules"][0]["lessons"][0]["title"] == "Unreleased master class"
    r = await client.post(f"/api/v1/entries/{entry['id']}/transitions", json={"to": "withdrawn"},
                          headers=reviewer.headers)
    assert r.status == 200
    shown = await (await client.get(f"/api/v1/courses/{course_id}")).json()
    assert "Unreleased master class" not in str(shown)
    html = await (await client.get(f"/courses/{course_id}")).text()
    assert "Unreleased master class" not in html


async def test_audit_log_is_for_the_entrys_editors(client, make_user):
    curator, other, reviewer = await make_user("curator"), await make_user("curator"), await make_user("reviewer")
    entry = await create(client, curator.headers, SECRET)
    await publish(client, entry["id"], curator, reviewer)
    url = f"/api/v1/entries/{entry['id']}/audit"
    assert (await client.get(url, headers=curator.headers)).status == 200
    assert (await client.get(url, headers=reviewer.headers)).status == 200
    assert (await client.get(url, headers=other.headers)).status == 404
