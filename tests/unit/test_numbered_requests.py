"""A task is judged lost by what the worker had read, not by time (``plait.server.sessions``,
``plait._worker.inflight``).

The worker numbers the requests that may bring it tasks; the claim records the number with
each task; a heartbeat says the highest number sent and those still waiting when the worker
listed what it holds. A task left out of the list is lost exactly when its request was done
with, however long ago or recently its answer left.
"""

from __future__ import annotations

from plait._worker.completions import handed
from plait._worker.inflight import InFlight
from plait.protocol.completions import (
    CompleteActivityTaskResponse,
    CompleteWorkflowTaskResponse,
    WorkflowStepAnswer,
)
from plait.protocol.tasks import ActivityTask, WorkflowTask
from plait.server import sessions
from plait.server.service import Service
from plait.server.sessions import RequestsSeen
from plait.store.base import Txn
from tests.unit.test_slow_answer import (
    claim_statement_ran_earlier,
    claimed_task,
    current_token,
)

NS, QUEUE = "default", "q"
POLL = 7
"""The number the worker gave the poll that claimed the task."""
LATE = sessions.UNACKED_GRACE + 3.0
"""Past the grace of the rule by time, within the workflow task's timeout (10 s)."""


async def numbered_claim(svc: Service, number: int | None = POLL) -> tuple[str, str]:
    """A session, and the token of the workflow task its poll numbered ``number`` claimed."""
    return await claimed_task(svc, number)


async def heartbeat(svc: Service, sid: str, held: list[str], seen: RequestsSeen) -> None:
    arrived = svc.clock.now()
    await svc.write(lambda ctx: sessions.heartbeat(ctx, sid, held, 30.0, arrived, seen=seen))


async def test_the_claim_records_the_request_number(service: Service) -> None:
    _, token = await numbered_claim(service)

    def number(t: Txn) -> int | None:
        task = t.get_task(int(token.split(".")[0]))
        assert task is not None
        return task.lease_request
    assert await service.store.read(number) == POLL
    # Judged by number, never by time: this server keeps no note of when it answered.
    assert service.ledger.deliveries.grace_from(token, 1.0) == 1.0


async def test_a_task_whose_answer_is_still_on_its_way_is_never_lost(service: Service) -> None:
    """Long past the old grace, the poll still open at the worker: not offered again."""
    sid, token = await numbered_claim(service)
    await claim_statement_ran_earlier(service, token, LATE)
    await heartbeat(service, sid, [], RequestsSeen(sent=POLL, open=frozenset({POLL})))
    assert await current_token(service) == token


async def test_a_task_whose_answer_was_read_and_is_not_held_is_lost_at_once(
        service: Service) -> None:
    """Within the old grace, too: the worker is done with the request and does not hold the
    task, so the answer never reached it."""
    sid, _ = await numbered_claim(service)
    await heartbeat(service, sid, [], RequestsSeen(sent=POLL + 3, open=frozenset({POLL + 1})))
    assert await current_token(service) is None  # offered again: back in the queue


async def test_a_list_made_before_the_request_was_sent_says_nothing_of_it(
        service: Service) -> None:
    sid, token = await numbered_claim(service)
    await claim_statement_ran_earlier(service, token, LATE)
    await heartbeat(service, sid, [], RequestsSeen(sent=POLL - 1, open=frozenset()))
    assert await current_token(service) == token


async def test_a_held_task_stays_whatever_the_numbers(service: Service) -> None:
    sid, token = await numbered_claim(service)
    await heartbeat(service, sid, [token], RequestsSeen(sent=POLL, open=frozenset()))
    assert await current_token(service) == token


async def test_a_task_claimed_without_a_number_is_judged_by_time(service: Service) -> None:
    sid, token = await numbered_claim(service, None)
    seen = RequestsSeen(sent=POLL, open=frozenset())
    await heartbeat(service, sid, [], seen)
    assert await current_token(service) == token  # within the grace
    await claim_statement_ran_earlier(service, token, LATE)
    service.ledger.deliveries.answered([token], service.clock.now() - LATE)
    await heartbeat(service, sid, [], seen)
    assert await current_token(service) is None


def test_an_answer_s_tasks_are_held_before_its_request_closes() -> None:
    held: set[str] = set()
    inflight = InFlight(held)
    first, second = inflight.open(), inflight.open()
    listing = inflight.listing()
    assert (listing.requests_sent, listing.requests_open, listing.held) == (2, [1, 2], [])
    inflight.close(first, ["4.1"])
    listing = inflight.listing()
    assert (listing.requests_sent, listing.requests_open, listing.held) == (2, [second],
                                                                            ["4.1"])
    inflight.close(second)  # given up on: nothing to hold
    listing = inflight.listing()
    assert (listing.requests_sent, listing.requests_open, listing.held) == (2, None, ["4.1"])


def _activity(token: str) -> ActivityTask:
    return ActivityTask(token=token, namespace=NS, workflow_id="w", run_id="r",
                        workflow_type="W", activity_id="1", activity_type="a",
                        task_queue=QUEUE, attempt=1, input=[], header={}, scheduled_time=1.0,
                        started_time=1.0, start_to_close_timeout=None, heartbeat_timeout=None,
                        deadline=None, heartbeat_details=[])


def _workflow(token: str) -> WorkflowTask:
    return WorkflowTask(token=token, namespace=NS, workflow_id="w", run_id="r",
                        workflow_type="W", task_queue=QUEUE, attempt=1, previous_upto=0,
                        started_event_id=3, started_time=1.0, events=[], updates=[])


def test_a_completion_s_answer_hands_back_the_tasks_it_carries() -> None:
    assert handed(CompleteWorkflowTaskResponse(upto=3)) == []
    assert handed(CompleteWorkflowTaskResponse(
        upto=3, activity_tasks=[_activity("5.1"), _activity("6.1")],
        workflow_task=_workflow("7.2"))) == ["7.2", "5.1", "6.1"]
    assert handed(CompleteActivityTaskResponse(recorded=True, workflow_task=_workflow("8.1"))) \
        == ["8.1"]
    assert handed(CompleteActivityTaskResponse(recorded=True, workflow_step=WorkflowStepAnswer(
        upto=9, activity_tasks=[_activity("9.1")]))) == ["9.1"]
    assert handed(None) == []
