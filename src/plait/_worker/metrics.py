"""A worker's own Prometheus series, served by ``Worker(..., metrics_port=N)``.

Each worker has a registry of its own (not prometheus-client's global one), so two workers in
one process do not clash, and tests can read one worker's numbers. Recording is on the
worker's hot path, so it is plain arithmetic on the event loop's thread (an attribute or a
dict entry incremented, a histogram bucket found by bisection): prometheus-client's own
metric objects take a lock per sample, which cost about 2% of a task's CPU. The numbers
become Prometheus families when scraped (:meth:`WorkerMetrics.collect`), in the endpoint's
thread; slot use and the cache's size are read then too. ``docs/observability.md`` lists the
series.

prometheus-client is imported only by a worker that serves metrics: it is about twelve
thousand objects, which every process importing ``plait`` (clients too) would otherwise carry
and which every full garbage collection of that process would walk.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from plait._buckets import Buckets
from plait._worker.slots import Slots

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from prometheus_client.core import Metric
    from prometheus_client.registry import CollectorRegistry

__all__ = ["LATENCY_BUCKETS", "WorkerMetrics"]

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                   5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
"""Workflow and query tasks take a millisecond or so; an activity anything up to hours."""
KINDS = ("workflow", "activity", "query")
EVICTION_REASONS = ("cache_full", "missed_events", "task_failed")


_LES = (*map(str, LATENCY_BUCKETS), "+Inf")


class WorkerMetrics:
    """What one worker counts; ``registry`` serves it (a prometheus-client collector)."""

    def __init__(self, slots: dict[str, Slots], cache_size: Callable[[], int]) -> None:
        self.slots = slots
        self.cache_size = cache_size
        self.latency = {kind: Buckets(LATENCY_BUCKETS) for kind in KINDS}
        self.cache_hits = 0
        self.cache_misses = 0
        self.evictions = dict.fromkeys(EVICTION_REASONS, 0)
        self.workflow_tasks_completed = 0
        self.workflow_tasks_failed = 0
        self.activities: dict[tuple[str, str], int] = {}
        """Attempts by (activity type, outcome)."""
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    # -- recording (the worker's loop) ------------------------------------------------------------
    def observe(self, kind: str, arrived: float) -> None:
        self.latency[kind].observe(time.monotonic() - arrived)

    def evict(self, reason: str) -> None:
        self.evictions[reason] += 1

    def activity_ended(self, activity_type: str, outcome: str) -> None:
        key = (activity_type, outcome)
        self.activities[key] = self.activities.get(key, 0) + 1

    # -- scraping (the endpoint's thread) ---------------------------------------------------------
    @functools.cached_property
    def registry(self) -> CollectorRegistry:
        """A registry of this worker's alone, made (and prometheus-client imported) on first
        use."""
        from prometheus_client.registry import CollectorRegistry

        registry = CollectorRegistry()
        registry.register(self)
        return registry

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        used = GaugeMetricFamily("plait_worker_slots_used",
                                 "Task slots held by running tasks, by kind (not counting "
                                 "those a waiting poll reserved)", labels=["kind"])
        size = GaugeMetricFamily("plait_worker_slots", "Task slots, by kind", labels=["kind"])
        for kind, slots in self.slots.items():
            used.add_metric([kind], max(0, slots.running))
            size.add_metric([kind], slots.size)
        yield used
        yield size
        latency = HistogramMetricFamily(
            "plait_worker_task_seconds", "A task's time on this worker, from its arrival (a "
            "poll answered, or handed back with a completion) to its outcome reported",
            labels=["kind"])
        for kind, hist in self.latency.items():
            latency.add_metric([kind], hist.cumulative(_LES), hist.sum)
        yield latency
        wf = CounterMetricFamily("plait_worker_workflow_tasks",
                                 "Workflow tasks this worker ran, by outcome (completed, "
                                 "failed)", labels=["outcome"])
        wf.add_metric(["completed"], self.workflow_tasks_completed)
        wf.add_metric(["failed"], self.workflow_tasks_failed)
        yield wf
        cache = CounterMetricFamily(
            "plait_worker_sticky_cache", "Workflow tasks by whether the run was cached with "
            "every event before the task's (hit) or had to be rebuilt from its history (miss)",
            labels=["result"])
        cache.add_metric(["hit"], self.cache_hits)
        cache.add_metric(["miss"], self.cache_misses)
        yield cache
        evictions = CounterMetricFamily(
            "plait_worker_sticky_cache_evictions", "Cached runs dropped, by why: cache_full "
            "(the least recently used), missed_events (a task came whose earlier events it had "
            "not seen), task_failed (its task failed or was not recorded)", labels=["reason"])
        for reason, n in list(self.evictions.items()):
            evictions.add_metric([reason], n)
        yield evictions
        yield GaugeMetricFamily("plait_worker_sticky_cache_size",
                                "Workflow runs cached on this worker", value=self.cache_size())
        attempts = CounterMetricFamily(
            "plait_worker_activity_attempts", "Activity attempts this worker ran, by how they "
            "ended: completed, failed, timed_out, canceled, async (left to be completed from "
            "outside), not_started (its lease lapsed), lost (the server no longer expected "
            "its result)", labels=["activity_type", "outcome"])
        for (activity_type, outcome), n in list(self.activities.items()):
            attempts.add_metric([activity_type, outcome], n)
        yield attempts

    # -- the endpoint -------------------------------------------------------------------------
    def serve(self, host: str, port: int) -> int:
        """Serve Prometheus text on ``host:port`` (0: a free port) from a thread of its own,
        so a scrape is answered while the worker's loop is busy; returns the port."""
        from prometheus_client import start_http_server

        self._server, self._thread = start_http_server(port, host, registry=self.registry)
        self.port = int(self._server.server_address[1])
        return self.port

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
