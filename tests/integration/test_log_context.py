"""``workflow.logger`` and ``activity.logger`` records carry the run (and the attempt) as
record attributes; a workflow's lines are written once, not again when a worker replays it
(issue 14); ``plait server --log-format json`` writes a JSON object a line."""

from __future__ import annotations

import json
import logging
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from plait import Worker, activity, workflow
from plait.errors import ApplicationError
from plait.retry import RetryPolicy
from plait.testing import WorkflowEnvironment
from tests.integration.cli_process import one_line_error, plait, plait_command, stop
from tests.waiting import NotYet, eventually, history_has


@activity.defn
async def greet(name: str) -> str:
    activity.logger.info("greeting %s", name)
    return f"hello {name}"


@activity.defn
def refuse(name: str) -> str:  # sync: runs in a pool thread, the context still travels
    activity.logger.warning("refusing %s", name)
    raise ApplicationError(f"no {name}", type="Refused", non_retryable=True)


@workflow.defn
class Greeter:
    def __init__(self) -> None:
        self.go = False

    @workflow.run
    async def run(self, name: str) -> str:
        workflow.logger.info("before the activity")
        greeting = await workflow.execute_activity(
            greet, name, start_to_close_timeout=timedelta(seconds=10))
        workflow.logger.info("after the activity: %s", greeting)
        await workflow.wait_condition(lambda: self.go)
        workflow.logger.info("released")
        try:
            await workflow.execute_activity(refuse, name,
                                            start_to_close_timeout=timedelta(seconds=10),
                                            retry_policy=RetryPolicy(maximum_attempts=1))
        except Exception:
            workflow.logger.info("refused")
        return greeting

    @workflow.signal
    def release(self) -> None:
        self.go = True


def records(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == name]


async def test_records_carry_the_run_and_replay_writes_no_line_twice(
        env: WorkflowEnvironment, queue: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    wid = f"{queue}-greet"
    async with Worker(env.client, task_queue=queue, workflows=[Greeter],
                      activities=[greet, refuse]) as worker:
        handle = await env.client.start_workflow(Greeter.run, "ada", id=wid, task_queue=queue)

        def waiting() -> bool | NotYet:
            msgs = [r.getMessage() for r in records(caplog, "plait.workflow.user")]
            return "after the activity: hello ada" in msgs or NotYet(msgs)
        await eventually(waiting, what="the workflow past its activity")
        await history_has(handle, "WORKFLOW_TASK_COMPLETED")
        # Evict the run: the next task rebuilds it by replaying the lines logged so far.
        assert worker.workflow_tasks.cache, "the run is cached"
        worker.workflow_tasks.evict_all()
        await handle.signal(Greeter.release)
        assert await handle.result() == "hello ada"

    wf = records(caplog, "plait.workflow.user")
    assert [r.getMessage() for r in wf] == [
        "before the activity", "after the activity: hello ada", "released", "refused"]
    for r in wf:
        assert (r.workflow_id, r.run_id, r.workflow_type, r.task_queue) == (  # type: ignore[attr-defined]
            wid, handle.run_id, "Greeter", queue)

    acts = records(caplog, "plait.activity.user")
    assert [(r.getMessage(), r.activity_type, r.attempt) for r in acts] == [  # type: ignore[attr-defined]
        ("greeting ada", "greet", 1), ("refusing ada", "refuse", 1)]
    for r in acts:
        assert (r.workflow_id, r.run_id, r.workflow_type) == (  # type: ignore[attr-defined]
            wid, handle.run_id, "Greeter")
        assert r.activity_id  # type: ignore[attr-defined]

    # The worker says which exception failed the attempt, with the same context.
    failed = [r for r in records(caplog, "plait.worker") if hasattr(r, "exc_type")]
    assert [(r.activity_type, r.exc_type) for r in failed] == [  # type: ignore[attr-defined]
        ("refuse", "Refused")]


def test_a_record_outside_a_run_has_no_context(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    workflow.logger.info("no run")
    activity.logger.info("no attempt")
    for r in caplog.records:
        assert not hasattr(r, "workflow_id")


@pytest.mark.timeout(60)
def test_server_writes_json_lines(tmp_path: Path) -> None:
    server = subprocess.Popen(
        [*plait_command(), "server", "--port", "0", "--db", "sqlite:///p.db",
         "--log-format", "json"], cwd=tmp_path, stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL, text=True)
    seen = []
    try:
        assert server.stderr is not None
        for line in server.stderr:  # every line is a JSON object, up to "listening"
            seen.append(json.loads(line))
            if seen[-1]["logger"] == "plait.server":
                break
    finally:
        stop(server)
    record = seen[-1]
    assert record["level"] == "INFO" and record["logger"] == "plait.server"
    assert record["message"].startswith("plait server listening on http://127.0.0.1:")
    assert record["time"].endswith("Z")


def test_unknown_log_format_is_one_error_line(tmp_path: Path) -> None:
    line = one_line_error(plait("server", "--port", "0", "--log-format", "xml", cwd=tmp_path))
    assert "'xml' is not one of 'text', 'json'" in line
    assert list(tmp_path.iterdir()) == []
