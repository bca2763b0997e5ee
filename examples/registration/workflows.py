"""The registration workflow: a brand, then a campaign for it, a compliance officer's approval,
then each phone number on it.

Written as the straight-line code a person would write first - and it is durable: if the
worker dies after the brand is registered, a new worker carries on with the campaign; the
brand is not registered again. Waiting for the campaign's vetting is a durable timer, and
waiting for the compliance officer is a durable condition, so a registration can wait for days
without holding a process.

People talk to a running registration through its handlers: the ``approve`` / ``reject``
signals (the compliance officer's decision), the ``status`` query (which stage it is at and
what is registered so far), and cancellation (``plait workflow cancel ID``), which undoes what
was registered, in reverse order, before the workflow ends CANCELED. The same undoing runs when
a registration fails part-way, so a registration either completes or leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from activities import Brand, Campaign, RegistryActivities, escalate_approval

from plait import RetryPolicy, workflow
from plait.errors import ActivityError, ApplicationError

__all__ = ["TASK_QUEUE", "Decision", "RegistrationRequest", "RegistrationResult",
           "RegistrationStatus", "SmsRegistration"]

TASK_QUEUE = "registration"

# A registry call answers within a second or two; one silent for 10 s is hung, so it is cut
# off and tried again. Transient failures (503, lost 504s, 429 rate limits) are retried with
# exponential backoff capped at 30 s - gentle on a registry that is already struggling - for
# up to an hour, after which the registration fails loudly. Bad input is never retried.
CALL_TIMEOUT = timedelta(seconds=10)
GIVE_UP_AFTER = timedelta(hours=1)
REGISTRY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    non_retryable_error_types=["ValidationError"],
)


@dataclasses.dataclass(frozen=True)
class RegistrationRequest:
    brand: Brand
    campaign: Campaign
    phone_numbers: list[str]
    vetting_poll_seconds: float = 2.0
    """How often to ask whether the campaign has been vetted."""
    approval_timeout_seconds: float = 2 * 24 * 3600.0
    """How long compliance has to decide before the request is escalated; after as long
    again with no decision, the registration fails (and is undone)."""


@dataclasses.dataclass(frozen=True)
class RegistrationResult:
    brand_id: str
    campaign_id: str
    assigned: dict[str, str]
    """Phone number -> the registry's assignment id."""
    rejected: dict[str, str]
    """Phone number -> why the registry refused it (bad numbers do not sink the rest)."""


def span(t: timedelta) -> str:
    """``2 days``, ``3 hours``, ``90s``: a duration for people."""
    seconds = t.total_seconds()
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds:g}s"


@dataclasses.dataclass(frozen=True)
class Decision:
    """The compliance officer's decision on the campaign."""

    approved: bool
    officer: str
    reason: str = ""


@dataclasses.dataclass(frozen=True)
class RegistrationStatus:
    """What the ``status`` query answers."""

    stage: str
    """registering brand, registering campaign, vetting campaign, awaiting approval,
    assigning numbers, completed; undoing, then canceled or failed."""
    brand_id: str | None
    campaign_id: str | None
    assigned: dict[str, str]
    """Numbers assigned so far -> assignment id."""
    rejected: dict[str, str]
    decision: Decision | None
    escalated: bool
    """The approval took long enough to be escalated."""
    undone: list[str]
    """The compensations run so far, in the order they ran."""


async def registry_call(fn: Callable[..., Any], *args: Any) -> Any:
    """Run one registry activity with the timeouts and retries above.

    On cancellation, wait for a call that is in flight to finish rather than abandon it: it may
    be registering something right now, and the undoing must not overtake it.
    """
    return await workflow.execute_activity(
        fn, *args, start_to_close_timeout=CALL_TIMEOUT,
        schedule_to_close_timeout=GIVE_UP_AFTER, retry_policy=REGISTRY_RETRY,
        cancellation_type="wait_cancellation_completed")


def refused(e: ActivityError) -> bool:
    """The registry refused the call as invalid: it did nothing, and retrying cannot help."""
    return isinstance(e.cause, ApplicationError) and e.cause.type == "ValidationError"


