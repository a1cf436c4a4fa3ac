"""Watched time as a set of disjoint intervals: the honest measure of what a learner saw.

Pure and commutative: merging the same segments in any order, any number of times, gives the
same set, so replayed and out-of-order heartbeats can never inflate the watched time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..errors import Invalid

#: A segment may overshoot the duration by this much (players report the end a bit late);
#: the overshoot is clipped, anything beyond it is rejected.
OVERSHOOT_SECONDS = 1.0
#: Segments touching within this gap are joined (players report 12.0 → 12.000001 boundaries).
JOIN_GAP = 1e-6

Interval = tuple[float, float]


def check_seconds(value: object, field: str) -> float:
    """A finite, non-negative number of seconds, or :class:`Invalid` naming ``field``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid(f"{field} must be a number of seconds", field=field)
    number = float(value)
    if math.isnan(number) or math.isinf(number):
        raise Invalid(f"{field} must be a finite number, not {value!r}", field=field)
    if number < 0:
        raise Invalid(f"{field} must not be negative ({number:g})", field=field)
    return number


def check_segments(raw: Sequence[object], duration: float, field: str = "segments") -> list[Interval]:
    """Validate client segments and clip them to ``[0, duration]``.

    start > end, negative, NaN/inf and ends past ``duration`` (beyond a small overshoot) are
    rejected with an error naming the offending element, e.g. ``segments.2.1``.
    """
    out: list[Interval] = []
    for index, segment in enumerate(raw):
        name = f"{field}.{index}"
        if not isinstance(segment, list | tuple) or len(segment) != 2:
            raise Invalid(f"{name} must be a pair [start, end]", field=name)
        start = check_seconds(segment[0], f"{name}.0")
        end = check_seconds(segment[1], f"{name}.1")
        if start > end:
            raise Invalid(f"{name}: start {start:g} is after end {end:g}", field=name)
        if end > duration + OVERSHOOT_SECONDS:
            raise Invalid(f"{name}.1: {end:g} s is beyond the lesson's duration ({duration:g} s)",
                          field=f"{name}.1")
        out.append((min(start, duration), min(end, duration)))
    return out


@dataclass(frozen=True)
class WatchedIntervals:
    """Disjoint, sorted, non-empty intervals of seconds."""

    spans: tuple[Interval, ...] = ()

    @classmethod
    def of(cls, segments: Iterable[Sequence[float]]) -> WatchedIntervals:
        return cls().merge(segments)

    def merge(self, segments: Iterable[Sequence[float]]) -> WatchedIntervals:
        items = sorted([*self.spans, *((float(s[0]), float(s[1])) for s in segments)])
        merged: list[list[float]] = []
        for start, end in items:
            if end <= start:
                continue  # an empty segment adds nothing
            if merged and start <= merged[-1][1] + JOIN_GAP:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        return WatchedIntervals(tuple((s, e) for s, e in merged))

    def union(self, other: WatchedIntervals) -> WatchedIntervals:
        return self.merge(other.spans)

    def clip(self, duration: float) -> WatchedIntervals:
        return WatchedIntervals.of((max(0.0, s), min(e, duration)) for s, e in self.spans
                                   if s < duration)

    @property
    def total(self) -> float:
        return sum(e - s for s, e in self.spans)

    def fraction(self, duration: float) -> float:
        if duration <= 0:
            return 0.0
        return min(1.0, self.clip(duration).total / duration)

    def to_json(self) -> list[list[float]]:
        return [[round(s, 3), round(e, 3)] for s, e in self.spans]

    @classmethod
    def from_json(cls, value: object) -> WatchedIntervals:
        if not isinstance(value, list):
            return cls()
        return cls.of((float(s), float(e)) for s, e in value)

    def xapi_segments(self) -> str:
        """The xAPI Video Profile ``played-segments`` form: ``0[.]12.5[,]20[.]30``."""
        return "[,]".join(f"{_num(s)}[.]{_num(e)}" for s, e in self.spans)


def _num(value: float) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text or "0"
