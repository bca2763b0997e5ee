"""Rate limits: per task queue and activity type (or every type), optionally per key."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, Struct

from plait.protocol.common import Name

__all__ = ["Deleted", "RateLimit", "RateLimits"]


class RateLimit(Struct, kw_only=True):
    """A token bucket the store enforces when it dispatches activity attempts."""

    task_queue: Name
    activity_type: Name | None = None
    """One activity type, or null for every type without a limit of its own."""
    per_second: Annotated[float, Meta(gt=0)]
    """Tokens added per second."""
    burst: Annotated[float, Meta(gt=0)] = 1.0
    """The bucket's size: how many attempts may start at once after a quiet spell."""
    per_key: bool = False
    """A bucket per `rate_limit_key` given to `execute_activity`, rather than one in all."""


class RateLimits(Struct, kw_only=True):
    """Every limit of the namespace."""

    rate_limits: list[RateLimit]


class Deleted(Struct, kw_only=True):
    """Whether something was deleted."""

    deleted: bool
