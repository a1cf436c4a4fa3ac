"""The catalog over real HTTP: entries, translations and fallbacks, workflow, visibility, lineage."""

from __future__ import annotations

from .conftest import problem

VIDEO = {
    "kind": "video", "source_locale": "zh-Hans", "style": "yang", "level": "beginner",
    "languages": ["zh-Hans"], "tags": ["Form", "form", "beginner"],
    "translations": {
        "zh-Hans": {"title": "简化太极拳", "summary": "二十四式", "body": "第一段\n\n第二段"},
        "zh-Hant": {"title": "簡化太極拳", "summary": "二十四式"},
        "en": {"title": "Simplified Tai Chi", "summary": "The 24-form"},
    },
    "chapters": [{"start": 4, "end": 8, "title": {"zh-Hans": "野马分鬃", "en": "Part the wild horse's mane"}},
                 {"start": 0, "end": 4, "title": {"zh-Hans": "起势", "en": "Commencement"}}],
    "dc": {"creator": "National Sports Commission", "date": "1956", "type": "MovingImage",
           "rights": "In copyright - educational use"},
    "rights_uri": "https://rightsstatements.org/vocab/InC-EDU/1.0/",
}


async def create(client, headers, body=VIDEO):
    r = await client.post("/api/v1/entries", json=body, headers=headers)
    assert r.status == 201, await r.text()
    return await r.json()


async def publish(client, entry_id, curator, reviewer):
    r = await client.post(f"/api/v1/entries/{entry_id}/transitions", json={"to": "review"},
                          headers=curator.headers)
    assert r.status == 200, await r.text()
    r = await client.post(f"/api/v1/entries/{entry_id}/transitions",
                          json={"to": "published", "comment": "checked sources"}, headers=reviewer.headers)
    assert r.status == 200, await r.text()


async def test_create_returns_the_contract_fields(client, make_user):
    curator = await make_user("curator")
    entry = await create(client, curator.headers)
    for key in ("id", "kind", "status", "visibility", "title", "summary", "locale", "translations",
                "source_locale", "style", "level", "tags", "languages", "people", "chapters", "dc",
                "media", "created_at", "updated_at"):
        assert key in entry
    assert entry["status"] == "draft" and entry["visibility"] == "public"
    assert entry["tags"] == ["form", "beginner"]
    assert [c["start"] for c in entry["chapters"]] == [0, 4]
    assert entry["dc"]["date"] == "1956" and entry["dc"]["publisher"] == ""


async def test_one_entry_in_three_languages(client, make_user):
    curator, reviewer = await make_user("curator"), await make_user("reviewer")
    entry = await create(client, curator.headers)
    await publish(client, entry["id"], curator, reviewer)
    url = f"/api/v1/entries/{entry['id']}"

    r = await client.get(url, headers={"Accept-Language": "zh-TW,zh;q=0.8"})
    body = await r.json()
    assert r.headers["Content-Language"] == "zh-Hant"
    assert body["title"] == "簡化太極拳" and body["locale"] == "zh-Hant"

    r = await client.get(url + "?lang=en", headers={"Accept-Language": "zh-TW"})
    assert r.headers["Content-Language"] == "en"
    body = await r.json()
    assert body["title"] == "Simplified Tai Chi"
    assert body["chapters"][0]["title"] == "Commencement"

    # No French text: the Accept-Language list goes on to English before the source locale.
    r = await client.get(url + "?lang=fr", headers={"Accept-Language": "fr, en;q=0.5"})
    assert r.headers["Content-Language"] == "en"
    # Nothing requested matches: the source locale answers, and says so.
    r = await client.get(url + "?lang=es")
    assert r.headers["Content-Language"] == "zh-Hans"
    body = await r.json()
    assert body["title"] == "简化太极拳" and body["chapters"][1]["title"] == "野马分鬃"


