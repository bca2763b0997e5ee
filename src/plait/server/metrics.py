"""The server's own Prometheus series (served at ``/metrics``)."""

from __future__ import annotations

from prometheus_client import Counter

__all__ = ["CHAINED", "COMPLETIONS", "REQUESTS", "SCHEDULE_ACTIONS", "STARTED", "TASKS"]

REQUESTS = Counter("plait_http_requests_total", "HTTP requests by route and status",
                   ["route", "status"])


STARTED = Counter("plait_workflows_started_total", "Workflows started", ["namespace"])


TASKS = Counter("plait_tasks_dispatched_total", "Tasks handed to workers", ["kind"])


COMPLETIONS = Counter("plait_task_completions_total", "Task completions", ["kind", "outcome"])


CHAINED = Counter("plait_chained_steps_total",
                  "Workflow tasks reported with the activity result that unblocked them: "
                  "recorded, or refused and why", ["outcome"])


SCHEDULE_ACTIONS = Counter("plait_schedule_actions_total",
                           "Schedule due times decided, by outcome (started, skipped_overlap, "
                           "skipped_missed, buffered, already_started)", ["namespace", "outcome"])
