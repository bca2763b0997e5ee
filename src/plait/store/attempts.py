"""The attempt log: one row per activity attempt that ended (or was handed over for
completion from outside), kept beside the history, which holds only the final outcome."""

from __future__ import annotations

import dataclasses

from plait.protocol.failure import Failure
from plait.protocol.jsoncodec import loads
from plait.store.statements import Statements

__all__ = ["AttemptRow", "AttemptStatements"]


@dataclasses.dataclass(frozen=True)
class AttemptRow:
    activity_id: str
    attempt: int
    activity_type: str
    started_at: float
    ended_at: float | None
    outcome: str | None
    failure: Failure | None
    worker: str | None


class AttemptStatements(Statements):
    def open_attempt(self, ns: str, wid: str, rid: str, aid: str, attempt: int,
                     activity_type: str, started_at: float, worker: str | None) -> None:
        """An attempt that has started and will end later (one handed over to be completed
        from outside: its lease no longer names its worker, the log does)."""
        self._exec("insert_attempt", ns=ns, wid=wid, rid=rid, aid=aid, attempt=attempt,
                   activity_type=activity_type, started_at=started_at, worker=worker)

    def end_attempt(self, ns: str, wid: str, rid: str, aid: str, attempt: int,
                    activity_type: str, started_at: float, worker: str | None,
                    ended_at: float, outcome: str,
                    failure: Failure | None) -> None:
        """Record how an attempt ended (its one row, or the open one completed)."""
        self._exec("end_attempt", ns=ns, wid=wid, rid=rid, aid=aid, attempt=attempt,
                   activity_type=activity_type, started_at=started_at, worker=worker,
                   ended_at=ended_at, outcome=outcome,
                   failure=self.json(failure) if failure else None)

    def delete_attempt(self, ns: str, wid: str, rid: str, aid: str, attempt: int) -> None:
        self._exec("delete_attempt", ns=ns, wid=wid, rid=rid, aid=aid, attempt=attempt)

    def attempts_of_run(self, ns: str, wid: str, rid: str) -> list[AttemptRow]:
        return [AttemptRow(r[0], int(r[1]), r[2], r[3], r[4], r[5],
                           loads(r[6]) if r[6] else None, r[7])
                for r in self._all("attempts_of_run", ns=ns, wid=wid, rid=rid)]
