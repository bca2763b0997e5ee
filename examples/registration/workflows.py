"""The registration workflow: a brand, then a campaign for it, then each phone number on it.

Written as the straight-line code a person would write first - and it is durable: if the
worker dies after the brand is registered, a new worker carries on with the campaign; the
brand is not registered again. Waiting for the campaign's vetting is a durable timer, so a
registration can wait for days without holding a process.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from activities import Brand, Campaign, RegistryActivities

from plait import RetryPolicy, workflow
from plait.errors import ActivityError, ApplicationError

__all__ = ["TASK_QUEUE", "RegistrationRequest", "RegistrationResult", "SmsRegistration"]

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


@dataclasses.dataclass(frozen=True)
class RegistrationResult:
    brand_id: str
    campaign_id: str
    assigned: dict[str, str]
    """Phone number -> the registry's assignment id."""
    rejected: dict[str, str]
    """Phone number -> why the registry refused it (bad numbers do not sink the rest)."""


async def registry_call(fn: Callable[..., Any], *args: Any) -> Any:
    """Run one registry activity with the timeouts and retries above."""
    return await workflow.execute_activity(
        fn, *args, start_to_close_timeout=CALL_TIMEOUT,
        schedule_to_close_timeout=GIVE_UP_AFTER, retry_policy=REGISTRY_RETRY)


@workflow.defn
class SmsRegistration:
    @workflow.run
    async def run(self, req: RegistrationRequest) -> RegistrationResult:
        brand_id = await registry_call(RegistryActivities.register_brand, req.brand)
        workflow.logger.info("brand %s registered as %s", req.brand.ref, brand_id)
        campaign_id = await registry_call(RegistryActivities.register_campaign, brand_id,
                                          req.campaign)
        while await registry_call(RegistryActivities.campaign_status, campaign_id) != "APPROVED":
            await workflow.sleep(req.vetting_poll_seconds)
        workflow.logger.info("campaign %s approved; assigning %d numbers", campaign_id,
                             len(req.phone_numbers))
        outcomes = await asyncio.gather(*(self.assign(campaign_id, n)
                                          for n in req.phone_numbers))
        return RegistrationResult(
            brand_id, campaign_id,
            assigned={n: a for n, a, _ in outcomes if a is not None},
            rejected={n: why for n, _, why in outcomes if why is not None})

    async def assign(self, campaign_id: str, number: str) -> tuple[str, str | None, str | None]:
        """``(number, assignment id, None)``, or ``(number, None, why)`` if it was refused."""
        try:
            assignment = await registry_call(RegistryActivities.assign_number, campaign_id,
                                             number)
        except ActivityError as e:
            if isinstance(e.cause, ApplicationError) and e.cause.type == "ValidationError":
                return number, None, e.cause.message
            raise
        return number, assignment, None
