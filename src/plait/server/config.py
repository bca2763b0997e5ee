"""A server's settings: how long a worker's lease lasts, the payload limit, retention."""

from __future__ import annotations

__all__ = ["ServiceConfig"]


class ServiceConfig:
    def __init__(self, *, session_expiry: float = 5.0, max_payload: int = 2 * 1024 * 1024,
                 retention_seconds: float = 7 * 86400.0, watch_grace: float = 0.25,
                 time_skipping: bool = False) -> None:
        self.session_expiry = session_expiry
        self.watch_grace = watch_grace
        """How long a worker whose watch dropped has to re-open it before it counts as dead."""
        self.max_payload = max_payload
        self.retention_seconds = retention_seconds
        self.time_skipping = time_skipping
        """Tests: jump durable time to the next timer when idle (:mod:`plait.server.skipping`).
        One server per database: the skipped offset lives in this process."""
