"""``plait replay`` as a user runs it in CI: histories exported from a real server with
``plait workflow show ID --output json``, replayed by the CLI in a subprocess against the same
code (passes), patched code (passes) and changed code (fails, naming the event)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.waiting import NotYet, eventually_sync

pytestmark = pytest.mark.timeout(90)

# The code the histories are recorded with. The variants below are edits of it, as a
# developer would make them; each `replace` must hit, so the variants cannot drift apart.
ORDERS = textwrap.dedent('''
    import asyncio
    from datetime import timedelta

    from plait import Client, Worker, activity, workflow
    from plait.errors import ApplicationError

    T = timedelta(seconds=5)

    @activity.defn
    async def reserve(item: str) -> str:
        return f"r-{item}"

    @activity.defn
    async def charge(order_id: str, cents: int) -> str:
        return f"receipt-{order_id}-{cents}"

    @activity.defn
    async def notify(order_id: str) -> None:
        pass

    @workflow.defn
    class Order:
        def __init__(self) -> None:
            self.approved_by = ""

        @workflow.run
        async def run(self, order_id: str, items: list[str]) -> dict:
            if not items:
                raise ApplicationError("an order needs items", type="ValidationError")
            reserved = await asyncio.gather(*(
                workflow.execute_activity(reserve, i, start_to_close_timeout=T) for i in items))
            await workflow.sleep(0.05)
            await workflow.wait_condition(lambda: bool(self.approved_by))
            receipt = await workflow.execute_activity(charge, order_id, 100 * len(items),
                                                      start_to_close_timeout=T)
            return {"reserved": list(reserved), "receipt": receipt, "by": self.approved_by}

        @workflow.signal
        def approve(self, by: str) -> None:
            self.approved_by = by

    async def main() -> None:
        client = await Client.connect()
        async with Worker(client, task_queue="replay-cli", workflows=[Order],
                          activities=[reserve, charge, notify]):
            print("ready", flush=True)
            await asyncio.Event().wait()

    if __name__ == "__main__":
        asyncio.run(main())
''')

CHARGE = "        receipt = await workflow.execute_activity(charge,"


def variant(*edits: tuple[str, str]) -> str:
    code = ORDERS
    for old, new in edits:
        assert old in code, old
        code = code.replace(old, new, 1)
    return code


# A new step behind workflow.patched: old histories replay, new runs take the new path.
PATCHED = variant((CHARGE, '        if workflow.patched("notify-first"):\n'
                           '            await workflow.execute_activity(\n'
                           '                notify, order_id, start_to_close_timeout=T)\n'
                   + CHARGE),
                  ("100 * len(items)", "120 * len(items)"))  # arguments are not compared
# The same new step without the patch: running orders would break on it.
UNPATCHED = variant((CHARGE, "        await workflow.execute_activity(  # NEW\n"
                             "            notify, order_id, start_to_close_timeout=T)\n"
                     + CHARGE))
# A bug in the new code, hit while replaying.
BUGGY = variant(("        await workflow.sleep(0.05)\n",
                 "        await workflow.sleep(0.05)\n"
                 '        {}["oops"]  # BUG\n'))
OTHER = textwrap.dedent('''
    from plait import workflow

    @workflow.defn
    class Invoice:
        @workflow.run
        async def run(self) -> None:
            pass
''')


def plait_command() -> list[str]:
    script = Path(sys.executable).parent / "plait"
    return [str(script)] if script.exists() else [sys.executable, "-m", "plait"]


def run(*args: str, cwd: Path, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "PLAIT_DEBUG"}
    return subprocess.run([*plait_command(), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, env={**base, **(env or {})})


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0, proc.stdout
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


class Recorded:
    """Histories exported from real runs, and a directory to write code variants into."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.histories = root / "histories"
        self.cancelled = root / "cancelled.json"

    def history(self, name: str) -> Path:
        return self.histories / f"{name}.json"

    def events(self, name: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = json.loads(self.history(name).read_text())["events"]
        return events

    def code(self, module: str, text: str) -> Path:
        path = self.root / f"{module}.py"
        path.write_text(text)
        return path

    def replay(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return run("replay", *args, cwd=cwd or self.root)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    """A server and a worker running ``orders.py``; three histories exported with the CLI:
    a completed order (signalled), a failed one, and one still waiting for approval."""
    tmp = tmp_path_factory.mktemp("replay-cli")
    rec = Recorded(tmp)
    rec.histories.mkdir()
    rec.code("orders", ORDERS)
    server = subprocess.Popen(
        [*plait_command(), "server", "--db", f"sqlite:///{tmp / 'plait.db'}", "--port", "0"],
        stdout=subprocess.PIPE, stderr=(tmp / "server.log").open("w"), text=True)
    try:
        line = server.stdout.readline() if server.stdout else ""
        assert "plait server on " in line, (tmp / "server.log").read_text()
        env = {"PLAIT_ADDRESS": line.split("plait server on ", 1)[1].split()[0]}
        worker = subprocess.Popen(
            [sys.executable, "orders.py"], cwd=tmp, stdout=subprocess.PIPE,
            stderr=(tmp / "worker.log").open("w"), text=True, env={**os.environ, **env})
        try:
            ready = worker.stdout.readline() if worker.stdout else ""
            assert ready.strip() == "ready", (tmp / "worker.log").read_text()
            record_histories(rec, env)
            yield rec
        finally:
            stop(worker)
    finally:
        stop(server)


def record_histories(rec: Recorded, env: dict[str, str]) -> None:
    def plait(*args: str) -> str:
        proc = run(*args, cwd=rec.root, env=env)
        assert proc.returncode in (0, 1), proc.stderr  # `result` of a failed run exits 1
        return proc.stdout

    def start(name: str, *inputs: str) -> str:
        wid = f"{name}-{uuid.uuid4().hex[:6]}"
        plait("workflow", "start", "Order", "--id", wid, "--task-queue", "replay-cli",
              *[a for i in inputs for a in ("--input", i)])
        return wid

    def export(wid: str, name: str) -> list[dict[str, Any]]:
        text = plait("workflow", "show", wid, "--output", "json")
        rec.history(name).write_text(text)
        events: list[dict[str, Any]] = json.loads(text)["events"]
        return events

    done = start("completed", '"o-1"', '["apple", "pear"]')
    plait("workflow", "signal", done, "approve", "--input", '"alice"')
    assert json.loads(plait("workflow", "result", done))["by"] == "alice"
    failed = start("failed", '"o-2"', "[]")
    plait("workflow", "result", failed)
    waiting = start("waiting", '"o-3"', '["fig"]')

    def waits_for_approval() -> bool | NotYet:
        """The task after the timer has completed (and the export holds it)."""
        types = [e["event_type"] for e in export(waiting, "waiting")]
        after = types[types.index("TIMER_FIRED"):] if "TIMER_FIRED" in types else []
        return "WORKFLOW_TASK_COMPLETED" in after or NotYet(types)

    eventually_sync(waits_for_approval, what="the waiting order past its timer", timeout=20,
                    interval=0.1)
    for wid, name in ((done, "completed"), (failed, "failed")):
        export(wid, name)
    assert rec.events("completed")[-1]["event_type"] == "WORKFLOW_EXECUTION_COMPLETED"
    assert rec.events("failed")[-1]["event_type"] == "WORKFLOW_EXECUTION_FAILED"
    # Kept apart from the others, which the directory tests replay together.
    cancelled = start("cancelled", '"o-4"', '["plum"]')
    plait("workflow", "cancel", cancelled)
    plait("workflow", "result", cancelled)
    rec.cancelled.write_text(plait("workflow", "show", cancelled, "--output", "json"))
    assert json.loads(rec.cancelled.read_text())["events"][-1]["event_type"] == \
        "WORKFLOW_EXECUTION_CANCELED"


def scheduled(events: list[dict[str, Any]], activity_type: str) -> int:
    """The event id of the first ACTIVITY_TASK_SCHEDULED of ``activity_type``."""
    return next(e["event_id"] for e in events if e["event_type"] == "ACTIVITY_TASK_SCHEDULED"
                and e["attributes"]["activity_type"] == activity_type)


def test_same_code_replays(recorded: Recorded) -> None:
    proc = recorded.replay(str(recorded.history("completed")), "--workflows", "orders:Order")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ok: ") and "completed" in lines[0]
    assert "Order" in lines[0] and f"{len(recorded.events('completed'))} events" in lines[0]


def test_a_history_on_standard_input(recorded: Recorded) -> None:
    """``plait workflow show ID -o json | plait replay - --workflows ...``"""
    def piped(module: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*plait_command(), "replay", "-", "--workflows", module],
                              input=recorded.history("completed").read_text(), cwd=recorded.root,
                              capture_output=True, text=True, timeout=60)

    proc = piped("orders:Order")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ok: -: workflow completed-")
    recorded.code("orders_unpatched", UNPATCHED)
    line = one_line_error(piped("orders_unpatched:Order"))
    assert line.startswith("error: -: ") and "ACTIVITY_TASK_SCHEDULED" in line


def test_a_cancelled_workflow_replays(recorded: Recorded) -> None:
    proc = recorded.replay(str(recorded.cancelled), "--workflows", "orders:Order")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"ok: {recorded.cancelled}: ")


