"""``plait schedule ...`` against a real ``plait server`` process."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest

from tests.integration.cli_process import one_line_error, plait, plait_command, stop


@pytest.fixture(scope="module")
def address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("cli-schedules")
    server = subprocess.Popen(
        [*plait_command(), "server", "--db", f"sqlite:///{tmp / 'plait.db'}", "--port", "0"],
        stdout=subprocess.PIPE, stderr=(tmp / "server.log").open("w"), text=True)
    try:
        line = server.stdout.readline() if server.stdout else ""
        assert "plait server on " in line, (tmp / "server.log").read_text()
        yield line.split("plait server on ", 1)[1].split()[0]
    finally:
        stop(server)


def ok(*args: str, address: str) -> str:
    proc = plait("schedule", *args, address=address)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_create_list_describe_pause_trigger_backfill_delete(address: str) -> None:
    assert "created" in ok("create", "nightly", "--type", "Report", "--task-queue", "r",
                           "--cron", "0 3 * * *", "--timezone", "Europe/Berlin",
                           "--input", '"eu"', "--overlap", "allow_all", "--note", "hi",
                           address=address)
    assert "nightly\tReport\tnext " in ok("list", address=address)
    d = json.loads(ok("describe", "nightly", "-o", "json", address=address))
    assert d["spec"] == "0 3 * * *" and d["timezone"] == "Europe/Berlin"
    assert len(d["next_action_times"]) == 5 and d["note"] == "hi"
    assert "paused" in ok("pause", "nightly", "--note", "maintenance", address=address)
    assert "nightly\tReport\tpaused" in ok("list", address=address)
    started = ok("trigger", "nightly", address=address)
    assert started.startswith("started nightly-")
    backfilled = ok("backfill", "nightly", "--start", "3d", "--end", "1d", address=address)
    assert backfilled.count("started nightly-") == 2  # two 03:00 in 48 hours
    assert "unpaused" in ok("unpause", "nightly", address=address)
    d = json.loads(ok("describe", "nightly", "-o", "json", address=address))
    assert d["num_actions"] == 3 and len(d["running_workflow_ids"]) == 3
    assert not d["paused"]
    assert "deleted" in ok("delete", "nightly", address=address)
    assert "not found" in one_line_error(plait("schedule", "describe", "nightly",
                                               address=address))


def test_bad_definitions_are_one_line_errors(address: str) -> None:
    err = one_line_error(plait("schedule", "create", "bad", "--type", "T", "--task-queue",
                               "q", "--cron", "61 * * * *", address=address))
    assert "minute" in err
    err = one_line_error(plait("schedule", "create", "bad", "--type", "T", "--task-queue",
                               "q", "--interval", "soon", address=address))
    assert "--interval" in err
    err = one_line_error(plait("schedule", "create", "bad", "--type", "T", "--task-queue",
                               "q", address=address))
    assert "exactly one" in err
    assert "bad" not in ok("list", address=address)


def test_interval_schedule(address: str) -> None:
    ok("create", "every", "--type", "T", "--task-queue", "q", "--interval", "90s",
       address=address)
    d = json.loads(ok("describe", "every", "-o", "json", address=address))
    assert d["spec"] == "every 90s"
    ok("delete", "every", address=address)
