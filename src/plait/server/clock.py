"""The server's clock: real time, or real time plus an offset that a test environment skips.

Which clock measures what:

- **Durable time** (:meth:`Clock.now`, ``Ctx.now``): event timestamps, timer due times,
  activity timeouts, retry backoff (a task's ``visible_at``), start delays, execution and run
  deadlines, retention, and the workflow task's time that ``workflow.now()`` reads. Everything
  a workflow can observe or wait for; skipped time counts.
- **Wall time** (``time.time()``, ``Ctx.wall``): worker session leases (expiry, renewal, the
  extension after a restart) and the request-id dedupe window. They judge whether a worker
  process or a client's retry is still alive, which skipped time says nothing about: skipping
  30 days must not expire the worker that is about to run the next step.
- **Monotonic time**: how long a request waits (long-polls, query and update answers): a
  caller's patience.

The ages of leased tasks (unacknowledged dispatch, a stuck workflow task) are measured in
durable time. That is safe because the clock only jumps while no task is ready or leased
(:mod:`plait.server.skipping`), so for a leased task durable and wall differences agree.
"""

from __future__ import annotations

import datetime as dt
import time

__all__ = ["Clock"]


class Clock:
    """Durable time. Without skipping the offset stays 0, so reading it is ``time.time()``."""

    __slots__ = ("offset", "skipping")

    def __init__(self, *, skipping: bool = False) -> None:
        self.skipping = skipping
        self.offset = 0.0
        """Seconds skipped so far; it only grows, so durable time never goes backwards."""

    def now(self) -> float:
        return time.time() + self.offset

    def datetime(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.now(), dt.UTC)

    def advance_to(self, at: float) -> float:
        """Jump forward to ``at`` (no-op when it has passed); returns the seconds skipped."""
        if not self.skipping:
            raise RuntimeError("this server's clock does not skip (time_skipping is off)")
        skipped = at - self.now()
        if skipped <= 0:
            return 0.0
        self.offset += skipped
        return skipped
