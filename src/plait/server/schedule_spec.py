"""When a schedule is due: cron in an IANA time zone, or an interval aligned to the epoch.

Pure functions over Unix timestamps (seconds, UTC), so the firing code, ``describe`` and the
tests agree on every due time.

Cron expressions are parsed and evaluated by `cronsim <https://github.com/cuu508/cronsim>`_:
it has no dependencies, ships type hints, accepts 5 fields or 6 with seconds first (the form
API.md promises), names the bad field in its errors, and copies Debian cron across DST
changes, which is what operators expect of "0 3 * * *": a time that falls in the skipped
hour of spring runs once right after the jump, a time in the repeated hour of autumn runs once
(the first occurrence). (croniter puts seconds last by default and pulls in dateutil.)

Jitter is derived from the schedule id and the due time, not drawn at random: every server
computes the same fire time for a due time, so a due time's start is one decision however
many servers look at it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import math
from collections.abc import Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

__all__ = ["LATEST", "MIN_CATCHUP", "Spec", "SpecError", "jitter_of", "workflow_id_for"]

MIN_CATCHUP = 10.0
"""The shortest catch-up window (API.md): a due time is always given a few seconds."""
LATEST = 253402300799.0
"""9999-12-31T23:59:59Z: instants past it have no calendar date (nor a workflow id)."""


class SpecError(ValueError):
    """An invalid schedule spec; the message names the bad field."""


@dataclasses.dataclass(frozen=True)
class Spec:
    """When a schedule is due. Exactly one of ``cron`` and ``interval`` is set."""

    cron: str | None = None
    interval: float | None = None
    """Seconds between due times, aligned to the Unix epoch plus ``offset``."""
    offset: float = 0.0
    timezone: str = "UTC"
    """The IANA zone ``cron`` is evaluated in (intervals are zone-free)."""
    start_at: float | None = None
    """No due time before this instant."""
    end_at: float | None = None
    """No due time after this instant."""

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Raise :class:`SpecError` naming the first bad field."""
        if (self.cron is None) == (self.interval is None):
            raise SpecError("a schedule needs exactly one of cron and interval")
        try:
            zone = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise SpecError(f"timezone: unknown IANA time zone {self.timezone!r}") from None
        if self.cron is not None:
            fields = self.cron.split()
            if len(fields) not in (5, 6):
                raise SpecError(f"cron: {self.cron!r} has {len(fields)} fields; expected 5 "
                                "(minute hour day month weekday) or 6 (seconds first)")
            try:
                CronSim(self.cron, dt.datetime.now(zone))
            except CronSimError as e:  # "Bad minute", "Bad day-of-week", ...
                raise SpecError(f"cron: {self.cron!r}: {str(e).lower()}") from None
        for name in ("start_at", "end_at"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= LATEST:
                raise SpecError(f"{name}: must be a Unix timestamp between 1970 and 9999")
        if self.interval is not None:
            if not 1 <= self.interval <= LATEST:
                raise SpecError("interval: must be at least one second (and under 8,000 "
                                "years)")
            if not math.isfinite(self.offset) or not 0 <= self.offset < self.interval:
                raise SpecError("offset: must be at least 0 and shorter than the interval")
        if self.start_at is not None and self.end_at is not None \
                and self.end_at < self.start_at:
            raise SpecError("end_at: must not be before start_at")

    def next_after(self, t: float) -> float | None:
        """The first due time strictly after ``t``, or None when none is left."""
        if self.start_at is not None and t < self.start_at:
            t = math.nextafter(self.start_at, -math.inf)  # start_at itself may be due
        due = self._cron_after(t) if self.cron is not None else self._interval_after(t)
        if due is None or (self.end_at is not None and due > self.end_at):
            return None
        return due

    def times(self, after: float, count: int) -> list[float]:
        """The next ``count`` due times after ``after`` (fewer when the spec ends)."""
        return list(_take(self._iter(after), count))

    def between(self, start: float, end: float, limit: int) -> list[float]:
        """Due times in ``[start, end)``, at most ``limit`` of them."""
        out: list[float] = []
        for due in self._iter(math.nextafter(start, -math.inf)):
            if due >= end or len(out) >= limit:
                break
            out.append(due)
        return out

    def _iter(self, after: float) -> Iterator[float]:
        due = self.next_after(after)
        while due is not None:
            yield due
            due = self.next_after(due)

    def _interval_after(self, t: float) -> float:
        assert self.interval is not None
        n = math.floor((t - self.offset) / self.interval) + 1
        return n * self.interval + self.offset

    def _cron_after(self, t: float) -> float | None:
        assert self.cron is not None
        zone = ZoneInfo(self.timezone)
        # cronsim steps from whole seconds; start from the second at or before t
        start = dt.datetime.fromtimestamp(math.floor(t), zone)
        try:
            for when in CronSim(self.cron, start):
                ts = when.timestamp()
                if ts > t:
                    return ts
        except StopIteration:
            return None
        return None


def _take(it: Iterator[float], n: int) -> Iterator[float]:
    for i, value in enumerate(it):
        if i >= n:
            return
        yield value


def jitter_of(schedule_id: str, due: float, jitter: float) -> float:
    """The delay in ``[0, jitter)`` of one due time: the same on every server."""
    if jitter <= 0:
        return 0.0
    digest = hashlib.blake2b(f"{schedule_id}\x00{due!r}".encode(), digest_size=8).digest()
    return jitter * int.from_bytes(digest, "big") / 2**64


def workflow_id_for(prefix: str, due: float) -> str:
    """A started run's workflow id: the prefix and the scheduled time in UTC (API.md). Two
    servers deciding the same due time name the same workflow, so only one start happens."""
    when = dt.datetime.fromtimestamp(due, dt.UTC)
    if when.microsecond:  # a trigger's time: two triggers in one second are two runs
        return f"{prefix}-{when.strftime('%Y-%m-%dT%H:%M:%S')}.{when.microsecond // 1000:03d}Z"
    return f"{prefix}-{when.strftime('%Y-%m-%dT%H:%M:%SZ')}"
