"""Schedules: create, list, describe, delete, and the changes that may start runs (update,
pause, unpause, trigger, backfill) (:mod:`plait.server.api.schedules`)."""

from __future__ import annotations

from typing import Any

from plait.protocol import ratelimits, schedules
from plait.protocol.openapi import Operation, Param, Reply

__all__ = ["OPERATIONS"]

SCHEDULE = "/api/v1/namespaces/{ns}/schedules/{sched}"


def _schedule_change(path: str, op_id: str, summary: str, request: Any,
                     description: str = "") -> Operation:
    return Operation("POST", SCHEDULE + path, op_id, summary=summary, tag="schedules",
                     request=request, params=["ns", "sched"], description=description,
                     replies={200: Reply("The schedule id and the runs this change started.",
                                         schedules.Scheduled)},
                     errors=(400, 404, 413, 503))


OPERATIONS: list[Operation] = [
    Operation(
        "POST",
        "/api/v1/namespaces/{ns}/schedules",
        "createSchedule",
        summary="Create a schedule",
        tag="schedules",
        description=(
            "Stores the schedule and arms its first due time. Exactly one of `cron` and "
            "`interval` is required. An invalid cron expression, time zone, interval or "
            "policy is refused (400 `invalid_schedule`, naming the field) before anything is "
            "stored. Each run it starts has the workflow id `{prefix}-{scheduled time, UTC, "
            "%Y-%m-%dT%H:%M:%SZ}` and the search attribute `ScheduleId`."
        ),
        request=schedules.CreateScheduleRequest,
        params=["ns"],
        replies={201: Reply("Created.", schedules.Scheduled)},
        errors=(400, 409, 404, 413, 503),
    ),
    Operation(
        "GET",
        "/api/v1/namespaces/{ns}/schedules",
        "listSchedules",
        summary="The namespace's schedules, in id order",
        tag="schedules",
        params=[
            "ns",
            Param("page_size", schema={"type": "integer", "minimum": 1, "maximum": 1000}),
            Param("next_page_token", schema={"type": "string"}),
        ],
        replies={200: Reply("A page of schedules.", schedules.ScheduleList)},
        errors=(400, 404, 503),
    ),
    Operation(
        "GET",
        SCHEDULE,
        "describeSchedule",
        summary="A schedule: definition, next due times, recent runs, counts",
        tag="schedules",
        params=["ns", "sched"],
        replies={200: Reply("The schedule.", schedules.ScheduleDescription)},
        errors=(404, 503, 400),
    ),
    Operation(
        "DELETE",
        SCHEDULE,
        "deleteSchedule",
        summary="Delete a schedule (runs it started are not touched)",
        tag="schedules",
        params=["ns", "sched"],
        replies={200: Reply("Deleted.", ratelimits.Deleted)},
        errors=(404, 503, 400),
    ),
    _schedule_change("/update", "updateSchedule", "Change the fields given",
                     schedules.ScheduleUpdate,
                     "Fields absent from the body keep their value; null clears an optional "
                     "one. The next due time is computed again from now."),
    _schedule_change("/pause", "pauseSchedule", "Pause (due times that pass are skipped)",
                     schedules.NoteRequest),
    _schedule_change("/unpause", "unpauseSchedule", "Unpause", schedules.NoteRequest),
    _schedule_change("/trigger", "triggerSchedule", "Start one run now (also while paused)",
                     schedules.TriggerRequest,
                     "Acts as if a due time had come this second, under the schedule's "
                     "overlap policy or the one given."),
    _schedule_change("/backfill", "backfillSchedule",
                     "Act on every due time in [start, end), in order, now",
                     schedules.BackfillRequest),
]
