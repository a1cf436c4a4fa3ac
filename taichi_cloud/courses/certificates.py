"""Course certificates with a verification code signed by the server.

The code is ``<id>.<signature>``; the signature is an HMAC of (user, course, issue date) under a
key derived from the app secret, so a code cannot be forged or moved to another learner.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from babel.dates import format_date

from ..db import Database
from ..errors import NotFound
from ..i18n import babel_locale
from ..util import iso, new_id, parse_iso
from .tables import certificates


@dataclass(frozen=True)
class Certificate:
    id: str
    user_id: str
    course_id: str
    learner_name: str
    issued_at: str
    code: str

    def public(self, public_url: str) -> dict[str, Any]:
        return {"id": self.id, "course": self.course_id, "learner": self.user_id,
                "learner_name": self.learner_name, "issued_at": self.issued_at, "code": self.code,
                "verification_url": f"{public_url.rstrip('/')}/certificates/{self.code}"}


class Certificates:
    def __init__(self, db: Database, app_secret: str) -> None:
        self.db = db
        self._key = hmac.new(app_secret.encode(), b"taichi-cloud certificates v1",
                             hashlib.sha256).digest()

    def sign(self, cert_id: str, user_id: str, course_id: str, issued_at: str) -> str:
        message = "\x1f".join((cert_id, user_id, course_id, issued_at[:10])).encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()[:15]
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def _certificate(self, row: Any) -> Certificate:
        code = f"{row.id}.{self.sign(row.id, row.user_id, row.course_id, row.issued_at)}"
        return Certificate(row.id, row.user_id, row.course_id, row.learner_name, row.issued_at,
                           code)

    async def issue(self, user_id: str, course_id: str, learner_name: str) -> Certificate:
        """The learner's certificate for the course, issued once (later calls return it)."""
        async with self.db.write() as conn:
            query = sa.select(certificates).where(certificates.c.user_id == user_id,
                                                  certificates.c.course_id == course_id)
            row = (await conn.execute(query)).first()
            if row is None:
                await conn.execute(certificates.insert().values(
                    id=new_id(), user_id=user_id, course_id=course_id,
                    learner_name=learner_name, issued_at=iso()))
                row = (await conn.execute(query)).first()
        return self._certificate(row)

    async def for_user(self, user_id: str) -> list[Certificate]:
        async with self.db.read() as conn:
            rows = (await conn.execute(sa.select(certificates).where(
                certificates.c.user_id == user_id).order_by(certificates.c.issued_at))).all()
        return [self._certificate(r) for r in rows]

    async def verify(self, code: str) -> Certificate:
        """The certificate a code names, or :class:`NotFound` when it is unknown or forged."""
        cert_id, _, signature = code.partition(".")
        if not cert_id or len(code) > 100:
            raise NotFound("no such certificate")
        async with self.db.read() as conn:
            row = (await conn.execute(sa.select(certificates)
                                      .where(certificates.c.id == cert_id))).first()
        if row is None:
            raise NotFound("no such certificate")
        expected = self.sign(row.id, row.user_id, row.course_id, row.issued_at)
        if not hmac.compare_digest(expected, signature):
            raise NotFound("no such certificate")
        return self._certificate(row)


def format_issue_date(issued_at: str, tag: str, time_zone: str | None) -> str:
    """A long date (``12 March 2025``, ``2025年3月12日``) in a time zone and language."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        zone = ZoneInfo(time_zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return format_date(parse_iso(issued_at).astimezone(zone).date(), "long",
                       locale=babel_locale(tag))
