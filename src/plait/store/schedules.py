"""Schedules as stored: one row per schedule holding its definition (what to start and when),
its state (what it has done, what is running, what waits) and ``next_fire_at``, the durable
time the timer service looks at it next. What a due time does is the server's
(:mod:`plait.server.schedules`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import msgspec

from plait.protocol.schedules import ScheduleAction, ScheduleDefinition
from plait.store.statements import Params, Statements

__all__ = ["ScheduleRow", "ScheduleState", "ScheduleStatements"]


class ScheduleState(msgspec.Struct, kw_only=True):
    """What a schedule has done and what it owes."""

    next_due: float | None = None
    """The next scheduled time (before jitter); None when the spec has no more."""
    num_actions: int = 0
    num_skipped: int = 0
    remaining: int | None = None
    """Scheduled starts left under ``limited_actions`` (None: unlimited)."""
    recent: list[ScheduleAction] = []
    """The last starts, newest last."""
    running: list[ScheduleAction] = []
    """Started runs not yet seen closed: the overlap policies look at these."""
    buffered: list[float] = []
    """Due times waiting for the running runs to close (buffer and cancel policies)."""


@dataclasses.dataclass
class ScheduleRow:
    namespace: str
    schedule_id: str
    definition: ScheduleDefinition
    state: ScheduleState
    next_fire_at: float | None


_definition = msgspec.json.Decoder(ScheduleDefinition)
_state = msgspec.json.Decoder(ScheduleState)
_encode = msgspec.json.Encoder()


def _row(ns: str, r: Sequence[Any]) -> ScheduleRow:
    return ScheduleRow(ns, r[0], _definition.decode(r[1]), _state.decode(r[2]),
                       None if r[3] is None else float(r[3]))


class ScheduleStatements(Statements):
    def _params(self, row: ScheduleRow) -> Params:
        return {"ns": row.namespace, "sid": row.schedule_id,
                "definition": _encode.encode(row.definition).decode(),
                "state": _encode.encode(row.state).decode(), "next_fire_at": row.next_fire_at}

    def insert_schedule(self, row: ScheduleRow) -> bool:
        """Store a new schedule; False when the id is taken (nothing changes then)."""
        inserted: bool = self._exec("insert_schedule", **self._params(row)).rowcount == 1
        return inserted

    def get_schedule(self, ns: str, schedule_id: str, *, lock: bool = False) -> ScheduleRow | None:
        """A schedule; with ``lock``, locked for the rest of the transaction where the backend
        can (PostgreSQL), so two servers never change one schedule at once."""
        r = self._one("get_schedule_for_update" if lock else "get_schedule", ns=ns,
                      sid=schedule_id)
        return _row(ns, r) if r else None

    def save_schedule(self, row: ScheduleRow) -> None:
        self._exec("update_schedule", **self._params(row))

    def set_schedule_fire_at(self, ns: str, schedule_id: str, at: float | None) -> None:
        """Move only the schedule's next look (after a look that failed)."""
        self._exec("set_schedule_fire_at", ns=ns, sid=schedule_id, at=at)

    def hasten_schedule(self, ns: str, schedule_id: str, at: float) -> bool:
        """Bring the schedule's next look forward to ``at`` if it was later (a run it started
        closed: what waited behind it may start); whether it moved."""
        moved: bool = self._exec("hasten_schedule", ns=ns, sid=schedule_id, at=at).rowcount == 1
        return moved

    def delete_schedule(self, ns: str, schedule_id: str) -> bool:
        deleted: bool = self._exec("delete_schedule", ns=ns, sid=schedule_id).rowcount == 1
        return deleted

    def list_schedules(self, ns: str, after: str = "", limit: int = 1000) -> list[ScheduleRow]:
        """Schedules in id order after ``after`` (a page)."""
        return [_row(ns, r) for r in self._all("list_schedules", ns=ns, after=after,
                                               limit=limit)]

    def claim_due_schedules(self, now: float, limit: int) -> list[tuple[str, str]]:
        """(namespace, schedule id) of schedules due at ``now`` that this transaction may
        fire; a shared database hands each to one transaction (locked, SKIP LOCKED)."""
        return [(r[0], r[1]) for r in self._all("due_schedules", now=now, limit=limit)]

    def next_schedule_fire(self) -> float | None:
        """When the timer service must look at some schedule next."""
        value = self._scalar("next_schedule_fire")
        return None if value is None else float(value)
