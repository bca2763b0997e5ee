"""A histogram's counts as plain numbers: a count per bucket and the sum, found by bisection.

The server's and the worker's Prometheus series keep their histograms this way (an update is
a list slot and a float incremented, on the event loop's thread) and hand them to
prometheus-client only when scraped: the library's own metric objects take a lock per sample.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

__all__ = ["Buckets"]


class Buckets:
    """Counts per bucket (the last one past every bound; not cumulative) and the sum."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        # bisect_left: the first bound >= value, so a value equal to a bound is counted in it,
        # as Prometheus' ``le`` says.
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    def cumulative(self, les: Sequence[str]) -> list[tuple[str, float]]:
        """(``le`` label, count at or under it) per bucket, ``les`` naming the bounds and
        then +Inf."""
        counts = list(self.counts)  # one copy: consistent with itself while updates go on
        out, running = [], 0
        for le, n in zip(les, counts, strict=True):
            running += n
            out.append((le, float(running)))
        return out
