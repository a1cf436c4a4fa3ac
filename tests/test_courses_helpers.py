"""Shared steps for the courses, progress, reports, xAPI and embed tests (no tests here)."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient


async def video(client: TestClient[Any, Any], curator: Any, title: str, seconds: float,
                reviewer: Any | None = None, *, draft: bool = False, **extra: Any) -> str:
    """A published video entry whose chapters end at ``seconds`` (its lesson duration); a draft
    with ``draft=True`` (a course's owner may only build lessons of entries they may see)."""
    body = {"kind": "video", "translations": {"en": {"title": title}, **extra.pop("translations", {})},
            "chapters": [{"start": 0, "end": seconds / 2, "title": {"en": "Opening"}},
                         {"start": seconds / 2, "end": seconds, "title": {"en": "Closing"}}],
            **extra}
    r = await client.post("/api/v1/entries", json=body, headers=curator.headers)
    assert r.status == 201, await r.text()
    entry_id: str = (await r.json())["id"]
    if not draft:
        if reviewer is None:
            reviewer = await _reviewer(client)
        await publish(client, entry_id, curator, reviewer)
    return entry_id


async def _reviewer(client: TestClient[Any, Any]) -> Any:
    from types import SimpleNamespace

    from taichi_cloud.keys import ACCOUNTS
    from taichi_cloud.util import new_id

    accounts = client.app[ACCOUNTS]
    user = await accounts.create_user(f"reviewer-{new_id().lower()}@example.org", "correct horse battery",
                                      "Reviewer", "reviewer")
    token = await accounts.issue_token(user.id)
    return SimpleNamespace(id=user.id, headers={"Authorization": f"Bearer {token}"})


async def publish(client: TestClient[Any, Any], entry_id: str, curator: Any, reviewer: Any) -> None:
    r = await client.post(f"/api/v1/entries/{entry_id}/transitions", json={"to": "review"},
                          headers=curator.headers)
    assert r.status == 200, await r.text()
    r = await client.post(f"/api/v1/entries/{entry_id}/transitions", json={"to": "published"},
                          headers=reviewer.headers)
    assert r.status == 200, await r.text()


async def course(client: TestClient[Any, Any], owner: Any, modules: list[list[str]],
                 **extra: Any) -> dict[str, Any]:
    body = {"translations": {"en": {"title": "Yang style foundations"}},
            "modules": [{"title": f"Module {i + 1}", "lessons": [{"entry": e} for e in entries]}
                        for i, entries in enumerate(modules)], **extra}
    r = await client.post("/api/v1/courses", json=body, headers=owner.headers)
    assert r.status == 201, await r.text()
    created: dict[str, Any] = await r.json()
    return created


def lesson_ids(course_body: dict[str, Any]) -> list[str]:
    return [lesson["id"] for m in course_body["modules"] for lesson in m["lessons"]]


async def enrol(client: TestClient[Any, Any], course_id: str, learner: Any) -> None:
    r = await client.post(f"/api/v1/courses/{course_id}/enrollment", headers=learner.headers)
    assert r.status in (200, 201), await r.text()


async def beat(client: TestClient[Any, Any], learner: Any, lesson: str, session: str, seq: int,
               position: float, segments: list[list[float]], **extra: Any) -> Any:
    r = await client.put(f"/api/v1/progress/{lesson}", headers=learner.headers,
                         json={"session": session, "seq": seq, "position": position,
                               "segments": segments, **extra})
    return r
