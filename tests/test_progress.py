"""Progress heartbeats through real HTTP: merging, idempotency, order, completion, resume."""

from __future__ import annotations

import asyncio
import random

from taichi_cloud.keys import COURSES
from tests.conftest import problem
from tests.test_courses_helpers import beat, course, enrol, lesson_ids, video


async def _setup(client, make_user, seconds=200.0):
    school = curator = await make_user("curator")
    entry = await video(client, curator, "Grasp the sparrow's tail", seconds)
    created = await course(client, school, [[entry]])
    learner = await make_user("learner")
    await enrol(client, created["id"], learner)
    return created, lesson_ids(created)[0], learner


async def test_overlapping_replayed_and_out_of_order_heartbeats_merge_exactly(client, make_user):
    _, lesson, learner = await _setup(client, make_user)
    beats = [(1, 10, [[0, 10]]), (2, 20, [[8, 20]]), (3, 30, [[20, 30]]),
             (4, 60, [[50, 60]]), (5, 70, [[55, 70]])]
    random.Random(3).shuffle(beats)
    for seq, position, segments in beats + beats[:3]:  # shuffled, then three replays
        r = await beat(client, learner, lesson, "phone", seq, position, segments)
        assert r.status == 200, await r.text()
    state = await r.json()
    # [0, 30] + [50, 70] = 50 s, whatever the order and however often they arrived.
    assert state["watched_seconds"] == 50
    assert state["fraction"] == 0.25
    assert state["completed"] is False
    assert state["position"] == 70  # the highest seq of the session, not the last to arrive


async def test_replay_with_different_segments_is_ignored(client, make_user):
    _, lesson, learner = await _setup(client, make_user)
    assert (await (await beat(client, learner, lesson, "s", 1, 10, [[0, 10]])).json())["watched_seconds"] == 10
    replay = await (await beat(client, learner, lesson, "s", 1, 100, [[0, 100]])).json()
    assert replay["watched_seconds"] == 10  # (session, seq) already counted


async def test_scrubbing_to_the_end_does_not_complete_but_watching_90_percent_does(client, make_user):
    _, lesson, learner = await _setup(client, make_user, seconds=100.0)
    r = await beat(client, learner, lesson, "tv", 1, 99.5, [[0, 3], [97, 99.5]], event="seek")
    state = await r.json()
    assert state["completed"] is False and state["position"] == 99.5
    assert state["watched_seconds"] == 5.5
    state = await (await beat(client, learner, lesson, "tv", 2, 85, [[3, 85]])).json()
    assert state["watched_seconds"] == 87.5 and state["completed"] is False  # [0, 85] + [97, 99.5]
    state = await (await beat(client, learner, lesson, "tv", 3, 88, [[85, 88]])).json()
    assert state["watched_seconds"] == 90.5 and state["completed"] is True
    assert state["position"] == 88


async def test_completion_threshold_is_per_course(client, make_user):
    school = curator = await make_user("curator")
    entry = await video(client, curator, "Single whip", 100.0)
    created = await course(client, school, [[entry]], completion_threshold=0.5)
    learner = await make_user("learner")
    await enrol(client, created["id"], learner)
    lesson = lesson_ids(created)[0]
    assert (await (await beat(client, learner, lesson, "a", 1, 49, [[0, 49]])).json())["completed"] is False
    assert (await (await beat(client, learner, lesson, "a", 2, 50, [[49, 50]])).json())["completed"] is True


async def test_resume_position_is_the_latest_across_devices(client, make_user):
    _, lesson, learner = await _setup(client, make_user)
    await beat(client, learner, lesson, "laptop", 7, 120, [[100, 120]], at="2030-01-01T10:05:00Z")
    # an older beat from another device arriving later does not move the playhead back
    state = await (await beat(client, learner, lesson, "phone", 1, 15, [[0, 15]],
                              at="2020-01-01T09:00:00Z")).json()
    assert state["position"] == 120
    assert state["watched_seconds"] == 35
    later = await (await beat(client, learner, lesson, "phone", 2, 40, [[15, 40]])).json()
    assert later["position"] == 40  # server time now is after the laptop's (clamped) clock


