"""Requests per second per API key (``plait server --key-rate-limit N``): one token bucket
per key, in this server's memory.

A bucket holds up to ``rate`` tokens (a second's worth, so a burst of ``rate`` requests
passes at once) and refills at ``rate`` per second; a request takes one token, and a key
whose bucket is empty is answered 429 ``rate_limited`` with ``Retry-After`` (whole seconds,
at least 1) before anything else runs. Each server counts on its own: behind N servers a
key gets up to N times the rate. The check is two float operations and a dict lookup.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

__all__ = ["KeyRates"]

MAX_KEYS = 100_000
"""Buckets kept at most; past it, full ones (idle keys) are dropped."""


class KeyRates:
    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = max(1.0, rate)
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        """key id -> (tokens, when they were counted)"""

    def take(self, key_id: str) -> float:
        """Take a token for one request of ``key_id``: 0.0 if it may go on, else the seconds
        until it may."""
        now = self.clock()
        tokens, then = self._buckets.get(key_id, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        if tokens < 1.0:
            self._buckets[key_id] = (tokens, now)
            return (1.0 - tokens) / self.rate
        if len(self._buckets) >= MAX_KEYS and key_id not in self._buckets:
            self._forget_idle(now)
        self._buckets[key_id] = (tokens - 1.0, now)
        return 0.0

    def _forget_idle(self, now: float) -> None:
        """Drop the buckets that have refilled (their keys were idle long enough that
        forgetting them changes nothing)."""
        self._buckets = {
            k: (t, at)
            for k, (t, at) in self._buckets.items()
            if t + (now - at) * self.rate < self.burst
        }

    @staticmethod
    def retry_after(wait: float) -> str:
        """The ``Retry-After`` header's value: whole seconds, at least 1."""
        return str(max(1, math.ceil(wait)))