@workflow.defn
class SmsRegistration:
    def __init__(self) -> None:
        self.stage = "starting"
        self.brand_id: str | None = None
        self.campaign_id: str | None = None
        self.assigned: dict[str, str] = {}
        self.rejected: dict[str, str] = {}
        self.decision: Decision | None = None
        self.escalated = False
        # The saga: how to undo each registry call, pushed *before* the call, since a call
        # may take effect even when its answer never arrives (a lost response, a cancel).
        self.undo: list[tuple[str, Callable[..., Any], tuple[Any, ...]]] = []
        self.undone: list[str] = []

    @workflow.run
    async def run(self, req: RegistrationRequest) -> RegistrationResult:
        try:
            return await self.register(req)
        except asyncio.CancelledError:
            await self.compensate()
            self.stage = "canceled"
            raise
        except (ActivityError, ApplicationError) as e:
            # Failures that end the workflow. Anything else is a bug in this code: it fails
            # only the workflow task, which is retried once the code is fixed - undoing the
            # registration then would throw away work the fixed code can finish.
            await self.compensate()
            self.stage = f"failed: {e.cause if isinstance(e, ActivityError) else e}"
            raise

    async def register(self, req: RegistrationRequest) -> RegistrationResult:
        self.stage = "registering brand"
        self.brand_id = await self.step(
            (f"deregister brand {req.brand.ref}", RegistryActivities.deregister_brand,
             (req.brand.ref,)), RegistryActivities.register_brand, req.brand)
        workflow.logger.info("brand %s registered as %s", req.brand.ref, self.brand_id)

        self.stage = "registering campaign"
        campaign_id = await self.step(
            (f"deregister campaign {req.campaign.ref}", RegistryActivities.deregister_campaign,
             (req.campaign.ref,)), RegistryActivities.register_campaign, self.brand_id,
            req.campaign)
        self.campaign_id = campaign_id

        self.stage = "vetting campaign"
        while await registry_call(RegistryActivities.campaign_status, campaign_id) != "APPROVED":
            await workflow.sleep(req.vetting_poll_seconds)

        self.stage = "awaiting approval"
        await self.wait_for_approval(req)

        self.stage = "assigning numbers"
        workflow.logger.info("campaign %s approved by %s; assigning %d numbers", campaign_id,
                             self.decision.officer if self.decision else "?",
                             len(req.phone_numbers))
        # return_exceptions: on cancellation, wait until every assignment in flight has
        # finished before undoing them (see registry_call).
        outcomes = await asyncio.gather(*(self.assign(campaign_id, n)
                                          for n in req.phone_numbers), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        self.stage = "completed"
        return RegistrationResult(
            self.brand_id, campaign_id,
            assigned={n: self.assigned[n] for n in req.phone_numbers if n in self.assigned},
            rejected={n: self.rejected[n] for n in req.phone_numbers if n in self.rejected})

    async def wait_for_approval(self, req: RegistrationRequest) -> None:
        """Until the compliance officer decides; escalate once when they take too long, then
        give up. A rejection fails the registration."""
        patience = timedelta(seconds=req.approval_timeout_seconds)
        while True:
            try:
                await workflow.wait_condition(lambda: self.decision is not None,
                                              timeout=patience)
                break
            except TimeoutError:  # the builtin (asyncio.TimeoutError), not plait.errors.
                if self.escalated:
                    raise ApplicationError(
                        f"no compliance decision within {span(2 * patience)} (escalated after "
                        f"{span(patience)})", type="ApprovalTimeout", non_retryable=True
                    ) from None
                self.escalated = True
                self.stage = "awaiting approval (escalated)"
                await workflow.execute_activity(
                    escalate_approval, workflow.info().workflow_id, req.brand.ref,
                    patience.total_seconds(), start_to_close_timeout=CALL_TIMEOUT,
                    retry_policy=REGISTRY_RETRY)
        assert self.decision is not None
        if not self.decision.approved:
            raise ApplicationError(f"campaign rejected by {self.decision.officer}: "
                                   f"{self.decision.reason}", type="CampaignRejected",
                                   non_retryable=True)

    async def assign(self, campaign_id: str, number: str) -> None:
        """Assign one number; a number the registry refuses is noted, not fatal."""
        try:
            self.assigned[number] = await self.step(
                (f"release {number}", RegistryActivities.release_number, (campaign_id, number)),
                RegistryActivities.assign_number, campaign_id, number)
        except ActivityError as e:
            if not isinstance(e.cause, ApplicationError) or not refused(e):
                raise
            self.rejected[number] = e.cause.message

    async def step(self, undo: tuple[str, Callable[..., Any], tuple[Any, ...]],
                   fn: Callable[..., Any], *args: Any) -> Any:
        """One registry call that changes something, and how to undo it."""
        self.undo.append(undo)
        try:
            return await registry_call(fn, *args)
        except ActivityError as e:
            if refused(e):  # the registry refused it: there is nothing to undo
                self.undo.remove(undo)
            raise

    async def compensate(self) -> None:
        """Undo every registry call made (or possibly made), newest first.

        If an undoing call finally fails too (the registry down for an hour), the workflow
        fails with that error; ``status`` then shows the stage "undoing" and what was undone,
        and a person finishes the job.
        """
        self.stage = "undoing"
        while self.undo:
            what, fn, args = self.undo.pop()
            await registry_call(fn, *args)
            self.undone.append(what)

    @workflow.signal
    def approve(self, officer: str) -> None:
        """The compliance officer approves the campaign (the first decision counts)."""
        if self.decision is None:
            self.decision = Decision(True, officer)

    @workflow.signal
    def reject(self, officer: str, reason: str) -> None:
        """The compliance officer rejects the campaign: the registration is undone and fails."""
        if self.decision is None:
            self.decision = Decision(False, officer, reason)

    @workflow.query
    def status(self) -> RegistrationStatus:
        return RegistrationStatus(self.stage, self.brand_id, self.campaign_id,
                                  dict(self.assigned), dict(self.rejected), self.decision,
                                  self.escalated, list(self.undone))
