"""Where a cached idle workflow's memory goes (W7's companion, in the harness process).

The W7 number is a worker's RSS growth per cached workflow; this says what it is made of.
It builds ``n`` workflow instances the way the worker's cache holds them: ``new_instance``
with a task dict shaped like a polled one (its ``events`` included: the instance keeps the
task it was created from) and ``replay_then_activate`` over a real history (each copy parsed
from JSON again, as each poll is), and measures with ``tracemalloc`` what they keep, grouped
by allocation site. Python allocations only: the process's RSS also carries allocator slack.
"""

from __future__ import annotations

import gc
import json
import tracemalloc
from typing import Any

from bench.procs import in_repo
from plait.history import History
from plait.runtime.definitions import workflow_defn_of
from plait.runtime.instance import new_instance


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
        events = json.loads(raw)
        task = {"workflow_id": f"{history.workflow_id}-{i}", "run_id": f"{history.run_id}-{i}",
                "workflow_type": defn.name, "namespace": "default",
                "task_queue": started.get("task_queue", ""), "events": events,
                "started_event_id": events[-1]["event_id"] + 1, "token": "t" * 120,
                "previous_upto": 0}
        inst = new_instance(defn, task)
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
