"""The ``plait`` CLI as a user runs it: real processes for the CLI, the server and a worker."""

from __future__ import annotations

import datetime as dt
import json
import socket
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from plait import Client, History
from plait.client import WorkflowHandle
from tests.integration.cli_process import (
    ok,
    one_line_error,
    plait,
    server_and_worker,
)
from tests.waiting import NotYet, eventually_sync

pytestmark = pytest.mark.timeout(60)

CLI_WAIT = 20.0
"""The bound of a wait whose every look is a CLI process (a look takes a few tenths)."""

WORKER = textwrap.dedent('''
    import asyncio
    from datetime import timedelta

    from plait import Client, RetryPolicy, Worker, activity, workflow
    from plait.errors import ApplicationError

    FAST = RetryPolicy(initial_interval=timedelta(seconds=0.1))

    @activity.defn
    async def greet(name: str) -> str:
        if activity.info().attempt < 2:
            raise ApplicationError("flaky", type="Transient")
        return f"hello {name}"

    @activity.defn
    async def refuse() -> str:
        raise ApplicationError("downstream says no", type="Refused")

    @workflow.defn
    class Greet:
        @workflow.run
        async def run(self, name: str, n: int) -> dict:
            greeting = await workflow.execute_activity(
                greet, name, start_to_close_timeout=timedelta(seconds=5), retry_policy=FAST)
            return {"greeting": greeting, "n": n}

    @workflow.defn
    class Fails:
        @workflow.run
        async def run(self) -> str:
            raise ApplicationError("bad input", type="ValidationError")

    @workflow.defn
    class Waits:
        @workflow.run
        async def run(self) -> str:
            await workflow.sleep(3600)
            return "late"

    @workflow.defn
    class Buggy:
        @workflow.run
        async def run(self) -> str:
            return {}["missing"]

    @workflow.defn
    class Retrying:
        @workflow.run
        async def run(self) -> str:
            return await workflow.execute_activity(
                refuse, start_to_close_timeout=timedelta(seconds=5),
                retry_policy=RetryPolicy(initial_interval=timedelta(seconds=60)))

    @workflow.defn
    class Naps:
        @workflow.run
        async def run(self) -> None:
            await asyncio.gather(workflow.sleep(timedelta(days=2)),
                                 workflow.sleep(timedelta(minutes=90)))

    @workflow.defn
    class Approval:
        def __init__(self) -> None:
            self.approval = ""

        @workflow.run
        async def run(self) -> str:
            await workflow.wait_condition(lambda: bool(self.approval))
            return self.approval

        @workflow.signal
        def approve(self, by: str, note: str) -> None:
            self.approval = f"{by}: {note}"

        @workflow.query
        def status(self, prefix: str) -> dict:
            return {"status": prefix + (self.approval or "waiting")}

    async def main() -> None:
        client = await Client.connect()
        worker = Worker(client, task_queue="cli-tests", activities=[greet, refuse],
                        workflows=[Greet, Fails, Waits, Buggy, Retrying, Naps, Approval])
        async with worker:
            print("ready", flush=True)
            await asyncio.Event().wait()

    asyncio.run(main())
''')


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of the server's database, and of its and the worker's logs."""
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def address(logs: Path) -> Iterator[str]:
    """A real ``plait server`` on a free port and a temporary database, with a worker."""
    tmp = logs
    with server_and_worker(tmp, WORKER) as addr:
        yield addr



def start(address: str, workflow_type: str, *inputs: str) -> str:
    workflow_id = f"{workflow_type.lower()}-{uuid.uuid4().hex[:8]}"
    args = [a for i in inputs for a in ("--input", i)]
    out = ok("workflow", "start", workflow_type, "--id", workflow_id, "--task-queue",
             "cli-tests", *args, address=address)
    assert f"workflow_id: {workflow_id}" in out
    assert "run_id: " in out
    return workflow_id


def as_json(*args: str, address: str) -> Any:
    return json.loads(ok(*args, "--output", "json", address=address))


def test_start_result_describe_show(address: str) -> None:
    wid = start(address, "Greet", '"ada"', "2")
    assert json.loads(ok("workflow", "result", wid, address=address)) == {
        "greeting": "hello ada", "n": 2}

    text = ok("workflow", "describe", wid, address=address)
    for expected in (wid, "COMPLETED", "Greet", "cli-tests", "Activity attempts", "greet",
                     "Transient: flaky", "completed", "hello ada"):
        assert expected in text
    desc = as_json("workflow", "describe", wid, address=address)
    assert desc["status"] == "COMPLETED" and desc["workflow_type"] == "Greet"
    assert [(a["attempt"], a["outcome"]) for a in desc["attempts"]] == [
        (1, "failed"), (2, "completed")]
    assert desc["attempts"][0]["failure"]["message"] == "flaky"

    shown = ok("workflow", "show", wid, address=address)
    for expected in ("WORKFLOW_EXECUTION_STARTED", "ACTIVITY_TASK_COMPLETED",
                     "WORKFLOW_EXECUTION_COMPLETED", "attempt=2", '"hello ada"'):
        assert expected in shown


def test_show_json_is_the_history_format(address: str) -> None:
    wid = start(address, "Greet", '"bob"', "1")
    ok("workflow", "result", wid, address=address)
    raw = ok("workflow", "show", wid, "--output", "json", address=address)
    data = json.loads(raw)
    assert data["format"] == 1 and data["workflow_id"] == wid and data["run_id"]
    events = data["events"]
    assert [e["event_id"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["event_type"] == "WORKFLOW_EXECUTION_STARTED"
    assert events[0]["attributes"]["input"] == [{"encoding": "json", "data": "bob"},
                                                {"encoding": "json", "data": 1}]
    assert events[-1]["event_type"] == "WORKFLOW_EXECUTION_COMPLETED"
    assert all({"event_id", "event_type", "timestamp", "attributes"} <= e.keys() for e in events)
    assert len(History.from_json(raw).events) == len(events)


def test_list_filters_and_limits(address: str) -> None:
    done = start(address, "Greet", '"cy"', "3")
    ok("workflow", "result", done, address=address)
    waiting = start(address, "Waits")
    try:
        rows = as_json("workflow", "list", "--type", "Greet", address=address)
        assert done in [r["workflow_id"] for r in rows]
        assert {r["workflow_type"] for r in rows} == {"Greet"}
        running = as_json("workflow", "list", "--status", "running", address=address)
        assert waiting in [r["workflow_id"] for r in running]
        assert {r["status"] for r in running} == {"RUNNING"}
        assert len(as_json("workflow", "list", "--limit", "1", address=address)) == 1
        text = ok("workflow", "list", "--type", "Greet", address=address)
        assert done in text and "COMPLETED" in text
    finally:
        ok("workflow", "terminate", waiting, address=address)


def test_list_and_count_by_search_attribute_and_start_time(address: str) -> None:
    customer = f"c-{uuid.uuid4().hex[:6]}"
    wid = f"waits-{customer}"
    ok("workflow", "start", "Waits", "--id", wid, "--task-queue", "cli-tests",
       "--search-attribute", f"customer={customer}", "-a", "tier=3", address=address)
    other = start(address, "Waits")
    try:
        rows = as_json("workflow", "list", "-a", f"customer={customer}", address=address)
        assert [r["workflow_id"] for r in rows] == [wid]
        assert rows[0]["search_attributes"] == {"customer": customer, "tier": 3}
        both = as_json("workflow", "list", "-a", f"customer={customer}", "-a", "tier=3",
                       address=address)
        assert [r["workflow_id"] for r in both] == [wid]
        # tier is the number 3, not the string "3".
        assert as_json("workflow", "list", "-a", f"customer={customer}", "-a", 'tier="3"',
                       address=address) == []
        assert ok("workflow", "count", "-a", f"customer={customer}", address=address) == "1\n"
        assert as_json("workflow", "count", "-a", f"customer={customer}", "--status", "running",
                       address=address) == {"count": 1}

        recent = [r["workflow_id"] for r in as_json("workflow", "list", "--started-after", "1h",
                                                   "--limit", "500", address=address)]
        assert wid in recent and other in recent
        assert wid not in [r["workflow_id"] for r in as_json(
            "workflow", "list", "--started-before", "1h", "--limit", "500", address=address)]
        future = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
        assert as_json("workflow", "list", "--started-after", future, address=address) == []
        assert as_json("workflow", "count", "--started-after", future,
                       address=address) == {"count": 0}
        total = as_json("workflow", "count", address=address)["count"]
        running = as_json("workflow", "count", "--status", "RUNNING", "--type", "Waits",
                          address=address)["count"]
        assert total >= running >= 2
    finally:
        ok("workflow", "terminate", wid, address=address)
        ok("workflow", "terminate", other, address=address)


def test_terminate(address: str) -> None:
    wid = start(address, "Waits")
    assert wid in ok("workflow", "terminate", wid, "--reason", "no longer needed",
                     address=address)
    line = one_line_error(plait("workflow", "result", wid, address=address))
    assert "terminated" in line and "no longer needed" in line
    assert as_json("workflow", "describe", wid, address=address)["status"] == "TERMINATED"
    assert "no longer needed" in ok("workflow", "show", wid, address=address)
    # Terminating it again is an error, not a silent success.
    assert "not running" in one_line_error(plait("workflow", "terminate", wid, address=address))


def test_signal_and_query(address: str) -> None:
    wid = start(address, "Approval")
    assert json.loads(ok("workflow", "query", wid, "status", "--input", '"is "',
                         address=address)) == {"status": "is waiting"}
    out = ok("workflow", "signal", wid, "approve", "--input", '"alice"', "--input", '"ok"',
             address=address)
    assert wid in out
    assert json.loads(ok("workflow", "result", wid, address=address)) == "alice: ok"
    assert as_json("workflow", "query", wid, "status", "--input", '""',
                   address=address) == {"status": "alice: ok"}
    assert "no-such-query" in one_line_error(
        plait("workflow", "query", wid, "no-such-query", address=address))
    assert "WORKFLOW_EXECUTION_SIGNALED" in ok("workflow", "show", wid, address=address)
    line = one_line_error(plait("workflow", "signal", wid, "approve", "--input", "{",
                                address=address))
    assert "--input #1 is not valid JSON" in line


def test_cancel(address: str) -> None:
    wid = start(address, "Waits")
    assert wid in ok("workflow", "cancel", wid, "--reason", "changed my mind", address=address)
    line = one_line_error(plait("workflow", "result", wid, address=address))
    assert wid in line and "cancel" in line
    assert as_json("workflow", "describe", wid, address=address)["status"] == "CANCELED"


def test_failed_workflow_result_is_one_line_and_non_zero(address: str) -> None:
    wid = start(address, "Fails")
    line = one_line_error(plait("workflow", "result", wid, address=address))
    assert wid in line and "ValidationError: bad input" in line
    assert "bad input" in ok("workflow", "describe", wid, address=address)


def test_describe_makes_a_stuck_workflow_loud(address: str) -> None:
    wid = start(address, "Buggy")

    def task_failed() -> dict[str, Any] | NotYet:
        desc = as_json("workflow", "describe", wid, address=address)
        return desc["last_task_failure"] or NotYet(desc["status"])

    failure = eventually_sync(task_failed, what=f"{wid}'s workflow task failing", timeout=CLI_WAIT)
    assert "missing" in failure["message"] and failure["attempts"] >= 1
    assert "KeyError" in failure["traceback"]
    text = ok("workflow", "describe", wid, address=address)
    for expected in ("STUCK", "Workflow task failing", "KeyError", "Traceback",
                     'return {}["missing"]'):
        assert expected in text
    ok("workflow", "terminate", wid, address=address)


def test_describe_shows_pending_activity_and_its_last_failure(address: str) -> None:
    wid = start(address, "Retrying")

    def failed_once() -> list[dict[str, Any]] | NotYet:
        pending = as_json("workflow", "describe", wid, address=address)["pending_activities"]
        return pending if pending and pending[0]["last_failure"] else NotYet(pending)

    pending = eventually_sync(failed_once, what=f"{wid}'s activity failing once", timeout=CLI_WAIT)
    assert pending[0]["activity_type"] == "refuse"
    assert pending[0]["state"] == "backing_off" and pending[0]["attempt"] == 2
    assert pending[0]["next_attempt_time"]
    text = ok("workflow", "describe", wid, address=address)
    for expected in ("Pending activities", "backing_off", "Refused: downstream says no"):
        assert expected in text
    ok("workflow", "terminate", wid, address=address)


@pytest.mark.parametrize("command", ["describe", "show", "result", "cancel", "terminate"])
def test_unknown_workflow(address: str, command: str) -> None:
    line = one_line_error(plait("workflow", command, "no-such-workflow", address=address))
    assert "no-such-workflow" in line and "not found" in line


def test_unreachable_server() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
        for args in (["workflow", "list"], ["workflow", "describe", "x", "--address", dead]):
            line = one_line_error(plait(*args, address=dead))
            assert "cannot reach the plait server" in line and dead in line


@pytest.mark.parametrize("args, expected", [
    (["--input", "bob"], "--input #1 is not valid JSON"),
    (["--input", "1", "--input", "{oops"], "--input #2 is not valid JSON"),
])
def test_invalid_input_json(address: str, args: list[str], expected: str) -> None:
    proc = plait("workflow", "start", "Greet", "--id", "bad-json", "--task-queue", "cli-tests",
                 *args, address=address)
    assert expected in one_line_error(proc)
    one_line_error(plait("workflow", "describe", "bad-json", address=address))  # never started


@pytest.mark.parametrize("args, expected", [
    (["workflow", "start", "Greet", "--task-queue", "q"], "--id"),
    (["workflow", "list", "--status", "SLEEPY"], "unknown status"),
    (["workflow", "describe", "x", "--output", "yaml"], "--output"),
    (["workflow", "list", "--started-after", "yesterday"], "--started-after 'yesterday'"),
    (["workflow", "count", "--started-after", "2h", "--started-before", "3h"], "earlier"),
    (["workflow", "list", "--search-attribute", "customer"], "not KEY=VALUE"),
    (["workflow", "count", "--status", "SLEEPY"], "unknown status"),
])
def test_usage_errors_are_one_line(address: str, args: list[str], expected: str) -> None:
    assert expected in one_line_error(plait(*args, address=address))


def test_show_names_signals_and_gives_timers_a_readable_length(address: str) -> None:
    """Issue 11: ``show`` left out the signal's name and printed ``duration=172800.0``."""
    wid = start(address, "Approval")
    ok("workflow", "signal", wid, "approve", "--input", '"alice"', "--input", '"ok"',
       address=address)
    ok("workflow", "result", wid, address=address)
    signalled = [line for line in ok("workflow", "show", wid, address=address).splitlines()
                 if "WORKFLOW_EXECUTION_SIGNALED" in line]
    assert len(signalled) == 1 and "signal_name=approve" in signalled[0], signalled

    naps = start(address, "Naps")
    try:
        eventually_sync(lambda: ok("workflow", "show", naps, address=address)
                        .count("TIMER_STARTED") == 2, what="both timers started", timeout=CLI_WAIT)
        shown = ok("workflow", "show", naps, address=address)
        assert "duration=2d" in shown and "duration=1h30m" in shown, shown
        assert "172800" not in shown
    finally:
        ok("workflow", "terminate", naps, address=address)


