"""The server waits for the update stage asked: ``wait_for_stage="accepted"`` answers once the
workflow accepted the update, in the request that sent it, while its handler still runs."""

from __future__ import annotations

import re

import aiohttp

from plait import Worker, workflow
from plait.client import WorkflowUpdateStage
from plait.testing import WorkflowEnvironment


@workflow.defn
class Gate:
    def __init__(self) -> None:
        self.open = False

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.open)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return "done"

    @workflow.update
    async def wait_open(self) -> str:
        await workflow.wait_condition(lambda: self.open)
        return "opened"

    @workflow.signal
    def let_in(self) -> None:
        self.open = True


async def _outcome_polls(env: WorkflowEnvironment) -> float:
    async with aiohttp.ClientSession() as s, s.get(env.address + "/metrics") as r:
        text = await r.text()
    found = re.findall(r'^plait_http_requests_total\{route="[^"]*/updates/\{uid\}"[^}]*\} (\S+)$',
                       text, re.M)
    return sum(float(n) for n in found)


async def test_accepted_is_answered_by_the_update_request_itself(env: WorkflowEnvironment,
                                                                  queue: str) -> None:
    async with Worker(env.client, task_queue=queue, workflows=[Gate]):
        handle = await env.client.start_workflow(Gate.run, id="gate", task_queue=queue)
        before = await _outcome_polls(env)
        update = await handle.start_update(Gate.wait_open,
                                           wait_for_stage=WorkflowUpdateStage.ACCEPTED)
        assert await _outcome_polls(env) == before  # no polling for the stage
        history = await handle.fetch_history()
        assert "WORKFLOW_EXECUTION_UPDATE_ACCEPTED" in [e.event_type for e in history.events]
        assert "WORKFLOW_EXECUTION_UPDATE_COMPLETED" not in [
            e.event_type for e in history.events]  # the handler still waits
        await handle.signal(Gate.let_in)
        assert await update.result() == "opened"
        assert await handle.result() == "done"


async def test_an_outcome_poll_can_end_at_acceptance(env: WorkflowEnvironment,
                                                     queue: str) -> None:
    async with Worker(env.client, task_queue=queue, workflows=[Gate]):
        handle = await env.client.start_workflow(Gate.run, id="gate-2", task_queue=queue)
        update = await handle.start_update(Gate.wait_open,
                                           wait_for_stage=WorkflowUpdateStage.ADMITTED)
        got = await env.client.api.update_outcome("gate-2", None, update.id, wait=30,
                                                  wait_for_stage="accepted")
        assert got.status == "accepted"
        await handle.signal(Gate.let_in)
        assert await update.result() == "opened"
