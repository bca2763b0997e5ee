"""The examples end to end on a real server: the registration example, and the README's
tutorial as written (so the docs cannot rot).

The simulated registry keeps failing transiently, losing responses and rate-limiting, so this
also checks that retries get every registration through and that the activities are
idempotent: however often they were retried, the registry holds each record once. People
drive registrations as they would: a compliance officer approves or rejects (a signal, with
``approve.py``), anyone asks for the status (a query, with ``plait workflow query``), and a
cancelled registration undoes what it registered, newest first (``plait workflow cancel``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.waiting import NotYet, eventually, eventually_sync

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "registration"
# Quick, but still misbehaving: every run sees retries, lost responses and 429s.
REGISTRY = {"FAKE_REGISTRY_LATENCY": "0.05", "FAKE_REGISTRY_FAILURE_RATE": "0.1",
            "FAKE_REGISTRY_LOST_RESPONSE_RATE": "0.1", "FAKE_REGISTRY_RATE_PER_SECOND": "5",
            "FAKE_REGISTRY_VETTING_SECONDS": "0.5"}


def registry_budget(tries: int = 8) -> float:
    """How long a registration may take, from the example's own retry policy: long enough
    for one registry call to fail ``tries - 1`` times in a row, plus a margin for the rest.

    A call fails here one time in five, and more often while a burst meets the rate limit;
    the backoff doubles from 1 s up to 30 s, so six failures in a row (which a run meets
    about once in a few hundred) already cost a minute of waiting. A fixed 60 s made this
    module fail for a run that was only unlucky."""
    sys.path.insert(0, str(EXAMPLE))
    try:
        from workflows import REGISTRY_RETRY
    finally:
        sys.path.remove(str(EXAMPLE))
    return sum(REGISTRY_RETRY.backoff(attempt) for attempt in range(1, tries)) + 30.0


BUDGET = registry_budget()
pytestmark = pytest.mark.timeout(BUDGET + 60)


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The environment for the example's scripts, with a server and the worker running."""
    tmp = tmp_path_factory.mktemp("example")
    server = subprocess.Popen(
        [sys.executable, "-m", "plait", "server", "--db", f"sqlite:///{tmp / 'plait.db'}",
         "--port", "0"],
        stdout=subprocess.PIPE, stderr=(tmp / "server.log").open("w"), text=True)
    try:
        line = server.stdout.readline() if server.stdout else ""
        assert "plait server on " in line, (tmp / "server.log").read_text()
        env = {**os.environ, **REGISTRY, "FAKE_REGISTRY_DB": str(tmp / "registry.db"),
               "PLAIT_ADDRESS": line.split("plait server on ", 1)[1].split()[0]}
        worker = subprocess.Popen(
            [sys.executable, str(EXAMPLE / "worker.py")], env=env, stdout=subprocess.PIPE,
            stderr=(tmp / "worker.log").open("w"), text=True)
        try:
            ready = worker.stdout.readline() if worker.stdout else ""
            assert "worker polling" in ready, (tmp / "worker.log").read_text()
            yield env
        finally:
            stop(worker)
    finally:
        stop(server)


def run_start(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(EXAMPLE / "start.py"), *args], env=env,
                          capture_output=True, text=True, timeout=BUDGET)


def records(env: dict[str, str], kind: str) -> list[str]:
    with sqlite3.connect(env["FAKE_REGISTRY_DB"]) as db:
        return [k for (k,) in db.execute("SELECT key FROM records WHERE kind = ?", (kind,))]


def plait(env: dict[str, str], *args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "plait", *args], env=env, capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def status(env: dict[str, str], workflow_id: str) -> dict[str, Any]:
    """The registration's ``status`` query, through the CLI."""
    answer: dict[str, Any] = json.loads(plait(env, "workflow", "query", workflow_id, "status",
                                              "--output", "json"))
    return answer


def journal(env: dict[str, str], prefix: str) -> list[tuple[str, str, str]]:
    """Every change the registry made for keys starting with ``prefix``, in order."""
    with sqlite3.connect(env["FAKE_REGISTRY_DB"]) as db:
        return [(op, kind, key) for op, kind, key in db.execute(
            "SELECT op, kind, key FROM journal WHERE key LIKE ? ORDER BY seq", (prefix + "%",))]