def test_failure_log_lines_carry_the_exception_type(address: str, logs: Path) -> None:
    """Issue 11: the server and worker logged a failed workflow task as ``'missing'``, not
    ``KeyError: 'missing'``."""
    wid = start(address, "Buggy")
    try:
        eventually_sync(lambda: bool(as_json("workflow", "describe", wid,
                                             address=address)["last_task_failure"]),
                        what="the workflow task failed", timeout=CLI_WAIT)
        for log in ("server.log", "worker.log"):
            lines = [line for line in (logs / log).read_text().splitlines()
                     if "workflow task failed" in line and wid in line]
            assert lines and all(line.endswith("KeyError: 'missing'") for line in lines), (
                log, lines)
    finally:
        ok("workflow", "terminate", wid, address=address)


def test_input_file_carries_values_too_large_for_the_command_line(
        address: str, tmp_path: Path) -> None:
    """Issue 11: one argument of 128 KiB or more failed with "Argument list too long"."""
    name = "x" * 200_000
    (tmp_path / "name.json").write_text(json.dumps(name))
    wid = f"greet-{uuid.uuid4().hex[:8]}"
    # The file comes first on the command line, so it is the first argument.
    ok("workflow", "start", "Greet", "--id", wid, "--task-queue", "cli-tests",
       "--input-file", str(tmp_path / "name.json"), "--input", "2", address=address)
    assert json.loads(ok("workflow", "result", wid, address=address)) == {
        "greeting": f"hello {name}", "n": 2}