async def test_bad_heartbeats_are_clear_400s(client, make_user):
    _, lesson, learner = await _setup(client, make_user, seconds=120.0)
    cases = [
        ({"segments": [[30, 10]]}, "segments.0"),
        ({"segments": [[-5, 10]]}, "segments.0.0"),
        ({"segments": [[0, 400]]}, "segments.0.1"),
        ({"position": -1}, "position"),
        ({"position": 500}, "position"),
        ({"position": "ten"}, "position"),
        ({"seq": -1}, "seq"),
        ({"session": ""}, "session"),
        ({"event": "dance"}, "event"),
    ]
    for change, field in cases:
        body = {"session": "s", "seq": 1, "position": 5, "segments": [[0, 5]], **change}
        r = await client.put(f"/api/v1/progress/{lesson}", json=body, headers=learner.headers)
        assert r.status == 400, (change, await r.text())
        err = await r.json()
        problem(err, 400)
        assert err["field"] == field, (change, err)
    # NaN is not JSON; a body that smuggles it in is refused as well
    r = await client.put(f"/api/v1/progress/{lesson}", headers={**learner.headers,
                         "Content-Type": "application/json"},
                         data='{"session": "s", "seq": 1, "position": NaN}')
    assert r.status == 400


async def test_unknown_lesson_not_enrolled_and_anonymous(client, make_user):
    created, lesson, _ = await _setup(client, make_user)
    stranger = await make_user("learner")
    r = await beat(client, stranger, lesson, "s", 1, 1, [[0, 1]])
    assert r.status == 403
    problem(await r.json(), 403)
    r = await beat(client, stranger, "no-such-lesson", "s", 1, 1, [[0, 1]])
    assert r.status == 404
    r = await client.put(f"/api/v1/progress/{lesson}", json={"session": "s", "seq": 1, "position": 0})
    assert r.status == 401


async def test_client_duration_when_the_server_knows_none(client, make_user):
    school = curator = await make_user("curator")
    r = await client.post("/api/v1/entries", headers=curator.headers,
                          json={"kind": "video", "translations": {"en": {"title": "No chapters"}}})
    created = await course(client, school, [[(await r.json())["id"]]])
    learner = await make_user("learner")
    await enrol(client, created["id"], learner)
    lesson = lesson_ids(created)[0]
    r = await beat(client, learner, lesson, "s", 1, 5, [[0, 5]])
    assert r.status == 400 and (await r.json())["field"] == "duration"
    r = await beat(client, learner, lesson, "s", 1, 5, [[0, 5]], duration=10 * 86400)
    assert r.status == 400 and (await r.json())["field"] == "duration"
    assert (await (await beat(client, learner, lesson, "s", 1, 5, [[0, 5]], duration=50)).json())["fraction"] == 0.1
    # a later, shorter claimed duration cannot make the same seconds count for more
    state = await (await beat(client, learner, lesson, "s", 2, 5, [[0, 5]], duration=5)).json()
    assert state["duration"] == 50 and state["completed"] is False


async def test_many_concurrent_heartbeats_share_transactions_and_all_count(client, make_user):
    school = curator = await make_user("curator")
    entry = await video(client, curator, "Cloud hands", 600.0)
    created = await course(client, school, [[entry]])
    lesson = lesson_ids(created)[0]
    learners = [await make_user("learner") for _ in range(4)]
    for learner in learners:
        await enrol(client, created["id"], learner)

    async def watch(learner, offset):
        results = []
        for seq in range(15):
            start = offset + seq * 10
            r = await beat(client, learner, lesson, "s", seq, start + 10, [[start, start + 10]])
            assert r.status == 200
            results.append(await r.json())
        return results

    outcomes = await asyncio.gather(*(watch(learner, i) for i, learner in enumerate(learners)))
    for results in outcomes:
        assert results[-1]["watched_seconds"] == 150
    for learner in learners:
        r = await client.get(f"/api/v1/me/progress?course={created['id']}", headers=learner.headers)
        assert (await r.json())["modules"][0]["lessons"][0]["watched_seconds"] == 150
    recorder = client.app[COURSES].recorder
    assert recorder.recorded >= 60 and recorder.batches <= recorder.recorded


