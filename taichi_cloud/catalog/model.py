"""What a catalog entry is: its JSON Schemas (input and output) and the normalisation of input.

The schemas validate ``POST``/``PATCH`` bodies and the seed files alike, and are published in
the OpenAPI document.
"""

from __future__ import annotations

import re
from typing import Any

from jsonschema import Draft202012Validator

from ..errors import Invalid
from ..i18n import normalize_tag

KINDS = ("video", "archive", "person", "collection")
STATUSES = ("draft", "review", "published", "withdrawn")
VISIBILITIES = ("public", "unlisted", "private")
LEVELS = ("beginner", "intermediate", "advanced")
ARCHIVE_TYPES = ("document", "photo", "audio", "oral-history")
DC_FIELDS = ("creator", "contributor", "date", "coverage", "rights", "source", "publisher",
             "identifier", "type")
ID_RE = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
TAG_RE = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,4}$"

#: Fields kept in the ``data`` JSON column (everything that is not a column of its own).
DATA_FIELDS = ("tags", "languages", "people", "chapters", "dc", "rights_uri", "names", "aliases",
               "born", "died", "birthplace", "generation", "honors", "archive_type", "items")


def _text(max_length: int) -> dict[str, Any]:
    return {"type": "string", "maxLength": max_length}


def _localized(max_length: int) -> dict[str, Any]:
    return {"type": "object", "propertyNames": {"pattern": TAG_RE}, "maxProperties": 40,
            "additionalProperties": _text(max_length)}


TRANSLATION = {
    "type": "object", "additionalProperties": False, "required": ["title"],
    "properties": {"title": {"type": "string", "minLength": 1, "maxLength": 300},
                   "summary": _text(2000), "body": _text(50000)},
}

ENTRY_FIELDS: dict[str, Any] = {
    "kind": {"enum": list(KINDS)},
    "visibility": {"enum": list(VISIBILITIES)},
    "source_locale": {"type": "string", "pattern": TAG_RE},
    "translations": {"type": "object", "propertyNames": {"pattern": TAG_RE}, "maxProperties": 40,
                     "additionalProperties": {"anyOf": [TRANSLATION, {"type": "null"}]}},
    "style": {"type": ["string", "null"], "pattern": r"^[a-z0-9-]{1,40}$"},
    "level": {"anyOf": [{"enum": list(LEVELS)}, {"type": "null"}]},
    "tags": {"type": "array", "maxItems": 50, "items": {"type": "string", "minLength": 1, "maxLength": 60}},
    "languages": {"type": "array", "maxItems": 20, "items": {"type": "string", "pattern": TAG_RE}},
    "people": {"type": "array", "maxItems": 100, "items": {
        "type": "object", "additionalProperties": False, "required": ["id"],
        "properties": {"id": {"type": "string", "pattern": ID_RE}, "role": _text(40)}}},
    "chapters": {"type": "array", "maxItems": 500, "items": {
        "type": "object", "additionalProperties": False, "required": ["start", "title"],
        "properties": {"start": {"type": "number", "minimum": 0},
                       "end": {"type": ["number", "null"], "minimum": 0},
                       "title": _localized(300)}}},
    "dc": {"type": "object", "additionalProperties": False,
           "properties": {name: _text(2000) for name in DC_FIELDS}},
    "rights_uri": {"type": ["string", "null"], "maxLength": 500, "pattern": r"^https?://\S+$"},
    "names": _localized(200),
    "aliases": {"type": "array", "maxItems": 50, "items": {"type": "string", "minLength": 1, "maxLength": 200}},
    "born": {"type": ["string", "null"], "pattern": r"^-?\d{1,4}(-\d{2}(-\d{2})?)?$"},
    "died": {"type": ["string", "null"], "pattern": r"^-?\d{1,4}(-\d{2}(-\d{2})?)?$"},
    "birthplace": _localized(300),
    "generation": {"type": ["integer", "null"], "minimum": 1, "maximum": 100},
    "teachers": {"type": "array", "maxItems": 50, "items": {"type": "string", "pattern": ID_RE}},
    "honors": {"type": "array", "maxItems": 100, "items": {
        "type": "object", "additionalProperties": False, "required": ["title"],
        "properties": {"title": _text(300), "event": _text(300),
                       "year": {"type": ["integer", "null"], "minimum": 1000, "maximum": 3000}}}},
    "archive_type": {"anyOf": [{"enum": list(ARCHIVE_TYPES)}, {"type": "null"}]},
    "items": {"type": "array", "maxItems": 500, "items": {
        "type": "object", "additionalProperties": False, "required": ["entry"],
        "properties": {"entry": {"type": "string", "pattern": ID_RE}, "text": _localized(20000)}}},
}

