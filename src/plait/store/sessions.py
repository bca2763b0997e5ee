"""Worker sessions as stored: one row per session with its lease's expiry.

What a lease *means* (expiry, re-dispatch of a dead worker's tasks) is the server's
(:mod:`plait.server.sessions`); this is the table.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from plait.store.statements import Statements

__all__ = ["SessionInfo", "SessionRow", "SessionStatements", "session_row"]


class SessionInfo(msgspec.Struct, frozen=True):
    """What a worker's session serves, as it said when it opened; it never changes."""

    task_queue: str
    identity: str
    workflow_types: list[str] = msgspec.field(default_factory=list)
    activity_types: list[str] = msgspec.field(default_factory=list)
    """Eager dispatch hands the session only activities of these types."""


INFO = msgspec.json.Decoder(SessionInfo)
_ENCODER = msgspec.json.Encoder()


@dataclasses.dataclass(frozen=True)
class SessionRow:
    session_id: str
    namespace: str
    task_queue: str
    identity: str
    info: SessionInfo
    expires_at: float


def session_row(r: Sequence[Any] | None) -> SessionRow | None:
    """A ``get_session`` row (None: no such session)."""
    if r is None:
        return None
    return SessionRow(r[0], r[1], r[2], r[3], INFO.decode(r[4]), float(r[5]))


class SessionStatements(Statements):
    def upsert_session(self, session: str, ns: str, task_queue: str, identity: str,
                       info: SessionInfo, expires_at: float) -> None:
        self._exec("upsert_session", session=session, ns=ns, task_queue=task_queue,
                   identity=identity, info=_ENCODER.encode(info).decode(),
                   expires_at=expires_at)

    def get_session(self, session: str) -> SessionRow | None:
        return session_row(self._one("get_session", session=session))

    def get_session_later(self, session: str) -> Callable[[], SessionRow | None]:
        """:meth:`get_session`, read when the function returned is called. A backend that
        sends statements ahead (PostgreSQL's pipeline) sends the read now, so a claim's
        check of its session shares the claim's round trip; here it is read at once."""
        row = self.get_session(session)
        return lambda: row

    def renew_session(self, session: str, expires_at: float) -> bool:
        """Move the lease's expiry; False when the session does not exist."""
        return int(self._exec("renew_session", session=session,
                              expires_at=expires_at).rowcount) == 1

    def shorten_session(self, session: str, expires_at: float) -> None:
        """Bring the expiry forward to ``expires_at`` (never later than it was)."""
        self._exec("shorten_session", session=session, expires_at=expires_at)

    def delete_session(self, session: str) -> None:
        self._exec("delete_session", session=session)

    def clear_sticky(self, session: str) -> set[tuple[str, str, str]]:
        """Release the tasks kept for the session's cache; the (namespace, task queue, kind)
        of each, whose pollers should wake."""
        return {(r[0], r[1], r[2]) for r in self._all("clear_sticky", session=session)}

    def expired_sessions(self, now: float) -> list[str]:
        return [r[0] for r in self._all("expired_sessions", now=now)]

    def extend_all_sessions(self, expires_at: float) -> None:
        """Every lease expires no earlier than ``expires_at``."""
        self._exec("extend_all_sessions", expires_at=expires_at)

    def reset_session_leases(self, expires_at: float) -> list[str]:
        """Every lease expires exactly at ``expires_at``; the sessions."""
        return [r[0] for r in self._all("reset_session_leases", expires_at=expires_at)]

    def next_session_expiry(self) -> float | None:
        value = self._scalar("next_session_expiry")
        return None if value is None else float(value)