async def test_me_progress_aggregates_modules_and_course(client, make_user):
    school = curator = await make_user("curator")
    a = await video(client, curator, "Part A", 100.0)
    b = await video(client, curator, "Part B", 100.0)
    c = await video(client, curator, "Part C", 100.0)
    created = await course(client, school, [[a, b], [c]])
    learner = await make_user("learner")
    await enrol(client, created["id"], learner)
    la, lb, lc = lesson_ids(created)
    await beat(client, learner, la, "s", 1, 95, [[0, 95]])
    await beat(client, learner, lb, "s", 1, 30, [[0, 30]])
    body = await (await client.get(f"/api/v1/me/progress?course={created['id']}",
                                   headers=learner.headers)).json()
    m1, m2 = body["modules"]
    assert m1["completed_lessons"] == 1 and m1["fraction"] == round((0.95 + 0.3) / 2, 4)
    assert m2["fraction"] == 0 and body["completed_lessons"] == 1 and body["total_lessons"] == 3
    assert body["fraction"] == round((0.95 + 0.3) / 3, 4)
    assert body["resume"] == {"lesson": lb, "entry": b, "position": 30}
    everything = await (await client.get("/api/v1/me/progress", headers=learner.headers)).json()
    assert [c["course"] for c in everything["courses"]] == [created["id"]]
    other = await make_user("learner")
    r = await client.get(f"/api/v1/me/progress?course={created['id']}", headers=other.headers)
    assert r.status == 403


async def test_replays_arriving_together_count_once_and_all_get_the_committed_state(client, make_user):
    _, lesson, learner = await _setup(client, make_user)
    beats = [(seq, 10.0 * seq, [[10.0 * (seq - 1), 10.0 * seq]]) for seq in range(1, 9)]
    # every beat three times at once, shuffled: copies land in the same batch and in later ones
    sent = beats * 3
    random.Random(11).shuffle(sent)
    replies = await asyncio.gather(*(beat(client, learner, lesson, "tab", seq, position, segments)
                                     for seq, position, segments in sent))
    assert all(r.status == 200 for r in replies)
    states = [await r.json() for r in replies]
    assert all(0 < s["watched_seconds"] <= 80 for s in states)
    final = await (await beat(client, learner, lesson, "tab", 8, 80.0, [[70.0, 80.0]])).json()
    assert final["watched_seconds"] == 80 and final["position"] == 80
    # a second device's session overlapping the first adds only what is new
    more = await (await beat(client, learner, lesson, "phone", 1, 90.0, [[60.0, 90.0]])).json()
    assert more["watched_seconds"] == 90
    r = await client.get("/api/v1/xapi/statements", headers=learner.headers)
    initialized = [s for s in (await r.json())["statements"] if s["verb"]["display"]["en-US"] ==
                   "initialized"]
    assert len(initialized) == 2  # one per session, however often its first beat arrived


async def test_enrolments_made_elsewhere_after_the_course_was_cached_still_count(client, make_user):
    from taichi_cloud.courses.tables import enrollments
    from taichi_cloud.keys import DB
    from taichi_cloud.util import iso

    created, lesson, first = await _setup(client, make_user)
    assert (await beat(client, first, lesson, "a", 1, 10, [[0, 10]])).status == 200
    # another server process enrols a second learner: this one has the course's list cached
    second, outsider = await make_user("learner"), await make_user("learner")
    async with client.app[DB].write() as conn:
        await conn.execute(enrollments.insert().values(course_id=created["id"], user_id=second.id,
                                                       enrolled_at=iso()))
    assert (await beat(client, second, lesson, "b", 1, 10, [[0, 10]])).status == 200
    r = await beat(client, outsider, lesson, "c", 1, 10, [[0, 10]])
    assert r.status == 403
