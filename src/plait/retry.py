"""RetryPolicy: how the server retries a failed activity attempt (or workflow run)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from plait.protocol.common import RetryPolicy as WirePolicy

__all__ = ["RetryPolicy"]


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff, bounded by attempts and by the activity's timeouts."""

    initial_interval: timedelta = timedelta(seconds=1)
    """Delay before the second attempt."""
    backoff_coefficient: float = 2.0
    """Each further delay is the previous one times this."""
    maximum_interval: timedelta | None = None
    """Cap on the delay; None means 100 x ``initial_interval``."""
    maximum_attempts: int = 0
    """Attempts in all, the first included; 0 means unlimited."""
    non_retryable_error_types: Sequence[str] = ()
    """Failure types (``ApplicationError.type`` or class names) that are never retried."""

    def __post_init__(self) -> None:
        if self.backoff_coefficient < 1:
            raise ValueError("backoff_coefficient must be at least 1")
        if self.maximum_attempts < 0:
            raise ValueError("maximum_attempts must be 0 (unlimited) or more")
        if self.initial_interval <= timedelta(0):
            raise ValueError("initial_interval must be positive")

    def to_dict(self) -> dict[str, Any]:
        return {
            "initial_interval": self.initial_interval.total_seconds(),
            "backoff_coefficient": self.backoff_coefficient,
            "maximum_interval": (
                self.maximum_interval.total_seconds() if self.maximum_interval else None
            ),
            "maximum_attempts": self.maximum_attempts,
            "non_retryable_error_types": list(self.non_retryable_error_types),
        }

    @staticmethod
    def from_dict(d: dict[str, Any] | None) -> RetryPolicy:
        if not d:
            return RetryPolicy()
        mi = d.get("maximum_interval")
        return RetryPolicy(
            initial_interval=timedelta(seconds=d.get("initial_interval", 1.0)),
            backoff_coefficient=d.get("backoff_coefficient", 2.0),
            maximum_interval=timedelta(seconds=mi) if mi else None,
            maximum_attempts=d.get("maximum_attempts", 0),
            non_retryable_error_types=tuple(d.get("non_retryable_error_types") or ()),
        )

    @staticmethod
    def from_wire(p: WirePolicy | None) -> RetryPolicy:
        """The policy a message carried (absent fields take their defaults)."""
        if p is None:
            return RetryPolicy()
        return RetryPolicy(
            initial_interval=timedelta(seconds=p.initial_interval or 1.0),
            backoff_coefficient=2.0 if p.backoff_coefficient is None else p.backoff_coefficient,
            maximum_interval=timedelta(seconds=p.maximum_interval) if p.maximum_interval
            else None,
            maximum_attempts=p.maximum_attempts or 0,
            non_retryable_error_types=tuple(p.non_retryable_error_types or ()),
        )

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        initial = self.initial_interval.total_seconds()
        cap = (
            self.maximum_interval.total_seconds() if self.maximum_interval else initial * 100
        )
        return float(min(cap, initial * self.backoff_coefficient ** (attempt - 1)))

    def allows_another(self, attempt: int, failure_type: str, non_retryable: bool) -> bool:
        """Whether a failure of attempt ``attempt`` may be retried (timeouts aside)."""
        if non_retryable or failure_type in self.non_retryable_error_types:
            return False
        return self.maximum_attempts == 0 or attempt < self.maximum_attempts
