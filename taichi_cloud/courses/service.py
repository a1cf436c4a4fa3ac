"""Courses: create and edit, visibility, enrolment, and the lesson lookups heartbeats need.

Records are plain dicts with every language (``courses/views.py`` resolves them for a request).
A course's modules and lessons are fixed once created, so lesson lookups are cached in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ..accounts.service import User
from ..catalog.service import Catalog, can_view
from ..catalog.tables import entries
from ..db import Database
from ..errors import Conflict, Forbidden, Invalid, NotFound
from ..i18n import normalize_tag
from ..util import iso, new_id
from .model import DEFAULT_THRESHOLD, normalize_origin
from .tables import course_modules, courses, enrollments, lessons

CREATORS = ("school", "curator")
LESSON_KINDS = {"video": "video", "archive": "reading"}


@dataclass(frozen=True)
class LessonRef:
    """What a heartbeat needs to know about its lesson."""

    id: str
    course_id: str
    entry_id: str
    owner_id: str
    threshold: float


def can_view_course(course: dict[str, Any], viewer: User | None, *, enrolled: bool = False,
                    listing: bool = False) -> bool:
    if viewer is not None and (viewer.has("admin") or course["owner"] == viewer.id):
        return True
    if course["visibility"] == "public":
        return True
    if course["visibility"] == "unlisted":
        return not listing or enrolled
    return enrolled


def owns_course(course: dict[str, Any], viewer: User | None) -> bool:
    return viewer is not None and (viewer.has("admin") or course["owner"] == viewer.id)


class Courses:
    def __init__(self, db: Database, catalog: Catalog) -> None:
        self.db = db
        self.catalog = catalog
        self._lessons: dict[str, LessonRef] = {}
        self._enrolled: set[tuple[str, str]] = set()
        #: Courses whose enrolments were all read once: after a restart, the first heartbeat of
        #: a course costs one query instead of one query per learner.
        self._enrolments_loaded: set[str] = set()

    # -- writes --------------------------------------------------------------------------
    async def create(self, data: dict[str, Any], owner: User) -> str:
        translations = _translations(data["translations"])
        source = normalize_tag(data.get("source_locale") or next(iter(translations)))
        if source not in translations:
            raise Invalid("source_locale must be one of the translations' languages",
                          field="source_locale")
        origins = _origins(data.get("embed_origins") or [])
        course_id = data.get("id") or new_id()
        now = iso()
        async with self.db.write() as conn:
            if (await conn.execute(sa.select(courses.c.id).where(courses.c.id == course_id))).first():
                raise Conflict(f"a course with id {course_id} exists", field="id")
            await _check_entries(conn, data["modules"], owner)
            await conn.execute(courses.insert().values(
                id=course_id, owner_id=owner.id, visibility=data.get("visibility", "public"),
                source_locale=source, translations=translations, embed_origins=origins,
                completion_threshold=float(data.get("completion_threshold", DEFAULT_THRESHOLD)),
                created_at=now, updated_at=now))
            for m_index, module in enumerate(data["modules"]):
                module_id = new_id()
                titles = {normalize_tag(t): v for t, v in (module.get("titles") or {}).items()}
                titles.setdefault(source, module["title"])
                await conn.execute(course_modules.insert().values(
                    id=module_id, course_id=course_id, position=m_index, titles=titles))
                rows = []
                for l_index, lesson in enumerate(module["lessons"]):
                    lesson_titles = {normalize_tag(t): v for t, v in (lesson.get("titles") or {}).items()}
                    if lesson.get("title"):
                        lesson_titles.setdefault(source, lesson["title"])
                    rows.append({"id": new_id(), "course_id": course_id, "module_id": module_id,
                                 "position": l_index, "entry_id": lesson["entry"],
                                 "titles": lesson_titles})
                await conn.execute(lessons.insert(), rows)
        return course_id

    async def update(self, course_id: str, patch: dict[str, Any], actor: User) -> None:
        course = await self.get(course_id)
        if course is None or not can_view_course(course, actor):
            raise NotFound(f"no course {course_id}")
        if not owns_course(course, actor):
            raise Forbidden("only the course's owner and admins may edit it")
        values: dict[str, Any] = {"updated_at": iso()}
        translations = course["translations"]
        if "translations" in patch:
            translations = {**translations, **_translations(patch["translations"])}
            values["translations"] = translations
        source = normalize_tag(patch.get("source_locale", course["source_locale"]))
        if source not in translations:
            raise Invalid("source_locale must be one of the translations' languages",
                          field="source_locale")
        values["source_locale"] = source
        if "embed_origins" in patch:
            values["embed_origins"] = _origins(patch["embed_origins"])
        for name in ("visibility", "completion_threshold"):
            if name in patch:
                values[name] = patch[name]
        async with self.db.write() as conn:
            await conn.execute(courses.update().where(courses.c.id == course_id).values(**values))
        self._lessons = {k: v for k, v in self._lessons.items() if v.course_id != course_id}

    async def enroll(self, course_id: str, user: User) -> tuple[str, bool]:
        """(enrolled_at, created): enrolling twice is harmless."""
        course = await self.get(course_id)
        if course is None or not can_view_course(course, user):
            raise NotFound(f"no course {course_id}")
        async with self.db.write() as conn:
            row = (await conn.execute(sa.select(enrollments.c.enrolled_at).where(
                enrollments.c.course_id == course_id, enrollments.c.user_id == user.id))).first()
            if row is not None:
                return str(row.enrolled_at), False
            now = iso()
            await conn.execute(enrollments.insert().values(course_id=course_id, user_id=user.id,
                                                           enrolled_at=now))
        self._enrolled.add((course_id, user.id))
        return now, True

    # -- reads ---------------------------------------------------------------------------
    async def get(self, course_id: str) -> dict[str, Any] | None:
        async with self.db.read() as conn:
            found = await _load(conn, [course_id])
        return found[0] if found else None

    async def get_visible(self, course_id: str, viewer: User | None) -> dict[str, Any]:
        course = await self.get(course_id)
        enrolled = viewer is not None and course is not None \
            and await self.is_enrolled(course_id, viewer.id)
        if course is None or not can_view_course(course, viewer, enrolled=enrolled):
            raise NotFound(f"no course {course_id}")
        return course

    async def list_visible(self, viewer: User | None, page: int, per_page: int,
                           *, owner: str | None = None) -> tuple[int, list[dict[str, Any]]]:
        cond: list[Any] = [courses.c.visibility == "public"]
        if viewer is not None:
            mine = sa.select(enrollments.c.course_id).where(enrollments.c.user_id == viewer.id)
            cond += [courses.c.owner_id == viewer.id, courses.c.id.in_(mine)]
        where: Any = sa.or_(*cond) if viewer is None or not viewer.has("admin") else sa.true()
        if owner:
            where = sa.and_(where, courses.c.owner_id == owner)
        async with self.db.read() as conn:
            total = (await conn.execute(sa.select(sa.func.count()).select_from(courses)
                                        .where(where))).scalar_one()
            ids = (await conn.execute(sa.select(courses.c.id).where(where)
                                      .order_by(courses.c.created_at.desc(), courses.c.id)
                                      .offset((page - 1) * per_page).limit(per_page))).scalars().all()
            found = await _load(conn, list(ids))
        return int(total), found

    async def enrolled_courses(self, user_id: str) -> list[tuple[dict[str, Any], str]]:
        async with self.db.read() as conn:
            rows = (await conn.execute(sa.select(enrollments).where(enrollments.c.user_id == user_id)
                                       .order_by(enrollments.c.enrolled_at.desc()))).all()
            found = {c["id"]: c for c in await _load(conn, [r.course_id for r in rows])}
        return [(found[r.course_id], str(r.enrolled_at)) for r in rows if r.course_id in found]

    async def is_enrolled(self, course_id: str, user_id: str) -> bool:
        if (course_id, user_id) in self._enrolled:
            return True
        if course_id not in self._enrolments_loaded:
            async with self.db.read() as conn:
                learners = (await conn.execute(sa.select(enrollments.c.user_id).where(
                    enrollments.c.course_id == course_id))).scalars().all()
            self._enrolments_loaded.add(course_id)
            self._enrolled.update((course_id, learner) for learner in learners)
            if (course_id, user_id) in self._enrolled:
                return True
        # Not known here: perhaps enrolled through another server process since.
        async with self.db.read() as conn:
            row = (await conn.execute(sa.select(enrollments.c.user_id).where(
                enrollments.c.course_id == course_id, enrollments.c.user_id == user_id))).first()
        if row is not None:
            self._enrolled.add((course_id, user_id))
        return row is not None

    async def enrolled_users(self, course_id: str) -> list[tuple[str, str]]:
        """(user_id, enrolled_at) of a course's learners."""
        async with self.db.read() as conn:
            rows = (await conn.execute(sa.select(enrollments).where(
                enrollments.c.course_id == course_id).order_by(enrollments.c.enrolled_at))).all()
        return [(str(r.user_id), str(r.enrolled_at)) for r in rows]

    async def lesson(self, lesson_id: str) -> LessonRef:
        cached = self._lessons.get(lesson_id)
        if cached is not None:
            return cached
        async with self.db.read() as conn:
            row = (await conn.execute(
                sa.select(lessons.c.id, lessons.c.course_id, lessons.c.entry_id, courses.c.owner_id,
                          courses.c.completion_threshold)
                .join(courses, courses.c.id == lessons.c.course_id)
                .where(lessons.c.id == lesson_id))).first()
        if row is None:
            raise NotFound(f"no lesson {lesson_id}", field="lesson_id")
        ref = LessonRef(row.id, row.course_id, row.entry_id, row.owner_id,
                        float(row.completion_threshold))
        self._lessons[lesson_id] = ref
        return ref

    async def owner_origins(self, owner_id: str | None) -> list[str]:
        """Every origin an owner allowed on any of their courses (for their videos' embeds)."""
        if not owner_id:
            return []
        async with self.db.read() as conn:
            rows = (await conn.execute(sa.select(courses.c.embed_origins)
                                       .where(courses.c.owner_id == owner_id))).scalars().all()
        return sorted({origin for origins in rows for origin in (origins or [])})


