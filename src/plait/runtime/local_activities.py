"""Local activities, on the workflow's side: run by the workflow's own worker, recorded as
markers.

A local activity issues no command when the code starts it: the worker runs it while the
workflow task is open and gives the instance its outcome between two idle points of the
workflow (:meth:`LocalActivities.resolve_local`). That outcome is recorded with the task's
other commands as a MARKER_RECORDED named ``local_activity`` whose details say which one it
was and how it ended (:class:`MarkerDetails`): a result, a final failure, or a failed attempt
followed by a durable timer (``backoff``) after which the next attempt runs.

In replay nothing runs: after an activation's inputs are applied and the workflow is idle,
each ``local_activity`` marker among the activation's recorded commands resolves the pending
local activity it names, in the order recorded, with an idle run between two, exactly the
points at which the worker fed them live; so the commands the code produces come out in the
same order and the replay check compares them as usual.

State lives in the instance's activity table (``_activities``, keyed by the same sequence
of ids): a cached instance grows no attribute for it (``test_cache_memory``).
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from plait import errors
from plait.protocol import commands as c
from plait.protocol import failure as failures
from plait.protocol.common import Header, Payload
from plait.protocol.history import Event, MarkerRecordedEvent
from plait.retry import RetryPolicy
from plait.runtime.durable_timer import DurableTimer
from plait.runtime.outcome import TaskFailure
from plait.runtime.registries import PendingActivity
from plait.runtime.replay_check import Issued

if TYPE_CHECKING:
    from plait.converter import Conversions
    from plait.runtime.info import WorkflowInfo

__all__ = ["LOCAL_ACTIVITY_MARKER", "LocalActivities", "LocalActivityFuture", "MarkerDetails",
           "PendingLocal", "local_markers"]

LOCAL_ACTIVITY_MARKER = "local_activity"
"""The marker name a local activity's outcome is recorded under."""


class MarkerDetails(TypedDict, total=False):
    """A ``local_activity`` marker's details (all JSON)."""

    activity_id: str
    activity_type: str
    attempt: int
    """The attempt this outcome is of (1-based; attempts retried in the worker count too)."""
    original_schedule_time: float
    """When the first attempt started (Unix time): schedule_to_close counts from it."""
    started_time: float
    """When this outcome's last attempt started (Unix time)."""
    duration: float
    """Seconds from the first attempt of this worker's run of it to the outcome."""
    result: Payload
    failure: failures.Failure
    """The last attempt's failure."""
    retry_state: str
    """Why retrying stopped, with a final failure."""
    backoff: float
    """With a failure: not final; the next attempt runs after a durable timer this long."""


LocalState = Literal["ready", "running", "backoff"]


@dataclasses.dataclass(slots=True, eq=False)
class PendingLocal:
    """A local activity the workflow waits on. Its ``future`` settles from a marker."""

    future: asyncio.Future[Any]
    ret_hint: Any
    activity_type: str
    activity_id: str
    input: list[Payload]
    header: Header
    start_to_close_timeout: float | None
    schedule_to_close_timeout: float | None
    retry_policy: RetryPolicy
    local_retry_threshold: float
    where: str
    """The workflow line that started it (non-determinism reports)."""
    attempt: int = 1
    """The next attempt to run."""
    original_schedule_time: float | None = None
    state: LocalState = "ready"
    """``ready``: to be run by the worker; ``running``: the worker runs it (``job``);
    ``backoff``: waiting for its durable timer."""
    job: Any = None
    """The worker's task running it (on the worker's loop), cancelled with the activity."""
    timer: DurableTimer | None = None


class LocalActivityFuture(asyncio.Future[Any]):
    """A local activity's outcome; ``cancel()`` stops it (the worker's task, or its backoff
    timer) and cancels this future at once. Nothing is recorded: the cancel is the code's
    own deterministic decision, made again at the same point in replay."""

    def __init__(self, instance: LocalActivities, activity_id: str) -> None:
        super().__init__(loop=instance)  # type: ignore[arg-type]
        self._instance, self.activity_id = instance, activity_id

    def cancel(self, msg: Any = None) -> bool:
        if self.done():
            return False
        self._instance._drop_local(self.activity_id)
        return super().cancel(msg)