def activities_after_cancel(env: dict[str, str], workflow_id: str) -> list[str]:
    events = json.loads(plait(env, "workflow", "show", workflow_id, "--output", "json"))["events"]
    types = [e["event_type"] for e in events]
    assert types[-1] == "WORKFLOW_EXECUTION_CANCELED", types
    after = events[types.index("WORKFLOW_EXECUTION_CANCEL_REQUESTED"):]
    return [e["attributes"]["activity_type"] for e in after
            if e["event_type"] == "ACTIVITY_TASK_SCHEDULED"]


def test_every_registration_completes_and_registers_once(env: dict[str, str]) -> None:
    proc = run_start(env, "-n", "3", "--numbers", "3", "--prefix", "happy")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    completed = [ln for ln in proc.stdout.splitlines() if ln.startswith("COMPLETED")]
    assert len(completed) == 3, proc.stdout
    assert all("3 numbers assigned" in ln for ln in completed)
    # start.py played the compliance officer: it asked for the status, then approved.
    assert len([ln for ln in proc.stdout.splitlines() if ln.startswith("APPROVED")]) == 3
    done = status(env, "registration-happy-1")  # a closed workflow answers queries too
    assert done["stage"] == "completed" and done["decision"]["approved"] is True
    assert done["decision"]["officer"] == "start.py (auto-approval)"
    assert len(done["assigned"]) == 3 and done["undone"] == []

    # The workflows agree, as the CLI sees them.
    listed = subprocess.run(
        [sys.executable, "-m", "plait", "workflow", "list", "--type", "SmsRegistration",
         "--output", "json"], env=env, capture_output=True, text=True, timeout=30, check=True)
    ours = [w for w in json.loads(listed.stdout) if w["workflow_id"].startswith(
        "registration-happy-")]
    assert sorted(w["status"] for w in ours) == ["COMPLETED"] * 3

    # Retries and lost responses did not register anything twice.
    brands = [b for b in records(env, "brand") if b.startswith("happy-")]
    campaigns = [c for c in records(env, "campaign") if c.startswith("happy-")]
    assert sorted(brands) == ["happy-1", "happy-2", "happy-3"]
    assert sorted(campaigns) == [f"happy-{i}-notifications" for i in (1, 2, 3)]


def test_bad_input_fails_fast_or_is_reported(env: dict[str, str]) -> None:
    proc = run_start(env, "-n", "1", "--numbers", "1", "--prefix", "bad", "--with-invalid")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout
    assert "FAILED    registration-bad-bad-ein" in out and "ValidationError" in out
    assert "COMPLETED registration-bad-1" in out
    assert "rejected 555-0100" in out
    assert "bad-bad-ein" not in records(env, "brand")
    assert journal(env, "bad-bad-ein") == []  # refused, so there was nothing to undo


