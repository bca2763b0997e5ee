"""The server's plain-number series expose exactly what prometheus-client's own metrics do."""

from __future__ import annotations

import re

import pytest
from prometheus_client import Counter, Histogram
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import CollectorRegistry

from plait.server.series import CounterSeries, HistogramSeries

_BOUNDS = (0.001, 0.01, 0.1, 1.0, 60.0, 7 * 86400.0)


def _text(registry: CollectorRegistry) -> str:
    """The exposition with ``_created`` timestamps masked (each side takes its own)."""
    return re.sub(r"(_created(\{[^}]*\})?) \S+", r"\1 T", generate_latest(registry).decode())


def test_counters_and_histograms_expose_what_the_library_does() -> None:
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    their_c = Counter("x_things_total", "Things, by kind", ["ns", "kind"], registry=theirs)
    our_c = CounterSeries("x_things_total", "Things, by kind", ["ns", "kind"], registry=ours)
    their_h = Histogram("x_wait_seconds", "Waits", ["ns"], buckets=_BOUNDS, registry=theirs)
    our_h = HistogramSeries("x_wait_seconds", "Waits", ["ns"], buckets=_BOUNDS, registry=ours)
    their_u = Histogram("x_txn_seconds", "Unlabelled", buckets=_BOUNDS, registry=theirs)
    our_u = HistogramSeries("x_txn_seconds", "Unlabelled", buckets=_BOUNDS, registry=ours)
    their_n = Counter("x_lone_total", "Unlabelled counter", registry=theirs)
    our_n = CounterSeries("x_lone_total", "Unlabelled counter", registry=ours)
    assert _text(ours) == _text(theirs)  # unlabelled series exist at zero, labelled do not

    for kind, n in (("a", 1), ("b", 3), ("a", 2)):
        their_c.labels("default", kind).inc(n)
        our_c.labels("default", kind).inc(n)
    # On a bound (inclusive), between bounds, below the first, above the last.
    for v in (0.001, 0.0005, 0.5, 1.0, 60.0, 10**7, 0.0):
        their_h.labels("default").observe(v)
        our_h.labels("default").observe(v)
        their_u.observe(v)
        our_u.observe(v)
    their_n.inc()
    our_n.inc()
    assert _text(ours) == _text(theirs)
    assert ours.get_sample_value("x_things_total", {"ns": "default", "kind": "a"}) == 3.0
    assert ours.get_sample_value("x_wait_seconds_bucket", {"ns": "default", "le": "0.001"}) == 3


def test_a_wrong_label_count_is_refused() -> None:
    series = CounterSeries("y_total", "Y", ["a", "b"], registry=None)
    with pytest.raises(ValueError, match="takes labels"):
        series.labels("only-one")


def test_buckets_must_increase() -> None:
    with pytest.raises(ValueError, match="increase"):
        HistogramSeries("z_seconds", "Z", buckets=(1.0, 0.5), registry=None)
