"""Keep what a long-running process built at start-up out of every later garbage collection.

A plait server or worker imports some fifty thousand objects (aiohttp, msgspec, the protocol's
structs, the routes) that live as long as the process. CPython's full collections walk every
one of them, and a full collection runs whenever the objects surviving since the last one grow
by a quarter: under load that is every second or so, each a pause of 30-40 ms on the event loop
(measured in W1: four per thousand workflows on the server, two on the worker). Freezing the
start-up heap moves it to a generation the collector never walks, so those pauses shrink to
what the work in flight holds (see ``bench/results/seams-ab.md``). Reference counting still
frees frozen objects; only a reference cycle among them would outlive its use, and start-up
objects that become cyclic garbage are rare.
"""

from __future__ import annotations

import gc

__all__ = ["freeze_startup_heap"]

_frozen = False


def freeze_startup_heap() -> None:
    """Collect what start-up left behind, then freeze the rest. Only the first call in a
    process does it: a process that runs many workers (a test suite) pays the full
    collection once."""
    global _frozen
    if _frozen:
        return
    _frozen = True
    gc.collect()
    gc.freeze()
