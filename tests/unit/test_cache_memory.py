"""A cached idle instance stays small: the worker keeps up to 10,000 of them (W7)."""

from __future__ import annotations

import sys

from plait.runtime.definitions import workflow_defn_of
from plait.runtime.instance import new_instance
from tests.unit.histories import T0, HistoryBuilder, task_of
from tests.unit.test_runtime_eviction import Cleans


def test_an_idle_instance_keeps_a_key_sharing_attribute_dict() -> None:
    """CPython shares one key table among instances of a class while they have at most 29
    attributes; a 30th makes every instance's ``__dict__`` its own table, about 1.3 KB more
    per cached workflow. New state belongs in an existing attribute (or derived)."""
    inst = new_instance(workflow_defn_of(Cleans), task_of("Cleans"))
    assert inst.replay_then_activate(HistoryBuilder("Cleans").pending_task().events,
                                     T0 + 2).failure is None
    assert sys.getsizeof(vars(inst)) < 600, sorted(vars(inst))
    inst.evict()
