"""Event timestamps: the text the server writes into history, and the float a worker reads
back from it.

Both are what ``datetime.fromtimestamp(ts, UTC)`` makes of ``ts`` (whole microseconds,
rounded half to even; ISO 8601 with ``Z``, and no fraction when it is zero), without building
a datetime: the server stamps every event it appends and the worker rounds every time it
reports, and the datetime round trip was about 1 us each, 2.5 % of the server's store thread
in W1. ``tests/unit/test_timestamps.py`` holds them to datetime's answers.
"""

from __future__ import annotations

import math
import time

__all__ = ["event_time", "wire_time"]

_MICROS = 1_000_000


def _split(ts: float) -> tuple[int, int]:
    """Whole seconds and microseconds of ``ts``, rounded as datetime rounds them."""
    frac, whole = math.modf(ts)
    micros = round(frac * 1e6)  # round() of a float is half to even, as datetime's
    if micros >= _MICROS:
        micros -= _MICROS
        whole += 1.0
    elif micros < 0:
        micros += _MICROS
        whole -= 1.0
    return int(whole), micros


def wire_time(ts: float) -> float:
    """``ts`` as the server records it in an event timestamp (whole microseconds), so a
    time the worker chose reads back the same from history."""
    seconds, micros = _split(ts)
    return (seconds * _MICROS + micros) / _MICROS


_last_second: tuple[int, str] = (0, "1970-01-01T00:00:00")


def event_time(ts: float) -> str:
    """``ts`` as event timestamp text: ``2026-12-07T07:41:06.563935Z``. The date and time of
    day are kept for the last second asked (a state change stamps its events within one)."""
    global _last_second
    seconds, micros = _split(ts)
    if _last_second[0] != seconds:
        _last_second = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)))
    prefix = _last_second[1]
    return f"{prefix}.{micros:06d}Z" if micros else f"{prefix}Z"
