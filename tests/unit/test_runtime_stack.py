"""The runtime's side of the stack query and of queries as of an event: the frames a
waiting workflow is suspended in, and the history cut a past state is rebuilt from."""

from __future__ import annotations

import asyncio
import inspect

from plait import workflow
from plait.protocol.payload import encode
from plait.runtime.activations import as_of
from plait.runtime.definitions import workflow_defn_of
from plait.runtime.instance import new_instance
from plait.runtime.outcome import QueryAnswer
from plait.runtime.stack import stack_trace
from tests.unit.histories import HistoryBuilder, task_of, type_of


@workflow.defn
class Napper:
    def __init__(self) -> None:
        self.naps = 0

    @workflow.run
    async def run(self) -> None:
        await self.nap()

    async def nap(self) -> None:
        self.naps += 1
        await workflow.sleep(60)  # the nap

    @workflow.signal
    def poke(self) -> None:
        self.naps += 10

    @workflow.query
    def count(self) -> int:
        return self.naps


def _line(fragment: str) -> int:
    lines, start = inspect.getsourcelines(Napper)
    return start + next(i for i, text in enumerate(lines) if fragment in text)


def history() -> HistoryBuilder:
    """1 started, 2-4 a task, 5 its timer, 6 a signal, 7-9 its task."""
    return (
        HistoryBuilder("Napper")
        .task()
        .add("TIMER_STARTED", timer_id="1")
        .add("WORKFLOW_EXECUTION_SIGNALED", signal_name="poke")
        .task()
    )


def test_as_of_cuts_after_the_last_completed_task_and_its_commands() -> None:
    events = history().events
    assert [type_of(e) for e in as_of(events, 4)][-2:] == [
        "WORKFLOW_TASK_COMPLETED",
        "TIMER_STARTED",
    ]
    assert len(as_of(events, 4)) == len(as_of(events, 8)) == 5  # 6-8: not acted on yet
    assert len(as_of(events, 9)) == len(as_of(events, 100)) == 9
    assert as_of(events, 3) == []  # no task completed yet


def test_a_replayed_past_state_answers_queries() -> None:
    events = history().events
    answers = []
    for n in (4, 9):
        inst = new_instance(workflow_defn_of(Napper), task_of("Napper"))
        outcome = inst.replay_then_activate(as_of(events, n), None)
        assert outcome.failure is None
        answers.append(inst.query("count", []))
        inst.evict()
    assert answers == [QueryAnswer(result=encode(1)), QueryAnswer(result=encode(11))]


def test_the_stack_query_names_the_awaiting_lines() -> None:
    inst = new_instance(workflow_defn_of(Napper), task_of("Napper"))
    inst.replay_then_activate(history().events, None)
    answer = inst.query("__stack_trace", [])
    assert answer.result is not None
    lines = answer.result["data"].splitlines()
    assert lines[0] == f"{__file__}:{_line('await self.nap()')} in Napper.run"
    assert lines[1] == f"{__file__}:{_line('# the nap')} in Napper.nap"
    assert lines[-1].endswith(" in sleep")
    assert inst.query("count", []) == QueryAnswer(result=encode(11))  # nothing ran
    inst.evict()


def test_stack_trace_shows_each_waiting_task_and_skips_finished_ones() -> None:
    async def inner(fut: asyncio.Future[None]) -> None:
        await fut

    async def outer(fut: asyncio.Future[None]) -> None:
        await inner(fut)

    async def main() -> str:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiting = [asyncio.create_task(outer(fut)), asyncio.create_task(inner(fut))]
        done = asyncio.create_task(asyncio.sleep(0))
        await done
        text = stack_trace([*waiting, done])
        fut.set_result(None)
        await asyncio.gather(*waiting)
        return text

    blocks = [b.splitlines() for b in asyncio.run(main()).split("\n\n")]
    functions = [[line.rsplit(".", 1)[1] for line in b] for b in blocks]
    assert functions == [["outer", "inner"], ["inner"]]
    assert all(line.startswith(f"{__file__}:") for b in blocks for line in b)