def test_input_file_from_stdin_and_in_command_line_order(address: str, tmp_path: Path) -> None:
    wid = start(address, "Approval")
    (tmp_path / "prefix.json").write_text('"it is "\n')
    assert as_json("workflow", "query", wid, "status", "--input-file",
                   str(tmp_path / "prefix.json"), address=address) == {
        "status": "it is waiting"}
    proc = plait("workflow", "signal", wid, "approve", "--input", '"alice"',
                 "--input-file", "-", address=address, stdin='{"looks": "fine"}')
    assert proc.returncode == 0, proc.stderr
    assert json.loads(ok("workflow", "result", wid, address=address)) == (
        "alice: {'looks': 'fine'}")

    other = start(address, "Approval")
    proc = plait("workflow", "signal", other, "approve", "--input-file", "-", "--input", '"ok"',
                 address=address, stdin='"bob"')
    assert proc.returncode == 0, proc.stderr
    assert json.loads(ok("workflow", "result", other, address=address)) == "bob: ok"


@pytest.mark.parametrize("args, stdin, expected", [
    (["--input-file", "missing.json"], None, "--input-file missing.json: No such file"),
    (["--input-file", "bad.json"], None, "--input-file bad.json is not one JSON value"),
    (["--input-file", "two.json"], None, "--input-file two.json is not one JSON value"),
    (["--input-file", "-"], "", "--input-file - (standard input) is empty"),
    (["--input-file", "-", "--input-file", "-"], '"a"', "standard input) can be given only once"),
    (["--input", "1", "--input-file", "bad.json", "--input", "{"], None, "bad.json"),
])
def test_bad_input_file(address: str, tmp_path: Path, args: list[str], stdin: str | None,
                        expected: str) -> None:
    (tmp_path / "bad.json").write_text("{oops")
    (tmp_path / "two.json").write_text('"a"\n"b"\n')
    wid = f"bad-file-{uuid.uuid4().hex[:8]}"
    proc = plait("workflow", "start", "Greet", "--id", wid, "--task-queue", "cli-tests",
                 *args, address=address, cwd=tmp_path, stdin=stdin)
    assert expected in one_line_error(proc)
    one_line_error(plait("workflow", "describe", wid, address=address))  # never started


