"""Workflows whose recorded histories live in ``histories/``; replaying them guards the
runtime against changes that would break running workflows.

Together they make every event type of the closed list (``tests.replay.record`` records
them; ``test_replay`` checks the coverage). Regenerate with ``python -m tests.replay.record``.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from plait import RetryPolicy, activity, workflow
from plait.errors import ActivityError, ApplicationError, ChildWorkflowError

T5 = timedelta(seconds=5)
SHORT = timedelta(seconds=0.3)
ONE_ATTEMPT = RetryPolicy(maximum_attempts=1)


@activity.defn
async def register(kind: str, name: str) -> str:
    return f"{kind}:{name}"


@activity.defn
async def flaky_once(name: str) -> str:
    if activity.info().attempt == 1:
        raise RuntimeError("first attempt fails")
    return name


@workflow.defn
class Onboarding:
    @workflow.run
    async def run(self, brand: str, numbers: list[str]) -> dict[str, object]:
        brand_id = await workflow.execute_activity(register, "brand", brand,
                                                   start_to_close_timeout=T5)
        await workflow.sleep(0.1)
        campaign = await workflow.execute_activity(
            register, "campaign", brand_id, start_to_close_timeout=T5,
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=20)))
        phones = await asyncio.gather(*(workflow.execute_activity(
            register, "number", n, start_to_close_timeout=T5) for n in numbers))
        retried = await workflow.execute_activity(
            flaky_once, "again", start_to_close_timeout=T5,
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=20)))
        return {"campaign": campaign, "phones": list(phones), "retried": retried,
                "token": str(workflow.uuid4()), "lucky": workflow.random().randint(1, 100)}


@workflow.defn(name="Onboarding")
class OnboardingReordered:
    """The same workflow with two steps swapped: replay must refuse it."""

    @workflow.run
    async def run(self, brand: str, numbers: list[str]) -> dict[str, object]:
        await workflow.sleep(0.1)
        brand_id = await workflow.execute_activity(register, "brand", brand,
                                                   start_to_close_timeout=T5)
        return {"brand": brand_id}


@workflow.defn(name="Onboarding")
class OnboardingNewArguments:
    """Changed arguments to the same steps replay fine (matching ignores arguments)."""

    @workflow.run
    async def run(self, brand: str, numbers: list[str]) -> dict[str, object]:
        brand_id = await workflow.execute_activity(register, "brand", brand.upper(),
                                                   start_to_close_timeout=T5)
        await workflow.sleep(0.1)
        campaign = await workflow.execute_activity(register, "campaign", brand_id,
                                                   start_to_close_timeout=T5)
        phones = await asyncio.gather(*(workflow.execute_activity(
            register, "number", n + "!", start_to_close_timeout=T5) for n in numbers))
        retried = await workflow.execute_activity(flaky_once, "x", start_to_close_timeout=T5)
        return {"campaign": campaign, "phones": list(phones), "retried": retried}


# -- activity outcomes: failed, timed out, cancelled ----------------------------------------
@activity.defn
async def refuse(reason: str) -> str:
    raise ApplicationError(reason, type="Refused", non_retryable=True)


@activity.defn
async def stall(seconds: float) -> str:
    """Heartbeats until done, or until its workflow cancels it."""
    for _ in range(int(seconds * 20)):
        activity.heartbeat()
        await asyncio.sleep(0.05)
    return "finished"


@workflow.defn
class ActivityOutcomes:
    @workflow.run
    async def run(self) -> list[str]:
        seen = [await workflow.execute_activity(register, "plan", "basic",
                                                start_to_close_timeout=T5)]
        try:
            await workflow.execute_activity(refuse, "no credit", start_to_close_timeout=T5)
        except ActivityError as e:
            seen.append(f"failed: {e.cause}")
        try:
            await workflow.execute_activity(stall, 1.0, start_to_close_timeout=SHORT,
                                            retry_policy=ONE_ATTEMPT)
        except ActivityError as e:
            seen.append(f"timed out: {type(e.cause).__name__}")
        handle = workflow.start_activity(stall, 30.0, start_to_close_timeout=T5,
                                         heartbeat_timeout=timedelta(seconds=2),
                                         cancellation_type="wait_cancellation_completed")
        await workflow.sleep(0.3)
        handle.cancel()
        try:
            await handle
        except ActivityError as e:
            seen.append(f"cancelled: {e.retry_state}")
        return seen


# -- signals and timers --------------------------------------------------------------------
@workflow.defn
class Approval:
    """A timer that fires, then one that is cancelled when two approvals arrive first."""

    def __init__(self) -> None:
        self.approvals: list[str] = []

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.sleep(0.05)
        await workflow.wait_condition(lambda: len(self.approvals) >= 2,
                                      timeout=timedelta(hours=1))
        return self.approvals

    @workflow.signal
    def approve(self, by: str) -> None:
        self.approvals.append(by)


# -- updates -------------------------------------------------------------------------------
@workflow.defn
class Counter:
    def __init__(self) -> None:
        self.value = 0
        self.closed = False

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self.closed)
        return self.value

    @workflow.update
    async def add(self, n: int) -> int:
        await workflow.sleep(0.01)
        self.value += n
        return self.value

    @add.validator
    def check_add(self, n: int) -> None:
        if n < 0:
            raise ApplicationError("only additions", type="Invalid")

    @workflow.signal
    def close(self) -> None:
        self.closed = True


# -- children and other workflows ------------------------------------------------------------
@workflow.defn
class Child:
    """Completes, fails, or waits (for a cancel, a timeout or a terminate) as asked."""

    def __init__(self) -> None:
        self.pokes = 0

    @workflow.run
    async def run(self, mode: str) -> str:
        if mode == "fail":
            raise ApplicationError("child refused", type="Refused")
        if mode == "wait":
            await workflow.wait_condition(lambda: False)
        return f"child {mode}"

    @workflow.signal
    def poke(self) -> None:
        self.pokes += 1


@workflow.defn
class Family:
    """A child of each outcome; signals one (external signal) and cancels another."""

    @workflow.run
    async def run(self) -> dict[str, str]:
        wid = workflow.info().workflow_id
        out = {"completed": await workflow.execute_child_workflow(Child.run, "ok")}
        for key, mode, timeout in (("failed", "fail", None), ("timed_out", "wait", SHORT)):
            try:
                await workflow.execute_child_workflow(Child.run, mode, id=f"{wid}-{key}",
                                                      execution_timeout=timeout)
            except ChildWorkflowError as e:
                out[key] = type(e.cause).__name__
        cancelled = await workflow.start_child_workflow(Child.run, "wait", id=f"{wid}-canceled")
        await cancelled.cancel()
        try:
            await cancelled
        except ChildWorkflowError as e:
            out["canceled"] = type(e.cause).__name__
        doomed = await workflow.start_child_workflow(Child.run, "wait", id=f"{wid}-terminated")
        await doomed.signal(Child.poke)
        try:
            await doomed  # terminated by the recorder
        except ChildWorkflowError as e:
            out["terminated"] = type(e.cause).__name__
        return out


@workflow.defn
class Rollover:
    """Continues as new once, then completes."""

    @workflow.run
    async def run(self, turn: int) -> int:
        await workflow.execute_activity(register, "round", str(turn), start_to_close_timeout=T5)
        if turn < 2:
            workflow.continue_as_new(turn + 1)
        return turn


# -- changing code: patches, search attributes -------------------------------------------------
@workflow.defn
class Versioned:
    @workflow.run
    async def run(self, customer: str) -> str:
        workflow.upsert_search_attributes({"customer": customer, "stage": "started"})
        if workflow.patched("greet-v2"):
            greeting = await workflow.execute_activity(register, "greeting", "v2",
                                                       start_to_close_timeout=T5)
        else:
            await workflow.sleep(0.01)
            greeting = "v1"
        workflow.deprecate_patch("fast-path")
        workflow.upsert_search_attributes({"stage": "done"})
        return greeting


# -- workflow task failures ------------------------------------------------------------------
FAIL_NEXT_TASK: dict[str, bool] = {"armed": False}
"""Armed by the recorder: the next workflow task fails once, like a bug fixed by the retry.
Off in replay (a failed task produced no commands, so replay never needs it)."""


@workflow.defn
class Recovers:
    @workflow.run
    async def run(self) -> str:
        if FAIL_NEXT_TASK["armed"]:
            FAIL_NEXT_TASK["armed"] = False
            raise RuntimeError("a bug in the workflow, fixed by the next attempt")
        return await workflow.execute_activity(register, "recovered", "yes",
                                               start_to_close_timeout=T5)


@workflow.defn
class LocalSteps:
    """Local activities: a result, a failure retried after a durable timer, a non-retryable
    failure caught, one settled while a timer is out."""

    @workflow.run
    async def run(self, name: str) -> list[str]:
        first = await workflow.execute_local_activity(register, "local", name,
                                                      start_to_close_timeout=T5)
        retried = await workflow.execute_local_activity(
            flaky_once, "timer", start_to_close_timeout=T5,
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=50)),
            local_retry_threshold=timedelta(milliseconds=10))
        try:
            await workflow.execute_local_activity(refuse, "no", start_to_close_timeout=T5)
        except ActivityError as e:
            refused = str(e.cause)
        raced = await asyncio.gather(
            workflow.execute_local_activity(stall, 0.2, start_to_close_timeout=T5),
            workflow.sleep(0.05))
        return [first, retried, refused, str(raced[0])]


@workflow.defn
class Compensates:
    """Sleeps; cancelled, it undoes its work with an activity and ends CANCELED."""

    @workflow.run
    async def run(self) -> str:
        try:
            await workflow.sleep(3600)
            return "slept"
        except asyncio.CancelledError:
            await workflow.execute_activity(register, "undo", "compensation",
                                            start_to_close_timeout=T5)
            raise
