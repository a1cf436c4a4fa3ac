"""Catalog operations: create, edit, workflow transitions with an audit log, queries, lineage.

Records returned here are plain dicts in the "record" shape (every language, nothing resolved);
``catalog/views.py`` turns them into what one request sees. Subscribers (search) are told the id
of every entry that changed, after the change is committed.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ..accounts.service import User
from ..db import Database
from ..errors import Conflict, Forbidden, Invalid, NotFound
from ..util import iso, new_id
from .model import DATA_FIELDS, check_kind_fields, normalize_fields
from .tables import entries, entry_audit, entry_translations, lineage

log = logging.getLogger(__name__)
Subscriber = Callable[[str], Awaitable[None]]

EDITORS = ("curator", "reviewer")
PUBLISHERS = ("reviewer",)
# (from, to) -> roles allowed besides the entry's owner (None: the owner may too).
TRANSITIONS: dict[tuple[str, str], tuple[tuple[str, ...], bool]] = {
    ("draft", "review"): (PUBLISHERS, True),
    ("review", "draft"): (PUBLISHERS, True),
    ("review", "published"): (PUBLISHERS, False),
    ("published", "withdrawn"): (PUBLISHERS, False),
    ("published", "draft"): (PUBLISHERS, False),
    ("withdrawn", "draft"): (PUBLISHERS, True),
    ("withdrawn", "published"): (PUBLISHERS, False),
}


def can_view(record: dict[str, Any], viewer: User | None, *, listing: bool = False) -> bool:
    if viewer is not None and (viewer.has("reviewer") or record["owner"] == viewer.id):
        return True
    if record["status"] != "published":
        return False
    return record["visibility"] == "public" or (record["visibility"] == "unlisted" and not listing)


def can_edit(record: dict[str, Any], viewer: User | None) -> bool:
    if viewer is None:
        return False
    return viewer.has("reviewer") or (viewer.has("curator") and record["owner"] == viewer.id)


class Catalog:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._subscribers: list[Subscriber] = []

    # -- change notification -------------------------------------------------------------
    def subscribe(self, callback: Subscriber) -> None:
        self._subscribers.append(callback)

    async def _notify(self, *entry_ids: str) -> None:
        for entry_id in entry_ids:
            for callback in self._subscribers:
                try:
                    await callback(entry_id)
                except Exception:
                    log.exception("catalog subscriber failed for %s", entry_id)

    # -- writes --------------------------------------------------------------------------
    async def create(self, data: dict[str, Any], actor: User | None, *, status: str = "draft",
                     entry_id: str | None = None) -> str:
        data = normalize_fields(data)
        kind = data["kind"]
        check_kind_fields(kind, data)
        if not data.get("translations") or not any(data["translations"].values()):
            raise Invalid("translations needs at least one language with a title", field="translations")
        source = data.get("source_locale") or next(iter(data["translations"]))
        if source not in data["translations"]:
            raise Invalid("source_locale must be one of the translations' languages", field="source_locale")
        entry_id = entry_id or new_id()
        now = iso()
        async with self.db.write() as conn:
            if (await conn.execute(sa.select(entries.c.id).where(entries.c.id == entry_id))).first():
                raise Conflict(f"an entry with id {entry_id} exists", field="id")
            await self._check_references(conn, data, entry_id)
            await conn.execute(entries.insert().values(
                id=entry_id, kind=kind, status=status, visibility=data.get("visibility") or "public",
                source_locale=source, style=data.get("style"), level=data.get("level"),
                owner_id=actor.id if actor else None, media_id=None,
                data={k: data[k] for k in DATA_FIELDS if data.get(k) is not None},
                created_at=now, updated_at=now))
            await _write_translations(conn, entry_id, data["translations"])
            await _write_teachers(conn, entry_id, data.get("teachers"))
            await _audit(conn, entry_id, actor, "create", None, status, "")
        await self._notify(entry_id, *data.get("teachers", []))
        return entry_id

    async def update(self, entry_id: str, patch: dict[str, Any], actor: User | None) -> None:
        patch = normalize_fields(patch)
        async with self.db.write() as conn:
            record = await self._load(conn, entry_id)
            if record is None:
                raise NotFound(f"no entry {entry_id}")
            if actor is not None and not can_edit(record, actor):
                raise Forbidden("only the entry's curator, reviewers and admins may edit it")
            check_kind_fields(record["kind"], patch)
            await self._check_references(conn, patch, entry_id)
            translations = dict(record["translations"])
            for tag, value in (patch.get("translations") or {}).items():
                if value is None:
                    translations.pop(tag, None)
                else:
                    translations[tag] = {"summary": "", "body": "", **value}
            source = patch.get("source_locale", record["source_locale"])
            if not translations:
                raise Invalid("an entry keeps at least one translation", field="translations")
            if source not in translations:
                raise Invalid("source_locale must be one of the translations' languages", field="source_locale")
            data = {k: record[k] for k in DATA_FIELDS if record.get(k) not in (None, [], {})}
            data.update({k: patch[k] for k in DATA_FIELDS if k in patch})
            columns = {c: patch[c] for c in ("visibility", "style", "level") if c in patch}
            await conn.execute(entries.update().where(entries.c.id == entry_id).values(
                source_locale=source, data={k: v for k, v in data.items() if v is not None},
                updated_at=iso(), **columns))
            if "translations" in patch:
                await conn.execute(entry_translations.delete().where(
                    entry_translations.c.entry_id == entry_id))
                await _write_translations(conn, entry_id, translations)
            old_teachers = record["teachers"]
            if "teachers" in patch:
                await conn.execute(lineage.delete().where(lineage.c.student_id == entry_id))
                await _write_teachers(conn, entry_id, patch["teachers"])
            await _audit(conn, entry_id, actor, "edit", None, None, "")
        await self._notify(entry_id, *old_teachers, *patch.get("teachers", []))

    async def transition(self, entry_id: str, to: str, comment: str, actor: User) -> dict[str, Any]:
        async with self.db.write() as conn:
            record = await self._load(conn, entry_id)
            if record is None or not can_view(record, actor):
                raise NotFound(f"no entry {entry_id}")
            current = record["status"]
            rule = TRANSITIONS.get((current, to))
            if rule is None:
                raise Conflict(f"an entry cannot go from {current} to {to}", field="to")
            roles, owner_may = rule
            is_owner = record["owner"] == actor.id and actor.has("curator")
            if not (actor.has(*roles) or (owner_may and is_owner)):
                raise Forbidden(f"only {' or '.join(roles)}s may move an entry from {current} to {to}")
            await conn.execute(entries.update().where(entries.c.id == entry_id)
                               .values(status=to, updated_at=iso()))
            await _audit(conn, entry_id, actor, "transition", current, to, comment)
        await self._notify(entry_id)
        return {"id": entry_id, "from": current, "to": to}

    async def delete(self, entry_id: str, actor: User) -> None:
        async with self.db.write() as conn:
            record = await self._load(conn, entry_id)
            if record is None or not can_view(record, actor):
                raise NotFound(f"no entry {entry_id}")
            if not can_edit(record, actor):
                raise Forbidden("only the entry's curator, reviewers and admins may delete it")
            await conn.execute(entries.delete().where(entries.c.id == entry_id))
            await _audit(conn, entry_id, actor, "delete", record["status"], None, "")
        await self._notify(entry_id, *record["teachers"], *record["students"])

    async def set_media(self, entry_id: str, media_id: str | None) -> None:
        async with self.db.write() as conn:
            result = await conn.execute(entries.update().where(entries.c.id == entry_id)
                                        .values(media_id=media_id, updated_at=iso()))
            if result.rowcount == 0:
                raise NotFound(f"no entry {entry_id}")
        await self._notify(entry_id)

    async def _check_references(self, conn: AsyncConnection, data: dict[str, Any], entry_id: str) -> None:
        wanted: list[tuple[str, str, str | None]] = []
        wanted += [(f"people.{i}.id", p["id"], "person") for i, p in enumerate(data.get("people") or [])]
        wanted += [(f"teachers.{i}", t, "person") for i, t in enumerate(data.get("teachers") or [])]
        wanted += [(f"items.{i}.entry", it["entry"], None) for i, it in enumerate(data.get("items") or [])]
        if not wanted:
            return
        ids = {ref for _, ref, _ in wanted}
        rows = (await conn.execute(sa.select(entries.c.id, entries.c.kind)
                                   .where(entries.c.id.in_(ids)))).all()
        kinds = {r.id: r.kind for r in rows}
        for field, ref, kind in wanted:
            if ref == entry_id and field.startswith("teachers"):
                raise Invalid("a person cannot be their own teacher", field=field)
            if ref not in kinds:
                raise Invalid(f"{field}: no entry {ref}", field=field)
            if kind and kinds[ref] != kind:
                raise Invalid(f"{field}: {ref} is not a {kind}", field=field)

    # -- reads ---------------------------------------------------------------------------
    async def get_record(self, entry_id: str) -> dict[str, Any] | None:
        async with self.db.read() as conn:
            return await self._load(conn, entry_id)

    async def get_visible(self, entry_id: str, viewer: User | None) -> dict[str, Any]:
        record = await self.get_record(entry_id)
        if record is None or not can_view(record, viewer):
            raise NotFound(f"no entry {entry_id}")
        return record

    async def iter_records(self, batch: int = 200) -> AsyncIterator[dict[str, Any]]:
        last = ""
        while True:
            async with self.db.read() as conn:
                rows = (await conn.execute(sa.select(entries).where(entries.c.id > last)
                                           .order_by(entries.c.id).limit(batch))).all()
                records = await _records(conn, rows)
            if not records:
                return
            for record in records:
                yield record
            last = records[-1]["id"]

    async def list_entries(self, viewer: User | None, *, kind: str | None = None,
                           style: str | None = None, level: str | None = None,
                           status: str | None = None, page: int = 1,
                           per_page: int = 20) -> tuple[int, list[dict[str, Any]]]:
        cond = []
        for column, value in ((entries.c.kind, kind), (entries.c.style, style),
                              (entries.c.level, level), (entries.c.status, status)):
            if value:
                cond.append(column == value)
        if viewer is None or not viewer.has("reviewer"):
            visible = sa.and_(entries.c.status == "published", entries.c.visibility == "public")
            cond.append(sa.or_(visible, entries.c.owner_id == viewer.id) if viewer else visible)
        where = sa.and_(sa.true(), *cond)
        async with self.db.read() as conn:
            total = (await conn.execute(sa.select(sa.func.count()).select_from(entries).where(where))).scalar_one()
            rows = (await conn.execute(
                sa.select(entries).where(where)
                .order_by(entries.c.updated_at.desc(), entries.c.id)
                .offset((page - 1) * per_page).limit(per_page))).all()
            return int(total), await _records(conn, rows)

    async def titles(self, entry_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Translations, kind and status of several entries (for collections and lineage)."""
        ids = list(set(entry_ids))
        if not ids:
            return {}
        async with self.db.read() as conn:
            rows = (await conn.execute(sa.select(entries).where(entries.c.id.in_(ids)))).all()
            return {r["id"]: r for r in await _records(conn, rows)}

    async def lineage_graph(self, person_id: str, depth: int) -> tuple[set[str], set[tuple[str, str]]]:
        """Ids and (teacher, student) edges within ``depth`` steps up and down from a person."""
        nodes, edges, frontier = {person_id}, set(), {person_id}
        async with self.db.read() as conn:
            for _ in range(depth):
                if not frontier:
                    break
                rows = (await conn.execute(sa.select(lineage).where(sa.or_(
                    lineage.c.teacher_id.in_(frontier), lineage.c.student_id.in_(frontier))))).all()
                found = {(r.teacher_id, r.student_id) for r in rows}
                edges |= found
                frontier = {n for edge in found for n in edge} - nodes
                nodes |= frontier
        return nodes, edges

    async def audit_log(self, entry_id: str) -> list[dict[str, Any]]:
        async with self.db.read() as conn:
            rows = (await conn.execute(sa.select(entry_audit).where(entry_audit.c.entry_id == entry_id)
                                       .order_by(entry_audit.c.id))).all()
        return [{"at": r.at, "actor": r.actor_id, "action": r.action, "from": r.from_status,
                 "to": r.to_status, "comment": r.comment} for r in rows]

    async def _load(self, conn: AsyncConnection, entry_id: str) -> dict[str, Any] | None:
        rows = (await conn.execute(sa.select(entries).where(entries.c.id == entry_id))).all()
        records = await _records(conn, rows)
        return records[0] if records else None


