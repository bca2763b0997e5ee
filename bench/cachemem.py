"""Where a cached idle workflow's memory goes (W7's companion, in the harness process).

The W7 number is a worker's RSS growth per cached workflow; this says what it is made of.
It builds ``n`` workflow instances the way the worker's cache holds them: ``new_instance``
with the run's identity (all an instance keeps of the task that created it) and
``replay_then_activate`` over a real history (each copy decoded from JSON again, as each
poll's is), and measures with ``tracemalloc`` what they keep, grouped
by allocation site. Python allocations only: the process's RSS also carries allocator slack.
"""

from __future__ import annotations

import gc
import json
import tracemalloc
from typing import Any

import msgspec

from bench.procs import in_repo
from plait.history import History
from plait.protocol.history import Event
from plait.runtime.definitions import workflow_defn_of
from plait.runtime.info import RunIdentity
from plait.runtime.instance import new_instance

_EVENTS = msgspec.json.Decoder(list[Event])


def breakdown(history: History, workflow: type, n: int = 1000, top: int = 12
              ) -> dict[str, Any]:
    """KB per instance, and the allocation sites that hold most of it."""
    defn = workflow_defn_of(workflow)
    raw = json.dumps([e.to_dict() for e in history.events])
    started = history.events[0].attributes
    gc.collect()
    tracemalloc.start(1)
    before = tracemalloc.take_snapshot()
    keep = []
    for i in range(n):
        events = _EVENTS.decode(raw)  # each copy decoded again, as each poll's is
        who = RunIdentity(f"{history.workflow_id}-{i}", f"{history.run_id}-{i}", defn.name,
                          str(started.get("task_queue", "")), "default")
        inst = new_instance(defn, who)
        inst.replay_then_activate(events, None)
        keep.append(inst)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    stats = after.compare_to(before, "lineno")
    total = sum(s.size_diff for s in stats)
    sites = [(f"{_site(s.traceback[0].filename)}:{s.traceback[0].lineno}",
              s.size_diff / n / 1024) for s in stats[:top]]
    del keep
    return {"instances": n, "kb_per_instance": total / n / 1024,
            "history_events": len(history.events),
            "top_sites_kb_per_instance": sites}


def _site(filename: str) -> str:
    """A file as a reader finds it: a package's path, or a path inside the repository."""
    return in_repo(filename.split("site-packages/")[-1].split("/src/")[-1])
