"""What this server knows of worker session leases, kept in memory.

With a shared database (PostgreSQL, several servers) the database's ``expires_at`` is the
lease: any server may renew it, and each looks for expired sessions there. With a database of
its own (SQLite: one server per file) this server sees every heartbeat, so the lease in memory
is the authority, and the database's copy only has to stay ahead of it: a renewal writes it
``HORIZON`` expiries ahead, and the heartbeats in between (an idle worker's every two
seconds) cost no statement at all. Sessions are judged expired by their lease in memory.
After a restart every session gets one expiry from the start (``Service.start``), so the
far-ahead copy in the database never delays judging a worker that died meanwhile.
"""

from __future__ import annotations

__all__ = ["HORIZON", "Leases"]

HORIZON = 6.0
"""Expiries ahead that a database of its own holds each lease (see the module docstring)."""


class Leases:
    def __init__(self, expiry: float, *, own_database: bool) -> None:
        self.expiry = expiry
        self.own_database = own_database
        self.until: dict[str, float] = {}
        """Wall-clock end of each lease this server granted or renewed."""
        self.written: dict[str, float] = {}
        """The ``expires_at`` this server last wrote to the database for each session."""
        self.shortening: set[str] = set()
        """Sessions whose watch dropped and whose shortened lease is not yet committed: a
        renewal must queue behind that write, or the shortening would undo it."""

    @property
    def ahead(self) -> float:
        """How far ahead of now a renewal writes a lease to the database."""
        return self.expiry * HORIZON if self.own_database else self.expiry

    def renew_in_memory(self, session: str, wall: float) -> bool:
        """Renew without touching the database when it is this server's own and its copy of
        the lease still covers the renewed one; False: the renewal must be written."""
        if not self.own_database or session not in self.until or session in self.shortening:
            return False
        if self.written.get(session, 0.0) < wall + self.expiry:
            return False
        self.until[session] = wall + self.expiry
        return True

    def update(self, until: dict[str, float | None], written: dict[str, float]) -> None:
        """A committed change set these leases (None: the session ended)."""
        for session, end in until.items():
            if end is None:
                self.until.pop(session, None)
                self.written.pop(session, None)
            else:
                self.until[session] = end
        for session, at in written.items():
            if session in self.until:
                self.written[session] = at

    def due(self, wall: float) -> list[str]:
        return [s for s, end in self.until.items() if end <= wall]

    def earliest(self) -> float | None:
        return min(self.until.values()) if self.until else None

    def forget_due(self, wall: float) -> None:
        """After an expiry check: leases that ended are gone (expired now, or, with a shared
        database, renewed on another server; the next check reads the database again)."""
        for session in self.due(wall):
            self.until.pop(session, None)
            self.written.pop(session, None)
