"""Counters and histograms kept as plain numbers, served through prometheus-client.

prometheus-client's own ``Counter`` and ``Histogram`` take a lock and check the metric on
every update, and look a label set up under another lock: about 0.5 us an update, and a W1
workflow makes some 40 of them (requests, completions, the facts of every commit, the store
transaction's time). That was 4 % of the server's CPU, which is W1's pace. Here an update is
one addition to a float or a list slot (about 0.1 us), and the library does what it is good
at: the exposition, at scrape time, from :meth:`Series.collect`.

Every update happens on the server's event loop thread (the state changes hand their facts
back as effects, counted once committed: :mod:`plait.server.metrics`), so no lock is needed;
a scrape also runs on that thread, so it reads a consistent set.

The exposition is the library's, sample for sample, ``_created`` included
(``tests/unit/test_series.py`` compares the two).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Generic, TypeVar

from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

from plait._buckets import Buckets

__all__ = ["CounterSeries", "HistogramSeries"]

_le: Callable[[float], str] = floatToGoString
"""How the library spells a bucket's bound (``1.0``, ``+Inf``): the same text as before."""


class _Count:
    """One label set of a counter."""

    __slots__ = ("created", "value")

    def __init__(self) -> None:
        self.value = 0.0
        self.created = time.time()

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount


class _Spread(Buckets):
    """One label set of a histogram."""

    __slots__ = ("created",)

    def __init__(self, bounds: tuple[float, ...]) -> None:
        super().__init__(bounds)
        self.created = time.time()


C = TypeVar("C", _Count, _Spread)


class _Series(Collector, Generic[C]):
    """A named family of label sets, registered with a prometheus-client registry."""

    def __init__(self, name: str, doc: str, labelnames: Sequence[str],
                 registry: CollectorRegistry | None) -> None:
        self.name = name
        self.doc = doc
        self.labelnames = tuple(labelnames)
        self._children: dict[tuple[str, ...], C] = {}
        if not labelnames:  # an unlabelled series exists from the start, at zero
            self._children[()] = self._new()
        if registry is not None:
            registry.register(self)

    def labels(self, *values: str) -> C:
        found = self._children.get(values)
        if found is None:
            if len(values) != len(self.labelnames):
                raise ValueError(f"{self.name} takes labels {self.labelnames}, got {values}")
            found = self._children[values] = self._new()
        return found

    def describe(self) -> list[Metric]:
        return [self._family()]

    def _new(self) -> C:
        raise NotImplementedError

    def _family(self) -> Metric:
        raise NotImplementedError


class CounterSeries(_Series[_Count]):
    """A counter (``name`` without ``_total``, as prometheus-client spells it)."""

    def __init__(self, name: str, doc: str, labelnames: Sequence[str] = (),
                 registry: CollectorRegistry | None = REGISTRY) -> None:
        super().__init__(name, doc, labelnames, registry)

    def inc(self, amount: float = 1.0) -> None:
        self.labels().inc(amount)

    def _new(self) -> _Count:
        return _Count()

    def _family(self) -> CounterMetricFamily:
        return CounterMetricFamily(self.name, self.doc, labels=self.labelnames)

    def collect(self) -> Iterator[Metric]:
        family = self._family()
        for values, child in list(self._children.items()):
            family.add_metric(values, child.value, created=child.created)
        yield family


class HistogramSeries(_Series[_Spread]):
    """A histogram over fixed ``buckets`` (upper bounds; +Inf is added)."""

    def __init__(self, name: str, doc: str, labelnames: Sequence[str] = (),
                 buckets: Sequence[float] = (), registry: CollectorRegistry | None = REGISTRY,
                 ) -> None:
        self.bounds = tuple(float(b) for b in buckets if b != float("inf"))
        if list(self.bounds) != sorted(set(self.bounds)):
            raise ValueError(f"{name}: buckets must increase")
        self._les = [_le(b) for b in self.bounds] + ["+Inf"]
        super().__init__(name, doc, labelnames, registry)

    def observe(self, value: float) -> None:
        self.labels().observe(value)

    def _new(self) -> _Spread:
        return _Spread(self.bounds)

    def _family(self) -> HistogramMetricFamily:
        return HistogramMetricFamily(self.name, self.doc, labels=self.labelnames)

    def collect(self) -> Iterator[Metric]:
        family = self._family()
        for values, child in list(self._children.items()):
            family.add_metric(values, child.cumulative(self._les), child.sum)
            family.samples.append(Sample(self.name + "_created",
                                         dict(zip(self.labelnames, values, strict=True)),
                                         child.created))
        yield family
