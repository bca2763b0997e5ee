"""What a committed transaction asks the in-memory server to do next (wake pollers, timers)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from plait.server.answers import Dispatched
from plait.server.matching import Outcome, Parked
from plait.server.observed import Fact
from plait.store.sessions import SessionInfo

__all__ = ["Effects", "Unsettled"]


@dataclasses.dataclass
class Unsettled:
    """A hand-off sent with its transaction's COMMIT, answer unread (PostgreSQL): which of
    the tasks handed out the claim leased is known only once the transaction committed
    (:meth:`plait.store.base.Txn.claim_known_later`). Tasks it did not lease (the poll's
    session was gone) were never the poll's: the service takes them back out of the
    answer and wakes their queue (``Service._settle``)."""

    slot: int
    """The hand-off's place in :attr:`Effects.handoffs`."""
    leased: Callable[[], set[int]]
    key: tuple[str, str, str]
    session: str


@dataclasses.dataclass
class Effects:
    ready: dict[tuple[str, str, str], int] = dataclasses.field(default_factory=dict)
    """Tasks made ready per (namespace, task_queue, kind), less those handed out eagerly in
    the same change: pollers are woken only where some are left for them."""
    timer_at: float | None = None
    """Earliest timer this transaction created."""
    opened: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)
    """Runs this transaction started: a result request for one of them need not read it
    while this server sees every commit (:meth:`plait.server.matching.ResultWaiters.open`)."""
    closed: dict[tuple[str, str, str], Outcome] = dataclasses.field(
        default_factory=dict)
    """Runs this transaction closed, and how (status, result): their result waiters answer
    without reading the run again."""
    leases: dict[str, float | None] = dataclasses.field(default_factory=dict)
    """Worker sessions whose lease this transaction set (wall-clock expiry) or ended (None),
    so the server checks for expired sessions only when one may be due."""
    written: dict[str, float] = dataclasses.field(default_factory=dict)
    """The ``expires_at`` this transaction wrote for a session (``server.leases``)."""
    dispatched: dict[str, int] = dataclasses.field(default_factory=dict)
    """Tasks this transaction leased, per session (:mod:`plait.server.ledger`)."""
    checked: dict[str, int] = dataclasses.field(default_factory=dict)
    """Sessions found holding nothing, with their dispatch count as of this transaction."""
    session_infos: dict[str, SessionInfo] = dataclasses.field(default_factory=dict)
    """What sessions read in this transaction serve (never changes: cached)."""
    forgotten: set[str] = dataclasses.field(default_factory=set)
    """Sessions this transaction ended."""
    schedule_actions: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    """(namespace, outcome) of each schedule due time decided (counted once committed)."""
    observed: list[Fact] = dataclasses.field(default_factory=list)
    """What the metrics count once this transaction commits (:mod:`plait.server.observed`)."""
    answering: list[str] = dataclasses.field(default_factory=list)
    """Tokens of the tasks this transaction claimed, answered once it commits
    (:mod:`plait.server.deliveries`)."""
    handoffs: list[tuple[Parked, list[Dispatched]]] = dataclasses.field(default_factory=list)
    """Parked polls this transaction claimed for, with what it claimed: answered once it
    commits, told to claim again if it does not (:func:`plait.server.dispatch.hand_off`)."""
    unsettled: list[Unsettled] = dataclasses.field(default_factory=list)
    """Hand-offs whose claim's answer comes with the COMMIT's (:class:`Unsettled`)."""

    def reset(self) -> None:
        """Forget everything noted: the change is run again from the start (its first run
        rolled back), and what that run noted never happened."""
        for f in dataclasses.fields(self):
            factory = f.default_factory
            setattr(self, f.name, factory() if factory is not dataclasses.MISSING else f.default)

    def lease(self, session: str, until: float, written: float) -> None:
        self.leases[session] = until
        self.written[session] = written

    def leased(self, session: str) -> None:
        """A task was leased to ``session``."""
        self.dispatched[session] = self.dispatched.get(session, 0) + 1

    def wake_queue(self, ns: str, task_queue: str, kind: str) -> None:
        """One task became ready (call once per task)."""
        key = (ns, task_queue, kind)
        self.ready[key] = self.ready.get(key, 0) + 1

    def taken(self, ns: str, task_queue: str, kind: str) -> None:
        """A task made ready in this change went straight to a worker (eager dispatch)."""
        key = (ns, task_queue, kind)
        if self.ready.get(key, 0) > 0:
            self.ready[key] -= 1

    @property
    def queues(self) -> list[tuple[str, str, str]]:
        """The queues whose pollers should wake."""
        return [key for key, n in self.ready.items() if n > 0]

    def observe(self, fact: Fact) -> None:
        """Count ``fact`` in the metrics if (and once) this transaction commits."""
        self.observed.append(fact)

    def schedule_action(self, ns: str, outcome: str) -> None:
        self.schedule_actions.append((ns, outcome))

    def timer(self, at: float) -> None:
        if self.timer_at is None or at < self.timer_at:
            self.timer_at = at
