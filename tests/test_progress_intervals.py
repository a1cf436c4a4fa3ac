"""The watched-intervals arithmetic, without a server."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from taichi_cloud.courses.intervals import WatchedIntervals, check_seconds, check_segments
from taichi_cloud.errors import Invalid


def test_overlapping_segments_merge_and_never_double_count() -> None:
    w = WatchedIntervals.of([(0, 10), (5, 15), (14, 20), (30, 40)])
    assert w.spans == ((0, 20), (30, 40))
    assert w.total == 30
    assert w.merge([(0, 20), (30, 40)]).total == 30  # replaying adds nothing


def test_merge_is_order_independent_and_idempotent() -> None:
    rng = random.Random(7)
    segments = []
    for _ in range(40):
        start = rng.uniform(0, 290)
        segments.append((start, start + rng.uniform(0, 15)))
    # Every arrival order, one segment at a time, gives the one-shot merge; replays add nothing.
    reference = WatchedIntervals.of(segments)
    for _ in range(20):
        shuffled = segments[:]
        rng.shuffle(shuffled)
        w = WatchedIntervals()
        for s in shuffled:
            w = w.merge([s])
        assert w.spans == reference.spans
        assert w.merge(shuffled).spans == reference.spans
    for order in itertools.permutations([(0, 5), (4, 9), (20, 21)]):
        assert WatchedIntervals.of(order).total == 10


def test_touching_and_empty_segments() -> None:
    assert WatchedIntervals.of([(0, 5), (5, 9)]).spans == ((0, 9),)
    assert WatchedIntervals.of([(3, 3)]).total == 0
    assert WatchedIntervals.of([]).fraction(100) == 0


def test_clip_and_fraction() -> None:
    w = WatchedIntervals.of([(0, 50), (80, 130)])
    assert w.clip(100).spans == ((0, 50), (80, 100))
    assert w.fraction(100) == pytest.approx(0.7)
    assert WatchedIntervals.of([(0, 200)]).fraction(100) == 1.0


def test_json_round_trip_and_xapi_form() -> None:
    w = WatchedIntervals.of([(0, 12.5), (20, 30)])
    assert WatchedIntervals.from_json(w.to_json()) == w
    assert w.xapi_segments() == "0[.]12.5[,]20[.]30"


@pytest.mark.parametrize(("segments", "field"), [
    ([[10, 5]], "segments.0"),
    ([[0, 5], [-1, 3]], "segments.1.0"),
    ([[0, math.nan]], "segments.0.1"),
    ([[math.inf, math.inf]], "segments.0.0"),
    ([[0, 130]], "segments.0.1"),
    ([[0, "5"]], "segments.0.1"),
    ([[0, True]], "segments.0.1"),
    ([[1, 2, 3]], "segments.0"),
    (["0-5"], "segments.0"),
])
def test_bad_segments_name_the_field(segments: list[object], field: str) -> None:
    with pytest.raises(Invalid) as err:
        check_segments(segments, 120.0)
    assert err.value.field == field


def test_small_overshoot_is_clipped() -> None:
    assert check_segments([[110, 120.4]], 120.0) == [(110, 120.0)]


def test_check_seconds() -> None:
    assert check_seconds(3, "position") == 3.0
    for bad in (-0.5, math.nan, math.inf, None, "1"):
        with pytest.raises(Invalid) as err:
            check_seconds(bad, "position")
        assert err.value.field == "position"


def test_recorder_shortcuts_agree_with_the_interval_algebra() -> None:
    """The recorder reads stored intervals and sums clipped time without re-merging."""
    from taichi_cloud.courses.progress import _stored_intervals, _watched_within

    rng = random.Random(7)
    for _ in range(300):
        raw = [[round(rng.uniform(0, 120), 3), 0.0] for _ in range(rng.randint(0, 6))]
        for pair in raw:
            pair[1] = round(pair[0] + rng.uniform(0, 30), 3)
        merged = WatchedIntervals.of(raw)
        stored = merged.to_json()
        assert _stored_intervals(stored) == WatchedIntervals.from_json(stored)
        assert _stored_intervals(raw) == WatchedIntervals.from_json(raw)  # unsorted, overlapping
        for duration in (0.0, 10.0, 60.0, 100.5, 500.0):
            assert abs(_watched_within(merged, duration) - merged.clip(duration).total) < 1e-9
    assert _stored_intervals(None) == WatchedIntervals()
