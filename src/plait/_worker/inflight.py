"""The worker's numbered requests: which answers that may carry tasks it has read.

The server offers a leased task again when a heartbeat leaves it out of the tasks the worker
holds. Judged by time (missing 2 s after its answer left), that went wrong whenever an event
loop lagged: a saturated worker listed its tasks before it read an answer sent seconds
earlier, and the attempt was offered again while it ran. So every request that may bring
tasks (polls, completions asking for tasks back) carries a number, the server records it with
each task it hands out, and a heartbeat says, at the moment it lists ``held``, the highest
number sent and the numbers still on the wire (``plait.server.sessions``). A task whose
request is closed and which is not held was really lost.

That holds only if an answer's tasks join ``held`` before its request is closed, in the same
step of the event loop: :meth:`InFlight.close` does both. Whoever then runs a task discards
its token when done (the completion recorded), or at once if it cannot run it.
"""

from __future__ import annotations

from collections.abc import Iterable

from plait.protocol.sessions import HeartbeatSessionRequest

__all__ = ["InFlight"]


class InFlight:
    """Numbers requests and knows which are still waiting for their answer."""

    def __init__(self, held: set[str]) -> None:
        self.held = held
        """Tokens of the tasks this worker holds (received, running, being reported)."""
        self._sent = 0
        self._open: set[int] = set()

    def open(self) -> int:
        """A number for a request about to be sent."""
        self._sent += 1
        self._open.add(self._sent)
        return self._sent

    def close(self, number: int, tokens: Iterable[str] = ()) -> None:
        """The answer of request ``number`` was read and carried the tasks ``tokens`` (held
        from now on), or it was given up on."""
        self.held.update(tokens)
        self._open.discard(number)

    def listing(self) -> HeartbeatSessionRequest:
        """A heartbeat's body: what is held now, and which requests were answered by now."""
        return HeartbeatSessionRequest(held=sorted(self.held), requests_sent=self._sent or None,
                                       requests_open=sorted(self._open) or None)
