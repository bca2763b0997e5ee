"""Event timestamps are exactly what datetime makes of a time, without building a datetime."""

from __future__ import annotations

import datetime as dt
import random

from plait.protocol.timestamps import event_time, wire_time


def _theirs(ts: float) -> tuple[str, float]:
    d = dt.datetime.fromtimestamp(ts, dt.UTC)
    return d.isoformat().replace("+00:00", "Z"), d.timestamp()


def _times() -> list[float]:
    rng = random.Random(7)
    now = 1_796_629_136.0
    edges = [0.0, 1.0, now, now + 0.5e-6, now + 1.5e-6, now + 2.5e-6, now + 0.9999995,
             now + 0.99999949, now - 0.0000005, 86399.9999996, 951_782_400.0000004,
             4_102_444_799.9999995, 1e-7, 5e-7, 1.5e-6, 2**31 + 0.25]
    spread = [rng.uniform(0, 4e9) for _ in range(20_000)]
    near_seconds = [float(rng.randrange(0, 4 * 10**9)) + rng.choice((-1, 1)) * rng.random() * 1e-6
                    for _ in range(20_000)]
    micro_halves = [rng.randrange(10**9, 3 * 10**9) + (rng.randrange(10**6) + 0.5) / 1e6
                    for _ in range(20_000)]
    return edges + spread + [t for t in near_seconds if t >= 0] + micro_halves


def test_text_and_float_match_datetime_everywhere() -> None:
    for ts in _times():
        text, back = _theirs(ts)
        assert event_time(ts) == text, ts
        assert wire_time(ts) == back, ts


def test_the_text_reads_back_as_the_wire_time() -> None:
    ts = 1_796_629_136.563_934_7
    assert dt.datetime.fromisoformat(event_time(ts)).timestamp() == wire_time(ts)
    assert event_time(1_796_629_136.0) == "2026-12-07T07:38:56Z"  # no fraction when zero