async def _records(conn: AsyncConnection, rows: Sequence[sa.Row[Any]]) -> list[dict[str, Any]]:
    ids = [r.id for r in rows]
    if not ids:
        return []
    translations: dict[str, dict[str, dict[str, str]]] = {i: {} for i in ids}
    for t in (await conn.execute(sa.select(entry_translations)
                                 .where(entry_translations.c.entry_id.in_(ids)))).all():
        translations[t.entry_id][t.tag] = {"title": t.title, "summary": t.summary, "body": t.body}
    teachers: dict[str, list[str]] = {i: [] for i in ids}
    students: dict[str, list[str]] = {i: [] for i in ids}
    for edge in (await conn.execute(sa.select(lineage).where(sa.or_(
            lineage.c.student_id.in_(ids), lineage.c.teacher_id.in_(ids))))).all():
        if edge.student_id in teachers:
            teachers[edge.student_id].append(edge.teacher_id)
        if edge.teacher_id in students:
            students[edge.teacher_id].append(edge.student_id)
    out = []
    for r in rows:
        data = r.data or {}
        record: dict[str, Any] = {
            "id": r.id, "kind": r.kind, "status": r.status, "visibility": r.visibility,
            "source_locale": r.source_locale, "style": r.style, "level": r.level,
            "owner": r.owner_id, "media_id": r.media_id, "translations": translations[r.id],
            "tags": [], "languages": [], "people": [], "chapters": [], "dc": {},
            "rights_uri": None, "names": {}, "aliases": [], "born": None, "died": None,
            "birthplace": {}, "generation": None, "honors": [], "archive_type": None,
            "items": [], "captions": [],
            "teachers": sorted(teachers[r.id]), "students": sorted(students[r.id]),
            "created_at": r.created_at, "updated_at": r.updated_at,
        }
        record.update({k: v for k, v in data.items() if k in DATA_FIELDS})
        out.append(record)
    return out


async def _write_translations(conn: AsyncConnection, entry_id: str,
                              translations: dict[str, dict[str, str] | None]) -> None:
    rows = [{"entry_id": entry_id, "tag": tag, "title": t["title"], "summary": t.get("summary", ""),
             "body": t.get("body", "")} for tag, t in translations.items() if t]
    if rows:
        await conn.execute(entry_translations.insert(), rows)


async def _write_teachers(conn: AsyncConnection, entry_id: str, teachers: list[str] | None) -> None:
    if teachers:
        await conn.execute(lineage.insert(), [{"teacher_id": t, "student_id": entry_id}
                                              for t in dict.fromkeys(teachers)])


async def _audit(conn: AsyncConnection, entry_id: str, actor: User | None, action: str,
                 from_status: str | None, to_status: str | None, comment: str) -> None:
    await conn.execute(entry_audit.insert().values(
        entry_id=entry_id, actor_id=actor.id if actor else None, at=iso(), action=action,
        from_status=from_status, to_status=to_status, comment=comment))
