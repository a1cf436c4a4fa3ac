"""What one request sees of a record: texts resolved through the locale fallback chain."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..i18n import fallback_chain

KIND_PAGES = {"video": "videos", "archive": "archives", "person": "people", "collection": "collections"}


def resolve_map(values: Mapping[str, str], requested: Sequence[str], source: str | None) -> tuple[str, str | None]:
    """(text, tag) from a ``{tag: text}`` map, following requested → source → any."""
    tag = fallback_chain(requested, source, [t for t, v in values.items() if v])
    return (str(values[tag]), tag) if tag else ("", None)


def entry_locale(record: Mapping[str, Any], requested: Sequence[str]) -> str:
    return fallback_chain(requested, record["source_locale"], record["translations"]) or record["source_locale"]


def present_entry(record: Mapping[str, Any], requested: Sequence[str],
                  related: Mapping[str, Mapping[str, Any]] | None = None,
                  media: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The API shape of an entry. ``related`` holds records named by people/items/lineage."""
    related = related or {}
    locale = entry_locale(record, requested)
    text = record["translations"].get(locale, {})
    source = record["source_locale"]

    def title_of(entry_id: str) -> str | None:
        other = related.get(entry_id)
        if other is None:
            return None
        title = other["translations"].get(entry_locale(other, requested), {}).get("title")
        return str(title) if title is not None else None

    out: dict[str, Any] = {
        "id": record["id"], "kind": record["kind"], "status": record["status"],
        "visibility": record["visibility"], "title": text.get("title", ""),
        "summary": text.get("summary", ""), "body": text.get("body", ""), "locale": locale,
        "translations": record["translations"], "source_locale": source,
        "style": record["style"], "level": record["level"], "tags": record["tags"],
        "languages": record["languages"],
        "people": [{"id": p["id"], "role": p.get("role", ""), "name": title_of(p["id"])}
                   for p in record["people"] if p["id"] in related],
        "chapters": [{"start": c["start"], "end": c.get("end"),
                      "title": resolve_map(c["title"], requested, source)[0], "titles": c["title"]}
                     for c in record["chapters"]],
        "dc": {k: record["dc"].get(k, "") for k in
               ("creator", "contributor", "date", "coverage", "rights", "source", "publisher",
                "identifier", "type")},
        "rights_uri": record["rights_uri"],
        "media": dict(media) if media else ({"id": record["media_id"]} if record["media_id"] else None),
        "owner": record["owner"],
        "url": f"/{KIND_PAGES[record['kind']]}/{record['id']}",
        "created_at": record["created_at"], "updated_at": record["updated_at"],
    }
    if record["kind"] == "person":
        out.update({
            "names": record["names"], "name": resolve_map(record["names"], requested, source)[0]
            or out["title"], "aliases": record["aliases"],
            "born": record["born"], "died": record["died"],
            "birthplace": resolve_map(record["birthplace"], requested, source)[0] or None,
            "birthplaces": record["birthplace"], "generation": record["generation"],
            "teachers": [t for t in record["teachers"] if t in related],
            "students": [s for s in record["students"] if s in related],
            "honors": record["honors"],
        })
    if record["kind"] == "archive":
        out["archive_type"] = record["archive_type"]
    if record["kind"] == "collection":
        out["items"] = [{"entry": it["entry"], "title": title_of(it["entry"]),
                         "kind": related[it["entry"]]["kind"] if it["entry"] in related else None,
                         "text": resolve_map(it.get("text") or {}, requested, source)[0],
                         "texts": it.get("text") or {}}
                        for it in record["items"] if it["entry"] in related]
    return out


def related_ids(record: Mapping[str, Any]) -> set[str]:
    ids = {p["id"] for p in record["people"]} | {it["entry"] for it in record["items"]}
    return ids | set(record["teachers"]) | set(record["students"])
