"""What this server remembers of worker sessions between transactions.

Per session: how many tasks were leased to it so far, that count when a heartbeat last found
it holding nothing (so the next heartbeat of an idle worker skips reconciling), and what it
serves (its queue and types, which never change). Transactions only read it; what they
learned reaches it through their :class:`~plait.server.effects.Effects`, applied once the
transaction is durable, so a transaction that rolls back leaves no trace here.
"""

from __future__ import annotations

from plait.server.deliveries import Deliveries
from plait.server.effects import Effects
from plait.store.sessions import SessionInfo

__all__ = ["SessionLedger"]

INFO_CACHE_SIZE = 4096


class SessionLedger:
    def __init__(self) -> None:
        self._dispatched: dict[str, int] = {}
        self._checked: dict[str, int] = {}
        self._info: dict[str, SessionInfo] = {}
        self.deliveries = Deliveries()
        """Tasks claimed by this server and when it answered them (not per session: by
        token). Noted during transactions too, which is safe because it only ever holds a
        re-offer back (see its module)."""

    def dispatched(self, session: str) -> int:
        """Tasks leased to ``session`` in committed transactions."""
        return self._dispatched.get(session, 0)

    def holds_nothing(self, session: str) -> bool:
        """The last reconciliation found nothing leased to ``session``, and nothing was leased
        to it since: a heartbeat listing no tasks has nothing to reconcile. A count read while
        another transaction is in flight is at most behind, which only costs a check."""
        return session in self._checked and self._checked[session] == self.dispatched(session)

    def info(self, session: str) -> SessionInfo | None:
        return self._info.get(session)

    def apply(self, effects: Effects) -> None:
        for session, n in effects.dispatched.items():
            self._dispatched[session] = self._dispatched.get(session, 0) + n
        self._checked.update(effects.checked)
        for session, info in effects.session_infos.items():
            if len(self._info) >= INFO_CACHE_SIZE:
                self._info.pop(next(iter(self._info)))
            self._info[session] = info
        for session in effects.forgotten:
            self._dispatched.pop(session, None)
            self._checked.pop(session, None)
            self._info.pop(session, None)
