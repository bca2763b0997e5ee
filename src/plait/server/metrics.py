"""The server's own Prometheus series (served at ``/metrics``; ``docs/observability.md`` lists
them with what to alert on).

Counters and histograms count what committed transactions did: the state changes record
facts on their ``Effects`` (:mod:`plait.server.observed`), and :func:`count` turns a
commit's facts into samples once it is durable. Each server counts what it committed, so
across several servers the counters add up (``sum by``). Gauges whose truth is the database
(open runs, backlog, pollers) are read at scrape time instead (:class:`ScrapeGauges`), so
they are right after a restart and agree between servers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import Gauge
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from plait.protocol.enums import AttemptOutcome
from plait.server.observed import (
    ActivityDispatched,
    AttemptEnded,
    Fact,
    HistoryLarge,
    LimitHit,
    RateLimited,
    RetryScheduled,
    RunClosed,
    RunStarted,
    TimerFired,
    WorkflowTaskFailed,
)
from plait.server.series import CounterSeries, HistogramSeries
from plait.store.base import Store
from plait.store.gauges import GroupCount

__all__ = ["ACTIVITY_ATTEMPTS", "ACTIVITY_EXECUTION", "ACTIVITY_RETRIES", "CHAINED",
           "CLOSED", "COMPLETIONS", "DURATION", "HISTORY_LIMIT", "RATE_LIMIT_WAITS", "REQUESTS",
           "RUN_LIMITS", "SCHEDULE_ACTIONS", "SCHEDULE_TO_START", "STARTED", "STORE_TRANSACTION",
           "STREAMS", "TASKS", "TIMER_LATENESS", "WORKFLOW_TASK_FAILURES", "ScrapeGauges",
           "count"]

log = logging.getLogger("plait.server")

REQUESTS = CounterSeries("plait_http_requests_total", "HTTP requests by route and status",
                         ["route", "status"])
"""A request that came as a frame of a request stream counts here as the request it is."""
STREAMS = Gauge("plait_request_streams", "Request streams open on this server (clients and "
                "workers sending their requests as WebSocket frames)")


TASKS = CounterSeries("plait_tasks_dispatched_total", "Tasks handed to workers", ["kind"])


COMPLETIONS = CounterSeries("plait_task_completions_total", "Task completions", ["kind", "outcome"])


CHAINED = CounterSeries("plait_chained_steps_total",
                        "Workflow tasks reported with the activity result that unblocked them: "
                        "recorded, or refused and why", ["outcome"])


SCHEDULE_ACTIONS = CounterSeries(
    "plait_schedule_actions_total",
    "Schedule due times decided, by outcome (started, skipped_overlap, skipped_missed, "
    "buffered, already_started)", ["namespace", "outcome"])

# Seconds from milliseconds to a week: a workflow may be an HTTP call's worth or a month long.
_LONG = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0,
         86400.0, 7 * 86400.0)
# Queue waits and lateness: mostly milliseconds; seconds are already a problem.
_SHORT = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
          60.0, 300.0)

STARTED = CounterSeries("plait_workflows_started_total",
                        "Runs started (starts, children, continue-as-new and retry runs)",
                        ["namespace", "workflow_type"])
CLOSED = CounterSeries("plait_workflows_closed_total", "Runs closed, by status",
                       ["namespace", "workflow_type", "status"])
DURATION = HistogramSeries("plait_workflow_duration_seconds", "A run's start to its close",
                           ["namespace", "workflow_type", "status"], buckets=_LONG)
ACTIVITY_ATTEMPTS = CounterSeries("plait_activity_attempts_total",
                                  "Activity attempts a worker held, by how they ended",
                                  ["namespace", "activity_type", "outcome"])
ACTIVITY_RETRIES = CounterSeries("plait_activity_retries_total",
                                 "Activity attempts that failed or timed out and will run again",
                                 ["namespace", "activity_type"])
SCHEDULE_TO_START = HistogramSeries(
    "plait_activity_schedule_to_start_seconds",
    "How long an activity task waited, ready, before a worker took it",
    ["namespace", "task_queue"], buckets=_SHORT)
ACTIVITY_EXECUTION = HistogramSeries("plait_activity_execution_seconds",
                                     "An activity attempt's dispatch to its end",
                                     ["namespace", "activity_type"], buckets=_LONG)
WORKFLOW_TASK_FAILURES = CounterSeries("plait_workflow_task_failures_total",
                                       "Workflow tasks a worker reported failed (code raised, or "
                                       "nondeterminism): the run is stuck retrying its task",
                                       ["namespace", "workflow_type"])
RATE_LIMIT_WAITS = CounterSeries("plait_rate_limit_waits_total",
                                 "Activity tasks sent back to wait for a rate-limit token",
                                 ["namespace", "task_queue"])
TIMER_LATENESS = HistogramSeries("plait_timer_lateness_seconds",
                                 "How long after it was due a durable timer fired", ["namespace"],
                                 buckets=_SHORT)
HISTORY_LIMIT = CounterSeries("plait_history_size_limit_total",
                              "Runs whose history crossed the warning threshold (level=warning: "
                              "continue as new) or the limit where the server terminates them "
                              "(level=exceeded)", ["namespace", "workflow_type", "level"])
RUN_LIMITS = CounterSeries(
    "plait_run_limit_exceeded_total",
    "Workflow tasks failed because their commands would pass a per-run limit",
    ["namespace", "workflow_type", "limit"])
STORE_TRANSACTION = HistogramSeries("plait_store_transaction_seconds",
                                    "One write transaction, queueing for the writer included "
                                    "(no namespace: a transaction may touch none or several)",
                                    buckets=_SHORT)

_CANCELED = {"cancelled": AttemptOutcome.CANCELED.value}
"""The attempt log's spelling of an outcome, where it differs from the metric's."""


def count(facts: Iterable[Fact]) -> None:
    """Count one committed transaction's facts."""
    for f in facts:
        if isinstance(f, RunStarted):
            STARTED.labels(f.namespace, f.workflow_type).inc()
        elif isinstance(f, RunClosed):
            CLOSED.labels(f.namespace, f.workflow_type, f.status).inc()
            DURATION.labels(f.namespace, f.workflow_type, f.status).observe(f.seconds)
        elif isinstance(f, AttemptEnded):
            outcome = _CANCELED.get(f.outcome, f.outcome)
            ACTIVITY_ATTEMPTS.labels(f.namespace, f.activity_type, outcome).inc()
            ACTIVITY_EXECUTION.labels(f.namespace, f.activity_type).observe(f.seconds)
        elif isinstance(f, ActivityDispatched):
            SCHEDULE_TO_START.labels(f.namespace, f.task_queue).observe(max(0.0, f.waited))
        elif isinstance(f, RetryScheduled):
            ACTIVITY_RETRIES.labels(f.namespace, f.activity_type).inc()
        elif isinstance(f, WorkflowTaskFailed):
            WORKFLOW_TASK_FAILURES.labels(f.namespace, f.workflow_type).inc()
        elif isinstance(f, RateLimited):
            RATE_LIMIT_WAITS.labels(f.namespace, f.task_queue).inc()
        elif isinstance(f, TimerFired):
            TIMER_LATENESS.labels(f.namespace).observe(max(0.0, f.late))
        elif isinstance(f, HistoryLarge):
            HISTORY_LIMIT.labels(f.namespace, f.workflow_type, f.level).inc()
        elif isinstance(f, LimitHit):
            RUN_LIMITS.labels(f.namespace, f.workflow_type, f.limit).inc()


