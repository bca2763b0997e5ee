"""Batch jobs as stored: one row per job holding what it does (its spec: the list filter,
reason, signal, reset options, rate), where it is (state, counters, the cursor of the last
run it acted on) and ``next_run_at``, the wall time its next page may be taken. What a page
does is the server's (:mod:`plait.server.batches`).

The runs a job acts on are read page by page with :meth:`Txn.list_executions`, the list's own
query, after the cursor: the order is ``(start_time, workflow_id, run_id)`` descending, so a
run that closes or appears meanwhile never shifts a page, and a restart resumes right after
the last run whose action was committed (with the cursor, in one transaction).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import msgspec

from plait.protocol.batches import ResetOptions
from plait.protocol.common import Header, Payload, SearchAttributes
from plait.store.search_index import ListFilter
from plait.store.statements import Params, Statements

__all__ = ["BatchCursor", "BatchJob", "BatchSpec", "BatchStatements"]

BatchCursor = tuple[float, str, str]
"""The ``(start_time, workflow_id, run_id)`` of the last run a job acted on."""


class _Filter(msgspec.Struct, kw_only=True, omit_defaults=True):
    workflow_type: str | None = None
    status: str | None = None
    search_attributes: SearchAttributes = {}
    started_after: float | None = None
    started_before: float | None = None


class BatchSpec(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What a job does, fixed when it starts (the ``spec`` column, JSON)."""

    filter: _Filter
    reason: str = ""
    signal_name: str | None = None
    signal_input: list[Payload] = []
    header: Header | None = None
    reset: ResetOptions | None = None
    """Opaque here: the reset operation reads it."""
    rate: float
    """Runs acted on per second at most."""
    identity: str = ""


@dataclasses.dataclass
class BatchJob:
    namespace: str
    batch_id: str
    operation: str
    filter: ListFilter
    """The runs it acts on: the caller's filter, bounded by the job's start time."""
    rate: float
    created_at: float
    reason: str = ""
    signal_name: str | None = None
    signal_input: list[Payload] = dataclasses.field(default_factory=list)
    header: Header | None = None
    reset: ResetOptions | None = None
    identity: str = ""
    state: str = "running"
    total: int = 0
    done: int = 0
    failed: int = 0
    cursor: BatchCursor | None = None
    last_error: str | None = None
    closed_at: float | None = None
    next_run_at: float | None = None


_spec = msgspec.json.Decoder(BatchSpec)
_cursor = msgspec.json.Decoder(tuple[float, str, str])
_encode = msgspec.json.Encoder()
_COLUMNS = (
    "batch_id, operation, state, spec, total, done, failed, cursor, last_error, "
    "created_at, closed_at, next_run_at"
)


def _job(ns: str, r: Sequence[Any]) -> BatchJob:
    spec = _spec.decode(r[3])
    f = spec.filter
    return BatchJob(
        namespace=ns,
        batch_id=r[0],
        operation=r[1],
        state=r[2],
        filter=ListFilter(
            workflow_type=f.workflow_type,
            status=f.status,
            search_attributes=f.search_attributes,
            started_after=f.started_after,
            started_before=f.started_before,
        ),
        rate=spec.rate,
        reason=spec.reason,
        signal_name=spec.signal_name,
        signal_input=spec.signal_input,
        header=spec.header,
        reset=spec.reset,
        identity=spec.identity,
        total=int(r[4]),
        done=int(r[5]),
        failed=int(r[6]),
        cursor=_cursor.decode(r[7]) if r[7] else None,
        last_error=r[8],
        created_at=float(r[9]),
        closed_at=None if r[10] is None else float(r[10]),
        next_run_at=None if r[11] is None else float(r[11]),
    )


def _spec_of(job: BatchJob) -> str:
    f = job.filter
    spec = BatchSpec(
        filter=_Filter(
            workflow_type=f.workflow_type,
            status=f.status,
            search_attributes=dict(f.search_attributes),
            started_after=f.started_after,
            started_before=f.started_before,
        ),
        reason=job.reason,
        signal_name=job.signal_name,
        signal_input=job.signal_input,
        header=job.header,
        reset=job.reset,
        rate=job.rate,
        identity=job.identity,
    )
    return _encode.encode(spec).decode()


class BatchStatements(Statements):
    def _progress(self, job: BatchJob) -> Params:
        return {
            "ns": job.namespace,
            "bid": job.batch_id,
            "state": job.state,
            "total": job.total,
            "done": job.done,
            "failed": job.failed,
            "cursor": _encode.encode(job.cursor).decode() if job.cursor else None,
            "last_error": job.last_error,
            "closed_at": job.closed_at,
            "next_run_at": job.next_run_at,
        }

    def insert_batch(self, job: BatchJob) -> bool:
        """Store a new job; False when its id is taken (nothing changes then)."""
        inserted: bool = (
            self._exec(
                "insert_batch",
                operation=job.operation,
                spec=_spec_of(job),
                created_at=job.created_at,
                **self._progress(job),
            ).rowcount
            == 1
        )
        return inserted

    def get_batch(self, ns: str, batch_id: str, *, lock: bool = False) -> BatchJob | None:
        """A job; with ``lock``, locked for the rest of the transaction where the backend can
        (PostgreSQL), so a page and a cancel, or two servers' pages, never overlap."""
        r = self._one("get_batch_for_update" if lock else "get_batch", ns=ns, bid=batch_id)
        return _job(ns, r) if r else None

    def save_batch(self, job: BatchJob) -> None:
        """Write a job's progress: state, counters, cursor, close time, next page time (its
        spec never changes)."""
        self._exec("update_batch", **self._progress(job))

    def list_batches(
        self, ns: str, after: tuple[float, str] | None = None, limit: int = 100
    ) -> list[BatchJob]:
        """Jobs newest first, after the ``(created_at, batch_id)`` of the previous page's
        last one."""
        if after is None:
            rows = self._all("list_batches", ns=ns, limit=limit)
        else:
            rows = self._all("list_batches_after", ns=ns, a_t=after[0], a_id=after[1], limit=limit)
        return [_job(ns, r) for r in rows]

    def claim_due_batches(self, now: float, limit: int) -> list[tuple[str, str]]:
        """(namespace, batch id) of running jobs whose next page is due at ``now`` (wall
        time) that this transaction may take; a shared database hands each to one
        transaction (locked, SKIP LOCKED), so one server runs a job's page at a time."""
        return [(r[0], r[1]) for r in self._all("due_batches", now=now, limit=limit)]

    def next_batch_run(self) -> float | None:
        """When some running job's next page is due (wall time)."""
        value = self._scalar("next_batch_run")
        return None if value is None else float(value)

    def delete_expired_batches(self, now: float) -> int:
        """Forget jobs closed longer ago than their namespace's retention (durable time, as
        runs are); how many."""
        deleted: int = self._exec("delete_expired_batches", now=now).rowcount
        return deleted
