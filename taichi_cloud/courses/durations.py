"""How long a lesson is: from its media when known, else its chapters' last end.

The media component's ``duration(media_id)`` is used when it is installed; answers are cached
for a short while so heartbeats do not ask for every beat.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from typing import Any

from ..catalog.service import Catalog

CACHE_SECONDS = 30.0


def chapters_end(record: dict[str, Any]) -> float | None:
    ends = [float(c["end"]) for c in record.get("chapters") or [] if c.get("end") is not None]
    return max(ends) if ends and max(ends) > 0 else None


class LessonDurations:
    def __init__(self, catalog: Catalog, media: Any | None) -> None:
        self.catalog = catalog
        self.media = media
        self._cache: dict[str, tuple[float, float | None]] = {}

    async def of_entry(self, entry_id: str) -> float | None:
        hit = self._cache.get(entry_id)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        record = await self.catalog.get_record(entry_id)
        value = await self.of_record(record) if record else None
        self._cache[entry_id] = (time.monotonic() + CACHE_SECONDS, value)
        return value

    async def of_record(self, record: dict[str, Any]) -> float | None:
        if record.get("media_id") and self.media is not None and hasattr(self.media, "duration"):
            value = await self.media.duration(record["media_id"])
            if isinstance(value, int | float) and math.isfinite(value) and value > 0:
                return float(value)
        return chapters_end(record)

    async def of_records(self, records: Iterable[dict[str, Any]]) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for record in records:
            hit = self._cache.get(record["id"])
            if hit is not None and hit[0] > time.monotonic():
                out[record["id"]] = hit[1]
                continue
            out[record["id"]] = value = await self.of_record(record)
            self._cache[record["id"]] = (time.monotonic() + CACHE_SECONDS, value)
        return out
