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

A server process also collects its young generation less often (:func:`collect_young_less_often`,
:data:`THRESHOLDS`; the server's command calls it, not a worker or a test process that hosts
a server in-process, where longer middle-generation pauses would be the host's). CPython collects it
every 700 allocations by default; a server with thousands of requests in flight holds that
many live objects in it at any moment, and each collection walks them all again. That was 11 %
of the server's CPU in W1 on PostgreSQL (``perf``: ``gc_collect_main`` and its visitors);
with 10,000 the server's CPU per workflow fell from 2.8 to 2.35 ms and throughput rose 14 %
(8 interleaved rounds, ``bench/results/pg.md``). Garbage without cycles is freed by reference
counting whatever the threshold: only cyclic garbage waits longer.
"""

from __future__ import annotations

import gc

__all__ = ["collect_young_less_often", "freeze_startup_heap"]

_frozen = False

THRESHOLDS = (10_000, 20, 10)
"""``gc.set_threshold``: allocations between young collections, and young (then middle)
collections between older ones (CPython's defaults: 700, 10, 10)."""


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


def collect_young_less_often() -> None:
    """The server process's collector thresholds (see the module's docstring)."""
    gc.set_threshold(*THRESHOLDS)