def test_approve_reject_and_cancel_with_compensation(env: dict[str, str]) -> None:
    """Three registrations wait for a person: one approved, one rejected, one cancelled.
    The two that do not complete undo what they registered, newest first."""
    starter = subprocess.Popen(
        [sys.executable, str(EXAMPLE / "start.py"), "-n", "3", "--numbers", "2", "--prefix",
         "human", "--manual-approval"], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    approved, rejected, cancelled = (f"registration-human-{i}" for i in (1, 2, 3))
    try:
        waiting: dict[str, dict[str, Any]] = {}

        def all_waiting() -> bool | NotYet:
            for wid in (approved, rejected, cancelled):
                with contextlib.suppress(AssertionError):  # not started yet
                    waiting[wid] = status(env, wid)
            stages = {wid: w["stage"] for wid, w in waiting.items()}
            return ((len(stages) == 3 and set(stages.values()) == {"awaiting approval"})
                    or NotYet(stages))

        eventually_sync(all_waiting, what="three registrations awaiting approval",
                        timeout=BUDGET, interval=0.1)
        # The status query says what is registered so far: a brand and a campaign, no numbers.
        for st in waiting.values():
            assert st["brand_id"] and st["campaign_id"], st
            assert st["assigned"] == {} and st["decision"] is None and st["undone"] == []
        assert records(env, "campaign").count("human-3-notifications") == 1

        def approve(*args: str) -> str:
            proc = subprocess.run([sys.executable, str(EXAMPLE / "approve.py"), *args],
                                  env=env, capture_output=True, text=True, timeout=30)
            assert proc.returncode == 0, proc.stderr
            return proc.stdout

        out = approve(approved, "--by", "dana")
        assert '"stage": "awaiting approval"' in out and f"approved {approved}" in out
        approve(rejected, "--by", "dana", "--reject", "sample messages look like spam")
        assert cancelled in plait(env, "workflow", "cancel", cancelled, "--reason",
                                  "customer withdrew")
        out, err = starter.communicate(timeout=BUDGET)
    finally:
        if starter.poll() is None:
            starter.kill()
    assert starter.returncode == 1, out + err  # not every registration completed
    assert f"COMPLETED {approved}" in out and "2 numbers assigned" in out, out
    assert (f"FAILED    {rejected}: CampaignRejected: campaign rejected by dana: sample "
            "messages look like spam") in out, out
    assert f"CANCELED  {cancelled}" in out, out

    # The approved one went on to assign its numbers.
    done = status(env, approved)
    assert done["stage"] == "completed" and done["decision"]["officer"] == "dana"
    assert len(done["assigned"]) == 2
    # The rejected and the cancelled ones undid their registrations in reverse order, through
    # activities; the registry's journal shows what really happened, in order.
    for wid, ref in ((rejected, "human-2"), (cancelled, "human-3")):
        assert journal(env, ref) == [
            ("register", "brand", ref), ("register", "campaign", f"{ref}-notifications"),
            ("deregister", "campaign", f"{ref}-notifications"), ("deregister", "brand", ref)]
        assert ref not in records(env, "brand")
        st = status(env, wid)
        assert st["undone"] == [f"deregister campaign {ref}-notifications",
                                f"deregister brand {ref}"], st
    assert status(env, cancelled)["stage"] == "canceled"
    assert status(env, rejected)["stage"].startswith("failed: ")
    assert activities_after_cancel(env, cancelled) == ["deregister_campaign",
                                                       "deregister_brand"]
    desc = json.loads(plait(env, "workflow", "describe", cancelled, "--output", "json"))
    assert desc["status"] == "CANCELED"


def test_approval_timeout_escalates_then_fails(env: dict[str, str]) -> None:
    proc = run_start(env, "-n", "1", "--numbers", "1", "--prefix", "slow",
                     "--manual-approval", "--approval-timeout", "1")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert ("FAILED    registration-slow-1: ApprovalTimeout: no compliance decision within 2s "
            "(escalated after 1s)") in proc.stdout, proc.stdout
    assert "undone: deregister campaign slow-1-notifications, deregister brand slow-1" in \
        proc.stdout
    st = status(env, "registration-slow-1")
    assert st["escalated"] is True and st["decision"] is None
    shown = plait(env, "workflow", "show", "registration-slow-1")
    assert "escalate_approval" in shown
    assert journal(env, "slow-1")[-2:] == [("deregister", "campaign", "slow-1-notifications"),
                                           ("deregister", "brand", "slow-1")]


async def test_cancel_while_numbers_are_assigned_releases_every_one(
        env: dict[str, str], tmp_path: Path) -> None:
    """Cancelled while one number's assignment is still in flight at the registry: the
    workflow waits for that call to finish, then releases every number - the in-flight one
    too, whose answer it never saw - newest first, then the campaign, then the brand.

    The example's workflow and activities, run by a worker in this process (against the same
    real server) so the test can hold one registry call open."""
    sys.path.insert(0, str(EXAMPLE))
    try:
        from activities import RegistryActivities
        from downstream import FakeRegistry, Settings
        from start import request
        from workflows import SmsRegistration
    finally:
        sys.path.remove(str(EXAMPLE))
    from plait import Client, Worker
    from plait.errors import CancelledError, WorkflowFailureError

    req = request("held", 3, approval_timeout=60)
    numbers = req.phone_numbers
    reached, release = asyncio.Event(), asyncio.Event()

    class HeldRegistry(FakeRegistry):
        async def assign_number(self, campaign_id: str, number: str) -> str:
            if number == numbers[-1]:
                reached.set()
                await release.wait()
            return await super().assign_number(campaign_id, number)

    db = str(tmp_path / "registry.db")
    registry = HeldRegistry(Settings(latency=0.01, failure_rate=0, lost_response_rate=0,
                                     rate_per_second=1000, vetting_seconds=0, db_path=db))
    queue = "registration-held"  # not the example worker's queue
    async with await Client.connect(env["PLAIT_ADDRESS"]) as client, Worker(
            client, task_queue=queue, workflows=[SmsRegistration],
            activities=RegistryActivities(registry).all()):
        handle = await client.start_workflow(SmsRegistration.run, req, id="registration-held",
                                             task_queue=queue)
        async def stage(want: str) -> bool | NotYet:
            st = await handle.query(SmsRegistration.status)
            return st.stage == want or NotYet(st)

        await eventually(lambda: stage("awaiting approval"), what="held awaiting approval",
                         timeout=20)
        await handle.signal(SmsRegistration.approve, "dana")
        await asyncio.wait_for(reached.wait(), 20)

        async def two_assigned() -> Any:
            st = await handle.query(SmsRegistration.status)
            return st if len(st.assigned) == 2 else NotYet(st)

        st = await eventually(two_assigned, what="two numbers assigned", timeout=20)
        assert st.stage == "assigning numbers" and sorted(st.assigned) == sorted(numbers[:2])

        await handle.cancel(reason="customer withdrew")

        async def cancel_handled() -> list[str] | NotYet:
            """The event types from the cancel request on, once a workflow task saw it."""
            types = [e.event_type for e in (await handle.fetch_history()).events]
            after = (types[types.index("WORKFLOW_EXECUTION_CANCEL_REQUESTED"):]
                     if "WORKFLOW_EXECUTION_CANCEL_REQUESTED" in types else [])
            return after if "WORKFLOW_TASK_COMPLETED" in after else NotYet(types)

        after_cancel = await eventually(cancel_handled, what="the cancel reaching the workflow")
        # Nothing is undone while a registration may still be happening: the task that saw
        # the cancel scheduled no activity, and the run goes on.
        assert "ACTIVITY_TASK_SCHEDULED" not in after_cancel, after_cancel
        assert (await handle.describe()).status == "RUNNING"
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT count(*) FROM journal WHERE op = 'deregister'"
                                ).fetchone() == (0,)
        release.set()
        with pytest.raises(WorkflowFailureError) as info:
            await handle.result()
        assert isinstance(info.value.cause, CancelledError)
    registry.close()

    with sqlite3.connect(db) as conn:
        undone = [(kind, key) for kind, key in conn.execute(
            "SELECT kind, key FROM journal WHERE op = 'deregister' ORDER BY seq")]
        left = conn.execute("SELECT count(*) FROM records").fetchone()
    assert undone == [*(("number", n) for n in reversed(numbers)),
                      ("campaign", "held-notifications"), ("brand", "held")]
    assert left == (0,)


