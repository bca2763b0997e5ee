"""The workflows the browser tests look at: one that completes, one that fails with a cause
chain, one that waits for a signal (to signal, query, cancel and terminate from the UI), and a
counter that signals change (its state at each event)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from plait import RetryPolicy, activity, workflow
from plait.errors import ApplicationError

# Markup in user data: shown as text, never run (the page would set this global).
HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'


@activity.defn
async def greet(who: dict[str, Any]) -> str:
    return f"hello {who['name']}"


@activity.defn
async def charge(card: str) -> str:
    raise ApplicationError(f"card {card} declined", {"code": 51}, type="CardDeclined",
                           non_retryable=True)


@activity.defn
async def flaky(order: str) -> str:
    activity.heartbeat({"order": order, "step": 3})
    raise ApplicationError(f"registry busy for {order}", type="Busy")


@workflow.defn
class Greet:
    @workflow.run
    async def run(self, who: dict[str, Any]) -> dict[str, Any]:
        text = await workflow.execute_activity(greet, who,
                                               start_to_close_timeout=timedelta(seconds=10))
        return {"greeting": text, "who": who}


@workflow.defn
class Charge:
    @workflow.run
    async def run(self, card: str) -> str:
        return await workflow.execute_activity(charge, card,
                                               start_to_close_timeout=timedelta(seconds=10))


@workflow.defn
class Approval:
    def __init__(self) -> None:
        self.by: str | None = None

    @workflow.run
    async def run(self, order: str) -> str:
        await workflow.wait_condition(lambda: self.by is not None)
        return f"{order} approved by {self.by}"

    @workflow.signal
    def approve(self, by: str) -> None:
        self.by = by

    @workflow.update
    async def note(self, text: str) -> str:
        if not text:
            raise ApplicationError("a note needs text", type="EmptyNote")
        return f"noted: {text}"

    @workflow.query
    def status(self) -> str:
        return f"approved by {self.by}" if self.by else "waiting for approval"


@workflow.defn
class Retrying:
    """Its activity fails and waits a minute before the next attempt: a pending activity that
    is backing off, with a last failure and heartbeat details."""

    @workflow.run
    async def run(self, order: str) -> str:
        return await workflow.execute_activity(
            flaky, order, start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(initial_interval=timedelta(minutes=1)))


@workflow.defn
class Family:
    """Runs a child (a Greet), then continues as new once: links both ways on each page."""

    @workflow.run
    async def run(self, round: int) -> str:
        if round == 1:
            await workflow.execute_child_workflow(Greet.run, {"name": "child"},
                                                  id=f"{workflow.info().workflow_id}-child")
            workflow.continue_as_new(2)
        return f"round {round}"


@workflow.defn
class Counter:
    """A count that signals add to: its state differs after each signal (the state at an
    event), and it waits (where it waits) until `finish`."""

    def __init__(self) -> None:
        self.count = 0
        self.done = False

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self.done)
        return self.count

    @workflow.signal
    def add(self, n: int) -> None:
        self.count += n

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.query
    def value(self) -> int:
        return self.count


WORKFLOWS = [Greet, Charge, Approval, Retrying, Family, Counter]
ACTIVITIES = [greet, charge, flaky]
