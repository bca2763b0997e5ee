"""Tasks on their way to a worker: claimed in a transaction, answered once it commits.

This is the rule by time, for tasks claimed without a request number (a worker that does not
number its requests; the rule by number is exact, :mod:`plait.server.sessions`). A heartbeat
that does not list such a task offers it again as never delivered once
``sessions.UNACKED_GRACE`` has passed. The grace used to count from the
task's ``dispatched_at``, which is written when the claim's statement runs, while the answer
leaves only after COMMIT. A transaction that took longer than the grace (a slow fsync, a
batch queued behind a heavy change, a group of changes sharing one commit) let the worker's
next heartbeat, which listed what it held before the answer came, count the task as lost:
the attempt was offered again while the first copy ran, and ran twice.

So this server notes the tokens it claims (in the claim's transaction, on the store's thread)
and when it answered them (once the transaction is durable, on the event loop), and the grace
counts from the answer. A token claimed and not yet answered is on its way and never counts
as lost. The notes are hints that can only delay a re-offer, never cause one: a claim whose
transaction rolled back is forgotten, and every note expires after :data:`KEEP` seconds.

The notes are this server's own. A worker whose heartbeats reach another server than the one
that answered its poll (several servers behind one address) is judged from ``dispatched_at``
as before. What is left is still a judgement by time: a server whose event loop lags stamps a
heartbeat late (when its handler starts), so a worker that listed its tasks before a late
answer reached it can still look as if it lost it. The worker re-confirms an attempt after its
own loop stalled (:mod:`plait._worker.lease`); numbered requests close it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import TypeVar

__all__ = ["KEEP", "Deliveries"]

V = TypeVar("V")

KEEP = 60.0
"""Seconds a note is kept: far beyond any commit, and beyond it the grace has passed anyway."""
EXPIRE_EVERY = 1.0
"""How often old notes are dropped (a claim is noted a few times per workflow: looking at
the oldest note every time cost more than the rest of the note)."""


class Deliveries:
    """Per task token: when this server claimed it (monotonic) until it answered, then when it
    answered (durable time, the clock ``dispatched_at`` is in)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # claims are noted on the store's thread
        self._claimed: dict[str, float] = {}
        self._answered: dict[str, tuple[float, float]] = {}
        """token -> (answered at, durable; noted at, monotonic)."""
        self._expire_at = 0.0

    def claimed(self, tokens: Iterable[str]) -> None:
        """In the claim's transaction: these tokens' answers wait for its commit."""
        at = time.monotonic()
        with self._lock:
            for token in tokens:
                self._claimed[token] = at
            if at >= self._expire_at:
                self._expire(at)

    def answered(self, tokens: Iterable[str], now: float) -> None:
        """The claim's transaction is durable: the answers leave now (``now``: durable)."""
        at = time.monotonic()
        with self._lock:
            for token in tokens:
                self._claimed.pop(token, None)
                self._answered[token] = (now, at)
            if at >= self._expire_at:
                self._expire(at)

    def dropped(self, tokens: Iterable[str]) -> None:
        """The claim's transaction rolled back, or no one will answer it."""
        with self._lock:
            for token in tokens:
                self._claimed.pop(token, None)

    def _expire(self, at: float) -> None:
        """Drop the notes older than :data:`KEEP` (holding the lock)."""
        self._expire_at = at + EXPIRE_EVERY
        _drop_older(self._claimed, at - KEEP, lambda v: v)
        _drop_older(self._answered, at - KEEP, lambda v: v[1])

    def grace_from(self, token: str, dispatched_at: float) -> float | None:
        """When the grace of ``token`` starts (durable time): when this server answered it,
        else ``dispatched_at``; None while its answer waits for a commit."""
        with self._lock:
            claimed = self._claimed.get(token)
            if claimed is not None and time.monotonic() - claimed < KEEP:
                return None
            answered = self._answered.get(token)
        return max(dispatched_at, answered[0]) if answered is not None else dispatched_at


def _drop_older(notes: dict[str, V], before: float, noted: Callable[[V], float]) -> None:
    """Drop the notes made before ``before`` (monotonic; ``noted`` reads it off a note). Notes
    go in in time order, so only the front of the dict needs looking at."""
    while notes:
        token, value = next(iter(notes.items()))
        if noted(value) >= before:
            return
        del notes[token]