def readme_file(name: str) -> str:
    """The code block of the README's tutorial that starts with ``# name``."""
    readme = (EXAMPLE.parents[1] / "README.md").read_text()
    blocks: list[str] = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    found = [b for b in blocks if b.startswith(f"# {name}\n")]
    assert len(found) == 1, f"the README has no single ```python block starting # {name}"
    return found[0]


def test_readme_tutorial_survives_a_killed_worker(env: dict[str, str], tmp_path: Path) -> None:
    """The tutorial as written, its timers shortened: kill -9 the worker, start another."""
    tutorial = readme_file("onboarding.py")
    short = tutorial.replace("workflow.sleep(timedelta(seconds=10))",
                             "workflow.sleep(timedelta(seconds=3))")
    assert short != tutorial
    (tmp_path / "onboarding.py").write_text(short)
    (tmp_path / "start.py").write_text(readme_file("start.py"))
    logs = [tmp_path / "worker1.log", tmp_path / "worker2.log"]

    def worker(log: Path) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "onboarding.py"], cwd=tmp_path, env=env,
                                stdout=log.open("w"), stderr=subprocess.STDOUT, text=True)

    first = worker(logs[0])
    starter = subprocess.Popen([sys.executable, "start.py"], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        subprocess.run([sys.executable, "-m", "plait", "workflow", "start", "Onboarding",
                        "--id", "onboarding-bob", "--task-queue", "onboarding",
                        "--input", '"bob@example.com"'], env=env, check=True, timeout=30,
                       capture_output=True)
        eventually_sync(lambda: logs[0].read_text().count("sending 'Welcome'") == 2,
                        what="both welcomes sent", timeout=20, interval=0.1)

        def asleep(wid: str) -> bool:
            events = json.loads(plait(env, "workflow", "show", wid, "--output", "json"))
            return "TIMER_STARTED" in [e["event_type"] for e in events["events"]]

        # Kill the worker once the welcomes are recorded: both workflows sleep on a timer.
        eventually_sync(lambda: asleep("onboarding-ada") and asleep("onboarding-bob"),
                        what="both welcomes recorded", timeout=20, interval=0.1)
        first.kill()
        first.wait()
        second = worker(logs[1])
        try:
            out, err = starter.communicate(timeout=60)
            assert starter.returncode == 0, err
            assert "'Tips and tricks -> ada@example.com'" in out
            bob = subprocess.run(
                [sys.executable, "-m", "plait", "workflow", "result", "onboarding-bob"],
                env=env, check=True, timeout=30, capture_output=True, text=True)
            assert json.loads(bob.stdout) == ["Welcome -> bob@example.com",
                                              "Getting started -> bob@example.com",
                                              "Tips and tricks -> bob@example.com"]
        finally:
            stop(second)
    finally:
        first.kill()
        if starter.poll() is None:
            starter.kill()
    resumed = logs[1].read_text()
    assert "sending 'Welcome'" not in resumed, resumed  # resumed, not restarted
    assert resumed.count("sending 'Tips and tricks'") == 2

    # Step 6: the exported history replays against the tutorial's code, and a reordering of
    # its steps is caught, naming the event and the line.
    replay_readme_history(env, tmp_path, short)


def replay_readme_history(env: dict[str, str], tmp_path: Path, tutorial: str) -> None:
    commands = readme_shell_block("plait replay")
    assert "plait workflow show onboarding-bob --output json > histories/onboarding-bob.json" \
        in commands
    assert "plait replay histories/ --workflows onboarding:Onboarding" in commands
    (tmp_path / "histories").mkdir()
    (tmp_path / "histories" / "onboarding-bob.json").write_text(
        plait(env, "workflow", "show", "onboarding-bob", "--output", "json"))

    def replay(*workflows: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "plait", "replay", "histories/",
                               *(a for w in workflows for a in ("--workflows", w))],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)

    same = replay("onboarding:Onboarding")
    assert same.returncode == 0, same.stderr
    assert same.stdout.startswith("ok: histories/onboarding-bob.json: ")

    guarded = "            if sent:\n                await workflow.sleep("
    assert guarded in tutorial
    changed = tutorial.replace(guarded, "            await workflow.sleep(")  # sleep first
    (tmp_path / "changed").mkdir()
    (tmp_path / "changed" / "onboarding.py").write_text(changed)
    sleep_line = changed.splitlines().index(next(
        ln for ln in changed.splitlines() if "await workflow.sleep(" in ln)) + 1
    broken = replay("changed/onboarding.py:Onboarding")
    assert broken.returncode == 1
    assert broken.stderr.count("\n") == 1 and "Traceback" not in broken.stderr
    assert ("history event 5 ACTIVITY_TASK_SCHEDULED (activity 'send_email', id 1) does not "
            "match what the code produced: start timer (id 1) at ") in broken.stderr
    assert broken.stderr.rstrip().endswith(f"onboarding.py:{sleep_line}"), broken.stderr


def readme_shell_block(containing: str) -> str:
    """The README's single ```sh block that contains ``containing``."""
    readme = (EXAMPLE.parents[1] / "README.md").read_text()
    found = [b for b in re.findall(r"```sh\n(.*?)```", readme, flags=re.S) if containing in b]
    assert len(found) == 1, f"the README has no single ```sh block with {containing!r}"
    return found[0]
