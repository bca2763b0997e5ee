"""Describing a task queue: its pollers and its backlog, through the client and the CLI, and
for a queue whose name is not URL-safe."""

from __future__ import annotations

import asyncio
import json

from plait import Worker, workflow
from plait.testing import WorkflowEnvironment
from tests.integration.cli_process import plait


@workflow.defn
class Noop:
    @workflow.run
    async def run(self) -> str:
        return "ok"


async def test_a_queue_nobody_polls_shows_its_backlog_and_no_pollers(
        env: WorkflowEnvironment) -> None:
    queue = "team/orders ü"
    await env.client.start_workflow(Noop.run, id="waits", task_queue=queue)
    desc = await env.client.describe_task_queue(queue)
    assert desc.task_queue == queue and desc.pollers == []
    [backlog] = desc.backlog
    assert (backlog.kind, backlog.count) == ("workflow", 1)
    out = await asyncio.to_thread(plait, "task-queue", "describe", queue,
                                  address=env.address)
    assert out.returncode == 0, out.stderr
    assert "0 poller(s)" in out.stdout and "1 workflow task(s)" in out.stdout
    assert "warning: no worker polls this queue" in out.stdout


async def test_a_served_queue_lists_its_workers_and_drains(env: WorkflowEnvironment,
                                                           queue: str) -> None:
    handle = await env.client.start_workflow(Noop.run, id="served", task_queue=queue)
    async with Worker(env.client, task_queue=queue, workflows=[Noop], identity="box-7"):
        assert await handle.result() == "ok"
        desc = await env.client.describe_task_queue(queue)
        [poller] = desc.pollers
        assert poller.identity == "box-7" and poller.workflow_types == ["Noop"]
        assert desc.backlog == []  # the one task ran
        out = await asyncio.to_thread(plait, "task-queue", "describe", queue, "-o", "json",
                                      address=env.address)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["pollers"][0]["identity"] == "box-7"