async def test_anonymous_sees_published_public_only(client, make_user):
    curator, reviewer = await make_user("curator"), await make_user("reviewer")
    other_curator = await make_user("curator")
    draft = await create(client, curator.headers)
    public = await create(client, curator.headers)
    private = await create(client, curator.headers, {**VIDEO, "visibility": "private"})
    unlisted = await create(client, curator.headers, {**VIDEO, "visibility": "unlisted"})
    for e in (public, private, unlisted):
        await publish(client, e["id"], curator, reviewer)

    listing = await (await client.get("/api/v1/entries")).json()
    assert [e["id"] for e in listing["items"]] == [public["id"]] and listing["total"] == 1
    assert (await client.get(f"/api/v1/entries/{draft['id']}")).status == 404
    assert (await client.get(f"/api/v1/entries/{private['id']}")).status == 404
    # Unlisted: reachable by its link, never listed.
    assert (await client.get(f"/api/v1/entries/{unlisted['id']}")).status == 200
    # The draft's own curator sees it; another curator does not.
    assert (await client.get(f"/api/v1/entries/{draft['id']}", headers=curator.headers)).status == 200
    assert (await client.get(f"/api/v1/entries/{draft['id']}", headers=other_curator.headers)).status == 404
    mine = await (await client.get("/api/v1/entries?status=draft", headers=curator.headers)).json()
    assert [e["id"] for e in mine["items"]] == [draft["id"]]
    everything = await (await client.get("/api/v1/entries", headers=reviewer.headers)).json()
    assert everything["total"] == 4


async def test_workflow_rules_and_audit_log(client, make_user):
    curator, reviewer = await make_user("curator"), await make_user("reviewer")
    entry = await create(client, curator.headers)
    url = f"/api/v1/entries/{entry['id']}/transitions"
    r = await client.post(url, json={"to": "published"}, headers=curator.headers)
    assert r.status == 409  # draft cannot jump to published
    await client.post(url, json={"to": "review"}, headers=curator.headers)
    r = await client.post(url, json={"to": "published"}, headers=curator.headers)
    assert r.status == 403  # only reviewers publish
    problem(await r.json(), 403)
    r = await client.post(url, json={"to": "draft", "comment": "add sources"}, headers=reviewer.headers)
    assert r.status == 200
    await publish(client, entry["id"], curator, reviewer)
    r = await client.post(url, json={"to": "withdrawn", "comment": "rights unclear"}, headers=reviewer.headers)
    assert r.status == 200
    r = await client.post(url, json={"to": "sideways"}, headers=reviewer.headers)
    assert r.status == 400 and (await r.json())["field"] == "to"

    log = (await (await client.get(f"/api/v1/entries/{entry['id']}/audit", headers=curator.headers)).json())["events"]
    moves = [(e["from"], e["to"]) for e in log if e["action"] == "transition"]
    assert moves == [("draft", "review"), ("review", "draft"), ("draft", "review"),
                     ("review", "published"), ("published", "withdrawn")]
    assert log[-1]["comment"] == "rights unclear" and log[-1]["actor"] == reviewer.id
    assert all(e["at"].endswith("Z") for e in log)
    assert (await client.get(f"/api/v1/entries/{entry['id']}")).status == 404  # withdrawn


async def test_patch_merges_translations_and_keeps_the_rest(client, make_user):
    curator = await make_user("curator")
    entry = await create(client, curator.headers)
    url = f"/api/v1/entries/{entry['id']}"
    r = await client.patch(url, json={"translations": {"fr": {"title": "Tai-chi simplifié"}, "zh-Hant": None},
                                      "level": "intermediate"}, headers=curator.headers)
    assert r.status == 200, await r.text()
    body = await r.json()
    assert set(body["translations"]) == {"zh-Hans", "en", "fr"}
    assert body["level"] == "intermediate" and len(body["chapters"]) == 2
    other = await make_user("curator")
    r = await client.patch(url, json={"level": "advanced"}, headers=other.headers)
    assert r.status == 404  # another curator's draft is invisible to them


