"""What a course is: JSON Schemas for input and output, and origin validation for embeds."""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

from ..catalog.model import ID_RE, TAG_RE, VISIBILITIES
from ..errors import Invalid

DEFAULT_THRESHOLD = 0.9
#: Longest lesson duration a client may claim when the server knows none (12 hours).
MAX_CLIENT_DURATION = 12 * 3600.0
HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
EVENTS = ("play", "pause", "seek", "ended", "terminate")


def _localized(max_length: int) -> dict[str, Any]:
    return {"type": "object", "propertyNames": {"pattern": TAG_RE}, "maxProperties": 40,
            "additionalProperties": {"type": "string", "minLength": 1, "maxLength": max_length}}


COURSE_TRANSLATION = {
    "type": "object", "additionalProperties": False, "required": ["title"],
    "properties": {"title": {"type": "string", "minLength": 1, "maxLength": 300},
                   "summary": {"type": "string", "maxLength": 5000}},
}

COURSE_CREATE: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["translations", "modules"],
    "properties": {
        "id": {"type": "string", "pattern": ID_RE},
        "translations": {"type": "object", "propertyNames": {"pattern": TAG_RE},
                         "minProperties": 1, "maxProperties": 40,
                         "additionalProperties": COURSE_TRANSLATION},
        "source_locale": {"type": "string", "pattern": TAG_RE},
        "visibility": {"enum": list(VISIBILITIES)},
        "completion_threshold": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        "embed_origins": {"type": "array", "maxItems": 50,
                          "items": {"type": "string", "maxLength": 300}},
        "modules": {"type": "array", "minItems": 1, "maxItems": 100, "items": {
            "type": "object", "additionalProperties": False, "required": ["title", "lessons"],
            "properties": {
                "title": {"type": "string", "minLength": 1, "maxLength": 300},
                "titles": _localized(300),
                "lessons": {"type": "array", "minItems": 1, "maxItems": 300, "items": {
                    "type": "object", "additionalProperties": False, "required": ["entry"],
                    "properties": {"entry": {"type": "string", "pattern": ID_RE},
                                   "title": {"type": "string", "minLength": 1, "maxLength": 300},
                                   "titles": _localized(300)}}}}}},
    },
}

COURSE_PATCH: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "minProperties": 1,
    "properties": {k: COURSE_CREATE["properties"][k] for k in
                   ("translations", "source_locale", "visibility", "completion_threshold",
                    "embed_origins")},
}

LESSON_OUT = {
    "type": "object", "required": ["id", "entry", "title", "duration"],
    "properties": {"id": {"type": "string"}, "entry": {"type": "string"},
                   "title": {"type": "string"}, "kind": {"enum": ["video", "reading"]},
                   "duration": {"type": ["number", "null"]}},
}
COURSE_OUT: dict[str, Any] = {
    "type": "object",
    "required": ["id", "title", "translations", "modules", "completion_threshold",
                 "embed_origins", "visibility"],
    "properties": {
        "id": {"type": "string"}, "title": {"type": "string"}, "summary": {"type": "string"},
        "locale": {"type": "string"}, "translations": {"type": "object"},
        "owner": {"type": "string"}, "visibility": {"enum": list(VISIBILITIES)},
        "completion_threshold": {"type": "number"},
        "embed_origins": {"type": "array", "items": {"type": "string"}},
        "modules": {"type": "array", "items": {
            "type": "object", "required": ["id", "title", "lessons"],
            "properties": {"id": {"type": "string"}, "title": {"type": "string"},
                           "lessons": {"type": "array", "items": LESSON_OUT}}}},
        "enrolled": {"type": "boolean"},
    },
}

HEARTBEAT: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["session", "seq", "position"],
    "properties": {
        "session": {"type": "string", "pattern": r"^[A-Za-z0-9_.:-]{1,64}$"},
        "seq": {"type": "integer", "minimum": 0, "maximum": 2**53},
        # Numbers are checked by hand so NaN/inf/negatives get one clear message per field.
        "position": {},
        "segments": {"type": "array", "maxItems": 500},
        "duration": {},
        "event": {"enum": list(EVENTS)},
        "from": {},
        "at": {"type": "string", "maxLength": 40},
    },
}

PROGRESS_OUT = {
    "type": "object", "required": ["watched_seconds", "fraction", "completed", "position"],
    "properties": {"watched_seconds": {"type": "number"}, "fraction": {"type": "number"},
                   "completed": {"type": "boolean"}, "position": {"type": "number"},
                   "duration": {"type": "number"}},
}


def normalize_origin(value: str, field: str) -> str:
    """``https://host[:port]`` in canonical form (lower-case host, no default port).

    Plain ``http`` is accepted for ``localhost`` and loopback addresses only (development).
    """
    parts = urlsplit(value.strip())
    try:
        port = parts.port
    except ValueError:
        raise Invalid(f"{field}: {value!r} has an invalid port", field=field) from None
    host = (parts.hostname or "").lower()
    loopback = host == "localhost" or _is_loopback(host)
    if parts.scheme not in ("https", "http") or (parts.scheme == "http" and not loopback):
        raise Invalid(f"{field}: {value!r} must be an origin like https://school.example",
                      field=field)
    if parts.username or parts.password or parts.path not in ("", "/") or parts.query \
            or parts.fragment or not host:
        raise Invalid(f"{field}: {value!r} must be an origin (scheme, host, port) without a path",
                      field=field)
    if not (_is_ip(host) or all(HOST_LABEL.match(label) for label in host.split("."))):
        raise Invalid(f"{field}: {host!r} is not a valid host name", field=field)
    shown = f"[{host}]" if ":" in host else host
    default = 443 if parts.scheme == "https" else 80
    return f"{parts.scheme}://{shown}" + (f":{port}" if port and port != default else "")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
