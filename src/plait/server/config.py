"""A server's settings: how long a worker's lease lasts, the payload limit, retention, and
the limits each run is held to."""

from __future__ import annotations

import dataclasses

__all__ = ["MIB", "RunLimits", "ServiceConfig"]

MIB = 1024 * 1024


@dataclasses.dataclass(frozen=True)
class RunLimits:
    """What one run may grow to (docs/operations.md "Limits"). Each is checked where the value
    is already at hand (an integer comparison), so none costs a read."""

    max_history_events: int = 50_000
    """Past this many events the run is terminated (``history_size_exceeded``)."""
    max_history_bytes: int = 50 * MIB
    """Past this many bytes of stored events the run is terminated (``history_size_exceeded``)."""
    warn_history_events: int = 10_000
    """Crossing this many events logs a warning once (where ``continue_as_new_suggested``
    turns true in the workflow)."""
    warn_history_bytes: int = 10 * MIB
    """Crossing this many bytes of stored events logs a warning once."""
    max_pending_activities: int = 2_000
    """A workflow task that would leave more activities pending fails (Temporal's
    ``PendingActivitiesLimitExceeded``)."""
    max_pending_children: int = 2_000
    """A workflow task that would leave more child workflows running fails."""
    max_signals: int = 10_000
    """Signals one run accepts; the next is refused (``limit_exceeded``) until the run
    continues as new."""

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{field.name} must be a whole number of at least 1, "
                                 f"not {value!r}")


class ServiceConfig:
    def __init__(self, *, session_expiry: float = 5.0, max_payload: int = 2 * MIB,
                 retention_seconds: float = 7 * 86400.0, watch_grace: float = 0.25,
                 time_skipping: bool = False, limits: RunLimits | None = None) -> None:
        self.session_expiry = session_expiry
        self.watch_grace = watch_grace
        """How long a worker whose watch dropped has to re-open it before it counts as dead."""
        self.max_payload = max_payload
        """The largest request body the server reads (413 ``payload_too_large`` above)."""
        self.retention_seconds = retention_seconds
        self.time_skipping = time_skipping
        """Tests: jump durable time to the next timer when idle (:mod:`plait.server.skipping`).
        One server per database: the skipped offset lives in this process."""
        self.limits = limits or RunLimits()
        """What each run may grow to."""