def _translations(raw: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {normalize_tag(tag): {"title": t["title"], "summary": t.get("summary", "")}
            for tag, t in raw.items()}


def _origins(raw: list[str]) -> list[str]:
    return list(dict.fromkeys(normalize_origin(o, f"embed_origins.{i}") for i, o in enumerate(raw)))


async def _check_entries(conn: AsyncConnection, modules: list[dict[str, Any]], owner: User) -> None:
    """Lessons name entries the course's owner may see (others' drafts and private entries are
    "no entry", so a course can neither show nor probe them)."""
    wanted = [(f"modules.{m}.lessons.{i}.entry", lesson["entry"])
              for m, module in enumerate(modules) for i, lesson in enumerate(module["lessons"])]
    ids = {ref for _, ref in wanted}
    rows = (await conn.execute(sa.select(entries.c.id, entries.c.kind, entries.c.status,
                                         entries.c.visibility, entries.c.owner_id)
                               .where(entries.c.id.in_(ids)))).all()
    kinds = {r.id: r.kind for r in rows
             if can_view({"owner": r.owner_id, "status": r.status, "visibility": r.visibility}, owner)}
    for field, ref in wanted:
        if ref not in kinds:
            raise Invalid(f"{field}: no entry {ref}", field=field)
        if kinds[ref] not in LESSON_KINDS:
            raise Invalid(f"{field}: {ref} is a {kinds[ref]}; lessons are videos or archive "
                          "items (readings)", field=field)


async def _load(conn: AsyncConnection, ids: list[str]) -> list[dict[str, Any]]:
    if not ids:
        return []
    rows = (await conn.execute(sa.select(courses).where(courses.c.id.in_(ids)))).all()
    module_rows = (await conn.execute(sa.select(course_modules).where(
        course_modules.c.course_id.in_(ids)).order_by(course_modules.c.position))).all()
    lesson_rows = (await conn.execute(sa.select(lessons).where(
        lessons.c.course_id.in_(ids)).order_by(lessons.c.position))).all()
    by_module: dict[str, list[dict[str, Any]]] = {}
    for r in lesson_rows:
        by_module.setdefault(r.module_id, []).append(
            {"id": r.id, "entry": r.entry_id, "titles": r.titles or {}, "module": r.module_id})
    by_course: dict[str, list[dict[str, Any]]] = {}
    for m in module_rows:
        by_course.setdefault(m.course_id, []).append(
            {"id": m.id, "titles": m.titles or {}, "lessons": by_module.get(m.id, [])})
    found = {r.id: {
        "id": r.id, "owner": r.owner_id, "visibility": r.visibility,
        "source_locale": r.source_locale, "completion_threshold": float(r.completion_threshold),
        "translations": r.translations, "embed_origins": list(r.embed_origins or []),
        "created_at": r.created_at, "updated_at": r.updated_at,
        "modules": by_course.get(r.id, []),
    } for r in rows}
    return [found[i] for i in ids if i in found]


def all_lessons(course: dict[str, Any]) -> list[dict[str, Any]]:
    return [lesson for module in course["modules"] for lesson in module["lessons"]]