def test_patched_code_replays_every_history(recorded: Recorded) -> None:
    recorded.code("orders_patched", PATCHED)
    proc = recorded.replay(str(recorded.histories), "--workflows", "orders_patched:Order")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.splitlines()
    assert sorted(ln.split(":")[1].strip().rsplit("/", 1)[-1] for ln in out[:-1]) == [
        "completed.json", "failed.json", "waiting.json"]
    assert out[-1] == "3 of 3 histories replay"


def test_changed_code_fails_naming_the_event(recorded: Recorded) -> None:
    path = recorded.code("orders_unpatched", UNPATCHED)
    proc = recorded.replay(str(recorded.history("completed")),
                           "--workflows", "orders_unpatched:Order")
    assert proc.returncode == 1
    line = one_line_error(proc)
    event_id = scheduled(recorded.events("completed"), "charge")
    assert f"history event {event_id} ACTIVITY_TASK_SCHEDULED" in line, line
    assert "'charge'" in line and "'notify'" in line
    added = UNPATCHED.splitlines().index(
        next(ln for ln in UNPATCHED.splitlines() if ln.endswith("# NEW"))) + 1
    assert f"{path}:{added}" in line, line  # the line of the new call
    assert str(recorded.history("completed")) in line
    assert proc.stdout == ""


