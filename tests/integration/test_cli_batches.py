"""``plait batch ...`` as a user runs it: real processes for the CLI, the server and a worker.
An operation counts, asks (on a terminal; ``--yes`` answers; with no terminal it refuses),
starts the job, follows it and prints a summary; describe, list and cancel read and stop
jobs; requests that cannot be honoured are one ``error:`` line that changed nothing."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import textwrap
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.cli_process import (
    ok,
    one_line_error,
    plait,
    plait_command,
    server_and_worker,
)
from tests.waiting import NotYet, eventually_sync

pytestmark = pytest.mark.timeout(90)

WORKER = textwrap.dedent("""
    import asyncio

    from plait import Client, Worker, workflow

    @workflow.defn
    class Gate:
        def __init__(self) -> None:
            self.opened = 0

        @workflow.run
        async def run(self) -> int:
            await workflow.wait_condition(lambda: self.opened > 0)
            return self.opened

        @workflow.signal
        def open(self, by: str) -> None:
            self.opened += 1

    async def main() -> None:
        client = await Client.connect()
        async with Worker(client, task_queue="cli-batch", workflows=[Gate]):
            print("ready", flush=True)
            await asyncio.Event().wait()

    asyncio.run(main())
""")


@pytest.fixture(scope="module")
def address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("cli-batch")
    with server_and_worker(tmp, WORKER) as addr:
        yield addr


def start_gates(address: str, n: int, queue: str = "cli-batch") -> tuple[str, list[str]]:
    """``n`` Gate runs tagged with a fresh search attribute; (that tag, their ids). The tag
    starts with a letter: ``-a tag=12345678`` (or ``1234e567``) is a JSON number, not the
    string the tests compare with."""
    tag = "t" + uuid.uuid4().hex[:8]
    ids = [f"gate-{tag}-{i}" for i in range(n)]
    for wid in ids:
        ok(
            "workflow",
            "start",
            "Gate",
            "--id",
            wid,
            "--task-queue",
            queue,
            "--search-attribute",
            f"tag={tag}",
            address=address,
        )
    return tag, ids


def status_of(wid: str, address: str) -> str:
    return str(json.loads(ok("workflow", "describe", wid, "-o", "json", address=address))["status"])


def batches(address: str) -> list[dict[str, Any]]:
    return list(json.loads(ok("batch", "list", "-o", "json", address=address)))


def on_a_terminal(args: list[str], answer: str, address: str) -> subprocess.CompletedProcess[str]:
    """``plait ARGS`` with a terminal on its standard input, answering ``answer``."""
    main, child = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "PLAIT_DEBUG"}
    env["PLAIT_ADDRESS"] = address
    try:
        proc = subprocess.Popen(
            [*plait_command(), *args],
            stdin=child,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        os.write(main, (answer + "\n").encode())
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(main)
        os.close(child)
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def test_signal_with_yes_counts_starts_and_follows(address: str) -> None:
    tag, ids = start_gates(address, 3)
    out = ok(
        "batch", "signal", "open", "--input", '"ops"', "-a", f"tag={tag}", "--yes", address=address
    )
    assert "3 workflows match" in out
    assert "signalled 3 of 3 workflows, 0 failed (completed)" in out

    def all_completed() -> bool | NotYet:
        seen = [status_of(w, address) for w in ids]
        return seen == ["COMPLETED"] * 3 or NotYet(seen)

    eventually_sync(all_completed, what="every gate completed", timeout=20.0)
    [job] = [b for b in batches(address) if b["search_attributes"] == {"tag": tag}]
    assert (job["operation"], job["state"], job["done"]) == ("signal", "completed", 3)
    described = json.loads(ok("batch", "describe", job["batch_id"], "-o", "json", address=address))
    assert described["signal"] == "open" and described["total"] == 3
    text = ok("batch", "describe", job["batch_id"], address=address)
    assert "3 done, 0 failed of 3" in text and "tag=" in text, text


def test_without_a_terminal_it_refuses_unless_yes(address: str) -> None:
    tag, ids = start_gates(address, 2, queue="nobody-polls")
    before = len(batches(address))
    error = one_line_error(plait("batch", "terminate", "-a", f"tag={tag}", address=address))
    assert "--yes" in error
    assert len(batches(address)) == before
    assert [status_of(w, address) for w in ids] == ["RUNNING"] * 2


def test_on_a_terminal_it_asks(address: str) -> None:
    tag, ids = start_gates(address, 2, queue="nobody-polls")
    before = len(batches(address))
    no = on_a_terminal(["batch", "terminate", "-a", f"tag={tag}"], "n", address)
    assert no.returncode != 0 and "2 workflows match" in no.stdout, no
    assert "aborted" in no.stderr
    assert len(batches(address)) == before
    assert [status_of(w, address) for w in ids] == ["RUNNING"] * 2
    yes = on_a_terminal(
        ["batch", "terminate", "-a", f"tag={tag}", "--reason", "cleanup"], "y", address
    )
    assert yes.returncode == 0, yes.stderr
    assert "terminate 2 workflows?" in yes.stdout
    assert "terminated 2 of 2 workflows, 0 failed (completed)" in yes.stdout
    assert [status_of(w, address) for w in ids] == ["TERMINATED"] * 2


def test_nothing_matches(address: str) -> None:
    out = ok("batch", "cancel", "-a", "tag=none-such", address=address)
    assert "0 workflows match" in out and "nothing to do" in out


def test_cancel_stops_a_job(address: str) -> None:
    tag, _ = start_gates(address, 4, queue="nobody-polls")
    started = subprocess.Popen(
        [*plait_command(), "batch", "cancel", "-a", f"tag={tag}", "--rate", "0.5", "--yes"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PLAIT_ADDRESS": address},
    )
    try:

        def the_job() -> str | NotYet:
            mine = [b for b in batches(address) if b["search_attributes"] == {"tag": tag}]
            return mine[0]["batch_id"] if mine else NotYet(mine)

        bid = eventually_sync(the_job, what="the job started", timeout=20.0)
        out = ok("batch", "cancel", bid, address=address)
        assert f"batch {bid} is canceled" in out
        _, err = started.communicate(timeout=30)
    finally:
        if started.poll() is None:
            started.kill()
    assert started.returncode == 1
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: batch {bid} ended canceled"), err
    assert "not both" in one_line_error(
        plait("batch", "cancel", bid, "--type", "Gate", address=address)
    )


def test_requests_it_cannot_honour_and_a_reset(address: str) -> None:
    assert "RUNNING runs only" in one_line_error(
        plait("batch", "terminate", "--status", "COMPLETED", "--yes", address=address)
    )
    start_gates(address, 1, queue="nobody-polls")
    reset = plait("batch", "reset", "--to", "last", "--type", "Gate", "--yes", address=address)
    assert reset.returncode == 0, reset.stderr
    # Every Gate of this module's server (others' too: it is shared) is reset, none fails.
    matched = re.search(r"^(\d+) workflows? match", reset.stdout, re.M)
    assert matched is not None, reset.stdout
    n = matched[1]
    assert f"reset {n} of {n} workflows, 0 failed (completed)" in reset.stdout
    assert "one of --event" in one_line_error(plait("batch", "reset", "--yes", address=address))
    assert "not found" in one_line_error(plait("batch", "describe", "nope", address=address))


def test_the_workflow_commands_batch_forms(address: str) -> None:
    """``plait workflow terminate|cancel|signal`` with filters instead of an ID."""
    tag, ids = start_gates(address, 2)
    out = ok(
        "workflow", "signal", "open", "-i", '"ops"', "-a", f"tag={tag}", "--yes", address=address
    )
    assert "2 workflows match" in out and "signalled 2 of 2" in out

    def all_completed() -> bool | NotYet:
        seen = [status_of(w, address) for w in ids]
        return seen == ["COMPLETED"] * 2 or NotYet(seen)

    eventually_sync(all_completed, what="both gates completed", timeout=20.0)
    tag, ids = start_gates(address, 2, queue="nobody-polls")
    out = ok("workflow", "terminate", "-a", f"tag={tag}", "--yes", address=address)
    assert "terminated 2 of 2" in out
    assert [status_of(w, address) for w in ids] == ["TERMINATED"] * 2
    for args in (["workflow", "terminate"], ["workflow", "cancel", "--yes"]):
        assert "give a workflow ID, or filters" in one_line_error(plait(*args, address=address))
    assert "not both" in one_line_error(
        plait("workflow", "terminate", ids[0], "--type", "Gate", address=address)
    )
    assert "missing argument NAME" in one_line_error(
        plait("workflow", "signal", ids[0], address=address)
    )


def test_pause_then_unpause_by_filter(address: str) -> None:
    tag, _ = start_gates(address, 3, queue="nobody-polls-pause")
    paused = ok("batch", "pause", "-a", f"tag={tag}", "--reason", "outage", "--yes",
                address=address)
    assert "paused 3 of 3 workflows, 0 failed (completed)" in paused
    unpaused = ok("batch", "unpause", "-a", f"tag={tag}", "--yes", address=address)
    assert "unpaused 3 of 3 workflows, 0 failed (completed)" in unpaused