def local_markers(events: list[Event]) -> list[MarkerRecordedEvent]:
    """The ``local_activity`` markers among an activation's recorded commands, in order."""
    return [e for e in events if type(e) is MarkerRecordedEvent
            and e.attributes.marker_name == LOCAL_ACTIVITY_MARKER]


class LocalActivities:
    """Starting and settling local activities; a mixin of the workflow instance."""

    conv: Conversions
    info: WorkflowInfo
    _activities: dict[str, PendingActivity | PendingLocal]
    _commands: list[Issued]
    _failure: TaskFailure | None

    if TYPE_CHECKING:  # provided by the instance
        def next_seq(self) -> int: ...

        def start_timer(self, seconds: float, callback: Any, args: tuple[Any, ...]
                        ) -> DurableTimer: ...

        def _run_until_idle(self) -> None: ...

    def start_local_activity(self, pending: PendingLocal) -> LocalActivityFuture:
        """Register a local activity under the next id; the worker runs it after this
        activation (live), or a marker of history settles it (replay)."""
        aid = pending.activity_id = str(self.next_seq())
        fut = LocalActivityFuture(self, aid)
        pending.future = fut
        self._activities[aid] = pending
        return fut

    def has_locals(self) -> bool:
        """Whether any local activity is pending (cheap: most runs have none)."""
        return any(type(e) is PendingLocal for e in self._activities.values())

    def locals_to_run(self) -> list[PendingLocal]:
        """The local activities ready for their next attempt (the worker asks after a live
        activation; in replay they wait for their markers instead)."""
        return [e for e in self._activities.values()
                if type(e) is PendingLocal and e.state == "ready"]

    def locals_running(self) -> list[PendingLocal]:
        return [e for e in self._activities.values()
                if type(e) is PendingLocal and e.state == "running" and e.job is not None]

    def _drop_local(self, aid: str) -> None:
        entry = self._activities.pop(aid, None)
        if type(entry) is not PendingLocal:
            return
        if entry.timer is not None:
            entry.timer.cancel()
        if entry.job is not None:
            entry.job.cancel()
            entry.job = None

    def cancel_local_jobs(self) -> None:
        """Stop the worker's tasks of this run's local activities (the instance is evicted)."""
        for entry in self._activities.values():
            if type(entry) is PendingLocal and entry.job is not None:
                entry.job.cancel()
                entry.job = None

    def _settle_local(self, details: MarkerDetails) -> bool:
        """Record and apply one local activity outcome; False if no pending local activity
        has its id (its code changed, or it was cancelled meanwhile)."""
        aid = str(details.get("activity_id", ""))
        entry = self._activities.get(aid)
        if type(entry) is not PendingLocal:
            return False
        # The command says what the *code* runs (in replay, the details are history's): the
        # replay check compares the two.
        self._commands.append(Issued(c.RecordMarkerCommand(
            marker_name=LOCAL_ACTIVITY_MARKER,
            details={**details, "activity_id": aid, "activity_type": entry.activity_type}),
            entry.where))
        entry.job = None
        entry.original_schedule_time = details.get("original_schedule_time",
                                                   entry.original_schedule_time)
        if "result" in details:
            del self._activities[aid]
            entry.future.set_result(self.conv.from_payload(details["result"], entry.ret_hint))
        elif "backoff" in details:
            entry.attempt = int(details.get("attempt", entry.attempt)) + 1
            entry.state = "backoff"
            entry.timer = self.start_timer(float(details["backoff"]), self._local_due, (aid,))
        else:
            del self._activities[aid]
            entry.future.set_exception(errors.ActivityError(
                cause=failures.to_exception(details.get("failure") or {"message": "failed"}),
                activity_type=entry.activity_type, activity_id=aid,
                retry_state=details.get("retry_state")))
        return True

    def _local_due(self, aid: str) -> None:
        """The backoff timer fired: the next attempt may run."""
        entry = self._activities.get(aid)
        if type(entry) is PendingLocal and entry.state == "backoff":
            entry.state, entry.timer = "ready", None

    def _replay_locals(self, recorded: list[Event]) -> None:
        """Settle the local activities whose markers this activation recorded, in order,
        each followed by an idle run, as the worker fed them live."""
        for marker in local_markers(recorded):
            details: MarkerDetails = marker.attributes.details or {}  # type: ignore[assignment]
            if self._failure is not None or not self._settle_local(details):
                return  # the replay check names the difference
            self._run_until_idle()