class _Snapshot:
    """One reading of the database's gauges."""

    def __init__(self, open_runs: list[GroupCount], backlog: list[GroupCount],
                 pollers: list[GroupCount]) -> None:
        self.open_runs = open_runs
        self.backlog = backlog
        self.pollers = pollers


class ScrapeGauges(Collector):
    """``plait_workflows_open``, ``plait_task_queue_backlog`` and ``plait_task_queue_pollers``,
    read from the database when scraped (at most once per ``ttl`` seconds, so a scrape storm
    costs one read). One per server, in its own registry: the global registry holds only
    in-memory series, so several servers in one process (tests) each report their own store.

    Pollers are the live worker sessions serving the queue (the ``sessions`` table), not this
    server's waiting long-polls: a worker is between polls much of the time, and polls land
    on any of several servers, while its session says "a worker serves this queue" from every
    server and through a restart.
    """

    def __init__(self, store: Store, now: Callable[[], float], ttl: float = 1.0) -> None:
        self.store = store
        self.now = now
        """Durable time (what tasks' ``visible_at`` is in)."""
        self.ttl = ttl
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)
        self._snapshot = _Snapshot([], [], [])
        self._read_at = -ttl
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        """Read the gauges again unless the last reading is younger than ``ttl``."""
        async with self._lock:  # concurrent scrapes share one read
            if time.monotonic() - self._read_at < self.ttl:
                return
            now, wall = self.now(), time.time()
            try:
                self._snapshot = await self.store.read(lambda t: _Snapshot(
                    t.open_runs_by_type(), t.backlog_by_queue(now),
                    t.live_sessions_by_queue(wall)))
            except Exception as exc:
                # The counters are still worth serving; stale gauges are not (the next
                # scrape reads again).
                log.warning("reading the metrics' gauges failed: %s", exc)
                self._snapshot = _Snapshot([], [], [])
                return
            self._read_at = time.monotonic()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        snap = self._snapshot
        yield _family("plait_workflows_open", "Runs running now (read from the database)",
                      ["workflow_type"], snap.open_runs)
        yield _family("plait_task_queue_backlog",
                      "Tasks ready now that no worker holds (read from the database)",
                      ["task_queue", "kind"], snap.backlog)
        yield _family("plait_task_queue_pollers",
                      "Live worker sessions serving the queue (read from the database)",
                      ["task_queue"], snap.pollers)


def _family(name: str, doc: str, labels: list[str],
            groups: list[GroupCount]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=["namespace", *labels])
    for g in groups:
        family.add_metric([g.namespace, *g.labels], g.count)
    return family
