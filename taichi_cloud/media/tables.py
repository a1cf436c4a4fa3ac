"""Tables of the media component (declared by the component's own migrations)."""

from __future__ import annotations

from ..db.migrations import Migration

MIGRATIONS: list[Migration] = []