async def test_list_pages_through_everything_and_says_when_it_stops_early(
        address: str) -> None:
    """Issue 11: ``list`` stopped at 50 rows without saying that there were more."""
    batch = f"b-{uuid.uuid4().hex[:8]}"  # text: a bare hex string may parse as a JSON number
    client = await Client.connect(address)
    handles: list[WorkflowHandle] = []
    try:
        # No worker polls this queue: the runs stay RUNNING and do nothing.
        handles += [await client.start_workflow(
            "Idle", id=f"idle-{batch}-{i:02d}", task_queue=f"nobody-{batch}",
            search_attributes={"batch": batch}) for i in range(60)]
        rows = as_json("workflow", "list", "-a", f"batch={batch}", address=address)
        assert sorted(r["workflow_id"] for r in rows) == sorted(h.id for h in handles)

        text = ok("workflow", "list", "-a", f"batch={batch}", "--limit", "7", address=address)
        assert text.count(f"idle-{batch}-") == 7
        assert text.splitlines()[-1].startswith("7 of 60 workflows shown")
        everything = ok("workflow", "list", "-a", f"batch={batch}", address=address)
        assert everything.count(f"idle-{batch}-") == 60 and "shown" not in everything

        proc = plait("workflow", "list", "-a", f"batch={batch}", "--limit", "60",
                     "--output", "json", address=address)
        assert len(json.loads(proc.stdout)) == 60 and proc.stderr == ""
        proc = plait("workflow", "list", "-a", f"batch={batch}", "--limit", "59",
                     "--output", "json", address=address)
        assert len(json.loads(proc.stdout)) == 59  # stdout stays one JSON array
        assert proc.stderr.startswith("59 of 60 workflows shown")
    finally:
        for h in handles:
            await h.terminate("test done")
        await client.close()