ENTRY_CREATE: dict[str, Any] = {
    "type": "object", "additionalProperties": False,
    "required": ["kind", "translations"],
    "properties": {"id": {"type": "string", "pattern": ID_RE}, **ENTRY_FIELDS},
}
ENTRY_PATCH: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "minProperties": 1,
    "properties": {k: v for k, v in ENTRY_FIELDS.items() if k != "kind"},
}
#: What seed files (``catalog/*.yaml``) may hold: the create shape plus a status and demo hints.
SEED_ENTRY: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["id", "kind", "translations"],
    "properties": {"id": {"type": "string", "pattern": ID_RE}, "status": {"enum": list(STATUSES)},
                   "demo_clip": {"type": "object"}, **ENTRY_FIELDS},
}
TRANSITION: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["to"],
    "properties": {"to": {"enum": ["draft", "review", "published", "withdrawn"]},
                   "comment": _text(2000)},
}

ENTRY_OUT: dict[str, Any] = {
    "type": "object",
    "required": ["id", "kind", "status", "visibility", "title", "summary", "locale", "translations",
                 "source_locale", "style", "level", "tags", "languages", "people", "chapters", "dc",
                 "media", "created_at", "updated_at"],
    "properties": {
        "id": {"type": "string"}, "kind": {"enum": list(KINDS)}, "status": {"enum": list(STATUSES)},
        "visibility": {"enum": list(VISIBILITIES)}, "title": {"type": "string"},
        "summary": {"type": "string"}, "body": {"type": "string"}, "locale": {"type": "string"},
        "translations": {"type": "object"}, "source_locale": {"type": "string"},
        "style": {"type": ["string", "null"]}, "level": {"type": ["string", "null"]},
        "tags": {"type": "array"}, "languages": {"type": "array"}, "people": {"type": "array"},
        "chapters": {"type": "array"}, "dc": {"type": "object"},
        "media": {"type": ["object", "null"]}, "created_at": {"type": "string"},
        "updated_at": {"type": "string"},
    },
}

_validators = {name: Draft202012Validator(schema) for name, schema in
               (("create", ENTRY_CREATE), ("patch", ENTRY_PATCH), ("seed", SEED_ENTRY))}


def validator(name: str) -> Draft202012Validator:
    return _validators[name]


def _tags_of(mapping: dict[str, Any], field: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for tag, value in mapping.items():
        try:
            out[normalize_tag(tag)] = value
        except Invalid:
            raise Invalid(f"{field}: {tag!r} is not a valid BCP 47 language tag", field=field) from None
    return out


def normalize_fields(data: dict[str, Any]) -> dict[str, Any]:
    """Canonical language tags, trimmed strings, ordered chapters; checks beyond the schema."""
    out = dict(data)
    for field in ("translations", "names", "birthplace"):
        if isinstance(out.get(field), dict):
            out[field] = _tags_of(out[field], field)
    if "source_locale" in out:
        out["source_locale"] = _tags_of({out["source_locale"]: 1}, "source_locale").popitem()[0]
    if "languages" in out:
        out["languages"] = list(dict.fromkeys(_tags_of({t: 1 for t in out["languages"]}, "languages")))
    if "tags" in out:
        out["tags"] = list(dict.fromkeys(t.strip().lower() for t in out["tags"] if t.strip()))
    if "chapters" in out:
        chapters = sorted(out["chapters"], key=lambda c: c["start"])
        for i, chapter in enumerate(chapters):
            if chapter.get("end") is not None and chapter["end"] <= chapter["start"]:
                raise Invalid(f"chapters.{i}: end must be after start", field=f"chapters.{i}.end")
            if not chapter["title"]:
                raise Invalid(f"chapters.{i}: title needs at least one language", field=f"chapters.{i}.title")
            chapter["title"] = _tags_of(chapter["title"], f"chapters.{i}.title")
        out["chapters"] = chapters
    if "items" in out:
        for i, item in enumerate(out["items"]):
            if "text" in item:
                item["text"] = _tags_of(item["text"], f"items.{i}.text")
    for field in ("born", "died"):
        if out.get(field) == "":
            out[field] = None
    return out


def check_kind_fields(kind: str, data: dict[str, Any]) -> None:
    """Fields that only make sense for one kind are refused on the others, naming the field."""
    only = {"person": ("names", "aliases", "born", "died", "birthplace", "generation", "teachers",
                       "honors"),
            "video": ("chapters",), "archive": ("archive_type",), "collection": ("items",)}
    for owner, fields in only.items():
        if owner == kind:
            continue
        for field in fields:
            if data.get(field) not in (None, [], {}):
                raise Invalid(f"{field} is only for {owner} entries", field=field)


def slug_ok(value: str) -> bool:
    return bool(re.match(ID_RE, value))
