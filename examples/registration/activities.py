"""The activities: one call each to the (simulated) registry.

Every activity here is idempotent, because plait runs activities *at least once*: an attempt
whose worker died, or whose response the registry lost (504), is run again. Each call is
keyed by something the caller chose - the brand's and the campaign's own reference, the phone
number - and the registry answers a repeated key with the record it already made, so a retry
never registers a second brand, campaign or assignment.

The undoing activities (the workflow's compensations) are idempotent the same way: each
removes a record by the same key, and removing a record that is not there is a no-op.

Retrying is plait's job, not the activity's: an activity just raises, and the workflow's
RetryPolicy says how often and how long to try again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from downstream import FakeRegistry

from plait import activity

__all__ = ["Brand", "Campaign", "RegistryActivities", "escalate_approval"]


@dataclasses.dataclass(frozen=True)
class Brand:
    ref: str
    """Our own reference for the business; the registry's idempotency key for it."""
    legal_name: str
    ein: str
    """US employer identification number, 12-3456789."""
    website: str


@dataclasses.dataclass(frozen=True)
class Campaign:
    ref: str
    """Our own reference for the campaign; the registry's idempotency key for it."""
    use_case: str
    description: str
    sample_messages: list[str]


class RegistryActivities:
    """Activities sharing one registry client (a connection pool, in real life)."""

    def __init__(self, registry: FakeRegistry) -> None:
        self.registry = registry

    @activity.defn
    async def register_brand(self, brand: Brand) -> str:
        """The brand id. Idempotent: keyed by ``brand.ref``."""
        activity.logger.info("registering brand %s (attempt %d)", brand.ref,
                             activity.info().attempt)
        return await self.registry.register_brand(brand.ref, brand.legal_name, brand.ein,
                                                  brand.website)

    @activity.defn
    async def register_campaign(self, brand_id: str, campaign: Campaign) -> str:
        """The campaign id. Idempotent: keyed by ``campaign.ref``."""
        activity.logger.info("registering campaign %s for %s (attempt %d)", campaign.ref,
                             brand_id, activity.info().attempt)
        return await self.registry.register_campaign(
            brand_id, campaign.ref, campaign.use_case, campaign.description,
            campaign.sample_messages)

    @activity.defn
    async def campaign_status(self, campaign_id: str) -> str:
        """PENDING or APPROVED. A read, so trivially idempotent."""
        return await self.registry.campaign_status(campaign_id)

    @activity.defn
    async def assign_number(self, campaign_id: str, number: str) -> str:
        """The assignment id. Idempotent: keyed by the phone number."""
        activity.logger.info("assigning %s to %s (attempt %d)", number, campaign_id,
                             activity.info().attempt)
        return await self.registry.assign_number(campaign_id, number)

    # -- compensations: undo the above, in reverse order -------------------------------------
    @activity.defn
    async def release_number(self, campaign_id: str, number: str) -> None:
        """Take the number off the campaign. Idempotent."""
        activity.logger.info("releasing %s from %s (attempt %d)", number, campaign_id,
                             activity.info().attempt)
        await self.registry.release_number(campaign_id, number)

    @activity.defn
    async def deregister_campaign(self, campaign_ref: str) -> None:
        """Remove the campaign registered as ``campaign_ref``. Idempotent."""
        activity.logger.info("deregistering campaign %s (attempt %d)", campaign_ref,
                             activity.info().attempt)
        await self.registry.deregister_campaign(campaign_ref)

    @activity.defn
    async def deregister_brand(self, brand_ref: str) -> None:
        """Remove the brand registered as ``brand_ref``. Idempotent."""
        activity.logger.info("deregistering brand %s (attempt %d)", brand_ref,
                             activity.info().attempt)
        await self.registry.deregister_brand(brand_ref)

    def all(self) -> list[Callable[..., Any]]:
        """Every activity, for ``Worker(activities=...)``."""
        return [self.register_brand, self.register_campaign, self.campaign_status,
                self.assign_number, self.release_number, self.deregister_campaign,
                self.deregister_brand, escalate_approval]


@activity.defn
async def escalate_approval(workflow_id: str, brand_ref: str, waited_seconds: float) -> None:
    """Tell the compliance team's lead that a campaign has waited too long for approval.

    Here a log line; in real life a page or an e-mail, sent with the workflow id as its
    deduplication key, so a retried escalation does not page twice.
    """
    activity.logger.warning("ESCALATED: %s (brand %s) has waited %.0fs for compliance "
                            "approval", workflow_id, brand_ref, waited_seconds)