async def test_bad_input_is_400_naming_the_field_and_changes_nothing(client, make_user):
    curator = await make_user("curator")
    entry = await create(client, curator.headers)
    url = f"/api/v1/entries/{entry['id']}"
    cases = [
        ({**VIDEO, "colour": "red"}, "colour"),
        ({**VIDEO, "kind": "painting"}, "kind"),
        ({**VIDEO, "translations": {"en": {"title": "x" * 301}}}, "translations.en.title"),
        ({**VIDEO, "translations": {"not a tag!": {"title": "x"}}}, "translations"),
        ({**VIDEO, "level": 3}, "level"),
        ({**VIDEO, "chapters": [{"start": 5, "end": 2, "title": {"en": "x"}}]}, "chapters.0.end"),
        ({**VIDEO, "people": [{"id": "nobody"}]}, "people.0.id"),
        ({**VIDEO, "born": "1799"}, "born"),
    ]
    for body, field in cases:
        r = await client.post("/api/v1/entries", json=body, headers=curator.headers)
        assert r.status == 400, (field, await r.text())
        problem_body = await r.json()
        problem(problem_body, 400)
        assert r.content_type == "application/problem+json"
        assert field in (problem_body.get("field") or problem_body["detail"]), (field, problem_body)

    r = await client.patch(url, json={"translations": {"en": {"title": ""}}}, headers=curator.headers)
    assert r.status == 400
    r = await client.patch(url, data=b"{not json", headers={**curator.headers, "Content-Type": "application/json"})
    assert r.status == 400 and "JSON" in (await r.json())["detail"]
    r = await client.patch(url, data=b'{"level": "\xff"}', headers={**curator.headers, "Content-Type": "application/json"})
    assert r.status == 400 and "UTF-8" in (await r.json())["detail"]
    r = await client.patch(url, data=b"level=advanced", headers={**curator.headers, "Content-Type": "text/plain"})
    assert r.status == 415
    r = await client.patch(url, data=("[" * 100000).encode(), headers={**curator.headers, "Content-Type": "application/json"})
    assert r.status == 400
    r = await client.patch(url, data=b'{"tags": ["' + b"x" * 2_000_000 + b'"]}',
                           headers={**curator.headers, "Content-Type": "application/json"})
    assert r.status == 413
    r = await client.get("/api/v1/entries?per_page=1000")
    assert r.status == 400 and (await r.json())["field"] == "per_page"
    r = await client.get("/api/v1/entries?page=abc")
    assert r.status == 400
    r = await client.get(url + "?lang=%%%")
    assert r.status == 400 and (await r.json())["field"] == "lang"

    after = await (await client.get(url, headers=curator.headers)).json()
    assert after["translations"] == entry["translations"] and after["updated_at"] == entry["updated_at"]


async def test_unknown_ids_and_routes_are_404_problems(client):
    r = await client.get("/api/v1/entries/does-not-exist")
    assert r.status == 404
    problem(await r.json(), 404)
    r = await client.get("/api/v1/nothing-here")
    assert r.status == 404 and r.content_type == "application/problem+json"
    r = await client.delete("/api/v1/entries")
    assert r.status == 405


async def test_people_lineage_graph(client, make_user):
    curator, reviewer = await make_user("curator"), await make_user("reviewer")

    async def person(pid, name, teachers=(), born=None):
        body = {"id": pid, "kind": "person", "source_locale": "en", "translations": {"en": {"title": name}},
                "names": {"en": name}, "teachers": list(teachers), "born": born}
        e = await create(client, curator.headers, body)
        await publish(client, e["id"], curator, reviewer)
        return e

    await person("chen-changxing", "Chen Changxing", born="1771")
    await person("yang-luchan", "Yang Luchan", ["chen-changxing"], "1799")
    await person("yang-jianhou", "Yang Jianhou", ["yang-luchan"], "1839")
    await person("yang-chengfu", "Yang Chengfu", ["yang-jianhou"], "1883")
    hidden = await create(client, curator.headers, {"id": "secret-student", "kind": "person", "source_locale": "en",
                                                    "translations": {"en": {"title": "Draft person"}},
                                                    "teachers": ["yang-chengfu"]})
    assert hidden["status"] == "draft"

    r = await client.get("/api/v1/people/yang-luchan/lineage?depth=1")
    graph = await r.json()
    assert {n["id"] for n in graph["nodes"]} == {"chen-changxing", "yang-luchan", "yang-jianhou"}
    assert {(e["teacher"], e["student"]) for e in graph["edges"]} == {
        ("chen-changxing", "yang-luchan"), ("yang-luchan", "yang-jianhou")}
    graph = await (await client.get("/api/v1/people/yang-luchan/lineage?depth=5")).json()
    assert "yang-chengfu" in {n["id"] for n in graph["nodes"]}
    assert "secret-student" not in {n["id"] for n in graph["nodes"]}  # drafts stay hidden
    person_entry = await (await client.get("/api/v1/entries/yang-luchan")).json()
    assert person_entry["teachers"] == ["chen-changxing"] and person_entry["students"] == ["yang-jianhou"]
    r = await client.get("/api/v1/people/yang-luchan/lineage?depth=99")
    assert r.status == 400
    r = await client.patch("/api/v1/entries/yang-luchan", json={"teachers": ["yang-luchan"]}, headers=reviewer.headers)
    assert r.status == 400


async def test_delete_entry(client, make_user):
    curator, learner = await make_user("curator"), await make_user("learner")
    entry = await create(client, curator.headers)
    url = f"/api/v1/entries/{entry['id']}"
    assert (await client.delete(url, headers=learner.headers)).status == 403
    assert (await client.delete(url, headers=curator.headers)).status == 204
    assert (await client.get(url, headers=curator.headers)).status == 404
