"""What a worker believes of its own session lease: a task starts without asking the server
only while this belief holds (``tests/faults/test_paused_worker`` shows why). Times are set
relative to now, with half a second to spare either side of the edge."""

from __future__ import annotations

import time

from plait import Client
from plait._worker.lease import LEASE_MARGIN, Lease

EXPIRY = 5.0
BELIEVED = EXPIRY * (1 - LEASE_MARGIN)


async def opened(session: str = "s1") -> Lease:
    """A worker's lease whose session was just opened (nothing is sent to the address)."""
    w = Lease((await Client.connect("http://127.0.0.1:9")).api, set())
    w.session_id, w.expiry = session, EXPIRY
    return w


async def test_the_lease_is_believed_until_its_margin() -> None:
    w = await opened()
    task = w.stamp()
    w.acknowledged("s1", time.monotonic() - BELIEVED - 0.5)
    assert not w.live(task)
    w.acknowledged("s1", time.monotonic() - BELIEVED + 0.5)  # a later renewal came back
    assert w.live(task)


async def test_tasks_asked_for_before_a_stall_are_not_believed() -> None:
    """Their response may have waited unread through the stall, while the first heartbeat
    after it told the server they never arrived."""
    w = await opened()
    w.acknowledged("s1", time.monotonic())
    before = w.stamp()
    w._stalled_at = time.monotonic() + 0.001  # as the heartbeat loop records it
    assert not w.live(before)
    assert w.live(("s1", w._stalled_at + 0.001))


async def test_a_task_of_an_earlier_session_is_never_believed() -> None:
    """After the session expired and a new one opened, a stale poll response's tasks are
    leased to a session that no longer exists, however fresh the new one is."""
    w = await opened()
    w.acknowledged("s1", time.monotonic())
    old = w.stamp()
    w.session_id = "s2"
    w.acknowledged("s2", time.monotonic() - 1.0)  # older than s1's, but s1 is gone
    assert not w.live(old)
    assert w.live(w.stamp())
    assert not w.live((None, time.monotonic()))


async def test_late_answers_do_not_move_the_belief() -> None:
    """An answer to an older request, or about a session that is gone, renews nothing."""
    w = await opened()
    task = w.stamp()
    edge = time.monotonic() - BELIEVED
    w.acknowledged("s1", edge - 0.5)
    w.acknowledged("s1", edge - 1.0)  # sent earlier, answered later
    assert not w.live(task)
    w.session_id = "s2"
    w.acknowledged("s1", time.monotonic())  # the old session's heartbeat, answered late
    w.session_id = "s1"
    assert not w.live(task)