def test_a_directory_reports_each_history(recorded: Recorded) -> None:
    recorded.code("orders_unpatched", UNPATCHED)
    proc = recorded.replay(str(recorded.histories), "--workflows", "orders_unpatched:Order")
    assert proc.returncode == 1
    # Only the order that got as far as charging has the step the new code moved.
    assert one_line_error(proc).startswith(f"error: {recorded.history('completed')}: ")
    ok = [ln for ln in proc.stdout.splitlines() if ln.startswith("ok: ")]
    assert sorted(Path(ln.split(": ")[1]).name for ln in ok) == ["failed.json", "waiting.json"]
    assert proc.stdout.splitlines()[-1] == "2 of 3 histories replay; 1 failed"


def test_several_files_and_a_file_path_module(recorded: Recorded, tmp_path: Path) -> None:
    """``path/to/file.py:Class`` works from any directory; every file is reported."""
    path = recorded.code("orders_buggy", BUGGY)
    proc = recorded.replay(str(recorded.history("failed")), str(recorded.history("waiting")),
                           "--workflows", f"{path}:Order", cwd=tmp_path)
    assert proc.returncode == 1
    line = one_line_error(proc)  # the failed order never got to the bug
    assert line.startswith(f"error: {recorded.history('waiting')}: ")
    bug = BUGGY.splitlines().index(
        next(ln for ln in BUGGY.splitlines() if ln.endswith("# BUG"))) + 1
    assert "raised KeyError: 'oops'" in line and f"{path}:{bug}" in line, line
    assert proc.stdout.splitlines()[-1] == "1 of 2 histories replay; 1 failed"


def test_unknown_workflow_type(recorded: Recorded) -> None:
    recorded.code("invoices", OTHER)
    proc = recorded.replay(str(recorded.history("completed")), "--workflows", "invoices:Invoice")
    assert proc.returncode == 1
    line = one_line_error(proc)
    assert "'Order'" in line and "Invoice" in line


@pytest.mark.parametrize("spec, expected", [
    ("no_such_module:Order", "cannot import no_such_module"),
    ("orders:NoSuchClass", "has no NoSuchClass"),
    ("orders:charge", "is not a workflow"),
    ("orders", "module:Class"),
    ("missing/orders.py:Order", "no file"),
])
def test_bad_workflows_option(recorded: Recorded, spec: str, expected: str) -> None:
    proc = recorded.replay(str(recorded.history("completed")), "--workflows", spec)
    assert proc.returncode == 2
    assert expected in one_line_error(proc)


def test_a_module_that_fails_to_import(recorded: Recorded) -> None:
    recorded.code("broken", "import no_such_dependency\n")
    proc = recorded.replay(str(recorded.history("completed")), "--workflows", "broken:Order")
    assert "no_such_dependency" in one_line_error(proc)


@pytest.mark.parametrize("content, expected", [
    ("ID  TIME  EVENT\n1 ... WORKFLOW_EXECUTION_STARTED", "not JSON"),
    ('{"workflow_id": "x"}', 'an "events" list'),
    ('{"format": 1, "events": [{"event_id": 1}]}', "not a plait history"),
    ('{"format": 1, "events": []}', "no events"),
    ('{"format": 99, "events": []}', "newer"),
])
def test_malformed_history(recorded: Recorded, tmp_path: Path, content: str,
                           expected: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    proc = recorded.replay(str(bad), "--workflows", "orders:Order")
    assert proc.returncode == 1
    line = one_line_error(proc)
    assert str(bad) in line and expected in line, line


def test_missing_history_file(recorded: Recorded, tmp_path: Path) -> None:
    proc = recorded.replay(str(tmp_path / "nope.json"), "--workflows", "orders:Order")
    assert proc.returncode == 2
    assert "nope.json" in one_line_error(proc)
    (tmp_path / "empty").mkdir()
    proc = recorded.replay(str(tmp_path / "empty"), "--workflows", "orders:Order")
    assert "no *.json" in one_line_error(proc)
