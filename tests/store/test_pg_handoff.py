"""The hand-off on PostgreSQL (``dispatch._claim_known``): a start's first workflow task goes
to a poll parked on its queue by a claim sent with the start's COMMIT, its answer read only
then. These drive the service as the poll route does (``tests/unit/test_handoff.py``, on
SQLite, has the rest of the hand-off's cases)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from plait.server.answers import OutgoingWorkflowTask
from plait.server.service import Service
from plait.store.postgres import PostgresStore
from tests.unit.test_handoff import (
    leased_token,
    open_session,
    parked,
    poll,
    serving,
    start,
    start_beside_a_poll_whose_session_ended,
)


@pytest.fixture
async def service(pg_url: str) -> AsyncIterator[Service]:
    async with serving(PostgresStore(pg_url, pool_size=2)) as svc:
        yield svc


async def test_a_start_hands_its_first_workflow_task_to_a_parked_poll(
        service: Service) -> None:
    sid = await open_session(service)
    waiting = poll(service, sid, number=3)
    await parked(service)
    await service.write(start("w1"))
    [task] = await waiting
    assert isinstance(task, OutgoingWorkflowTask) and task.workflow_id == "w1"
    assert len(task.events) == 2  # STARTED, SCHEDULED, as written
    assert await leased_token(service, "w1") == task.token


async def test_a_hand_off_to_a_session_gone_leaves_the_task_to_the_next_poll(
        service: Service) -> None:
    """The claim, read after COMMIT, leased nothing: the poll is not answered with the
    task, its own claim says why, and the task waits, ready, for a live session's poll."""
    await start_beside_a_poll_whose_session_ended(service, "w")
    assert await leased_token(service, "w") is None
    other = await open_session(service)
    [task] = await poll(service, other, wait=5.0)
    assert isinstance(task, OutgoingWorkflowTask) and task.workflow_id == "w"
    assert await leased_token(service, "w") == task.token
