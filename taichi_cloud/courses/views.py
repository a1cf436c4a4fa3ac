"""What one request sees of a course, and the pure progress aggregates (lesson → module → course)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..catalog.views import entry_locale, resolve_map
from .service import all_lessons


def lesson_kind(record: Mapping[str, Any] | None) -> str:
    if record is None:
        return "video"
    return "video" if record["kind"] == "video" or record.get("media_id") else "reading"


def present_course(course: Mapping[str, Any], requested: Sequence[str],
                   records: Mapping[str, Mapping[str, Any]],
                   durations: Mapping[str, float | None]) -> dict[str, Any]:
    """The API shape; ``records`` are the lessons' catalog entries, ``durations`` by entry id."""
    source = course["source_locale"]
    title_map = {tag: t["title"] for tag, t in course["translations"].items()}
    title, locale = resolve_map(title_map, requested, source)
    summary = course["translations"].get(locale or source, {}).get("summary", "")
    modules = []
    for module in course["modules"]:
        lessons = []
        for lesson in module["lessons"]:
            record = records.get(lesson["entry"])
            lesson_title = resolve_map(lesson["titles"], requested, source)[0] if lesson["titles"] else ""
            if not lesson_title and record is not None:
                lesson_title = record["translations"].get(entry_locale(record, requested), {}).get("title", "")
            kind = lesson_kind(record)
            duration = durations.get(lesson["entry"])
            lessons.append({"id": lesson["id"], "entry": lesson["entry"],
                            "title": lesson_title or lesson["entry"], "kind": kind,
                            "duration": round(duration, 3) if duration else None,
                            "entry_kind": record["kind"] if record else None})
        modules.append({"id": module["id"], "title": resolve_map(module["titles"], requested, source)[0],
                        "lessons": lessons})
    return {
        "id": course["id"], "title": title, "summary": summary, "locale": locale or source,
        "translations": course["translations"], "source_locale": source, "owner": course["owner"],
        "visibility": course["visibility"], "completion_threshold": course["completion_threshold"],
        "embed_origins": course["embed_origins"], "modules": modules,
        "url": f"/courses/{course['id']}", "embed_url": f"/embed/courses/{course['id']}",
        "created_at": course["created_at"], "updated_at": course["updated_at"],
    }


def lesson_progress_view(lesson: Mapping[str, Any], row: Mapping[str, Any] | None) -> dict[str, Any]:
    """One lesson's progress for one learner; ``row`` is the stored ``lesson_progress`` state."""
    if row is None:
        return {"lesson": lesson["id"], "entry": lesson["entry"], "watched_seconds": 0.0,
                "fraction": 0.0, "completed": False, "position": 0.0,
                "duration": lesson.get("duration"), "completed_at": None, "last_seen": None}
    duration = float(row["duration"]) or (lesson.get("duration") or 0.0)
    watched = float(row["watched_seconds"])
    completed = row["completed_at"] is not None
    fraction = 1.0 if completed and lesson.get("kind") == "reading" else (
        min(1.0, watched / duration) if duration else 0.0)
    return {"lesson": lesson["id"], "entry": lesson["entry"], "watched_seconds": round(watched, 3),
            "fraction": round(fraction, 4), "completed": completed,
            "position": round(float(row["position"]), 3), "duration": round(duration, 3) or None,
            "completed_at": row["completed_at"], "last_seen": row["updated_at"]}


def course_progress(presented: Mapping[str, Any],
                    rows: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Module and course aggregates (each lesson weighs the same) and where to continue."""
    modules = []
    flat: list[dict[str, Any]] = []
    for module in presented["modules"]:
        views = [lesson_progress_view(lesson, rows.get(lesson["id"])) for lesson in module["lessons"]]
        flat += views
        modules.append({"id": module["id"], "title": module["title"], "lessons": views,
                        "completed": all(v["completed"] for v in views),
                        "completed_lessons": sum(v["completed"] for v in views),
                        "fraction": round(sum(v["fraction"] for v in views) / len(views), 4)
                        if views else 0.0})
    total = len(flat)
    done = sum(v["completed"] for v in flat)
    return {"course": presented["id"], "title": presented["title"], "modules": modules,
            "total_lessons": total, "completed_lessons": done,
            "fraction": round(sum(v["fraction"] for v in flat) / total, 4) if total else 0.0,
            "completed": total > 0 and done == total, "resume": resume_point(flat, rows)}


def resume_point(views: Sequence[Mapping[str, Any]],
                 rows: Mapping[str, Mapping[str, Any]]) -> dict[str, Any] | None:
    """The lesson last watched if unfinished, else the next unfinished one after it."""
    if not views or all(v["completed"] for v in views):
        return None
    touched = [(rows[v["lesson"]]["position_at"], i) for i, v in enumerate(views) if v["lesson"] in rows]
    start = max(touched)[1] if touched else 0
    for offset in range(len(views)):
        view = views[(start + offset) % len(views)]
        if not view["completed"]:
            return {"lesson": view["lesson"], "entry": view["entry"],
                    "position": view["position"]}
    return None


def course_lesson_ids(course: Mapping[str, Any]) -> list[str]:
    return [lesson["id"] for lesson in all_lessons(dict(course))]
