"""The examples end to end on a real server: the registration example, and the README's
tutorial as written (so the docs cannot rot).

The simulated registry keeps failing transiently, losing responses and rate-limiting, so this
also checks that retries get every registration through and that the activities are
idempotent: however often they were retried, the registry holds each record once.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(90)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "registration"
# Quick, but still misbehaving: every run sees retries, lost responses and 429s.
REGISTRY = {"FAKE_REGISTRY_LATENCY": "0.05", "FAKE_REGISTRY_FAILURE_RATE": "0.1",
            "FAKE_REGISTRY_LOST_RESPONSE_RATE": "0.1", "FAKE_REGISTRY_RATE_PER_SECOND": "5",
            "FAKE_REGISTRY_VETTING_SECONDS": "0.5"}


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
                          capture_output=True, text=True, timeout=60)


def records(env: dict[str, str], kind: str) -> list[str]:
    with sqlite3.connect(env["FAKE_REGISTRY_DB"]) as db:
        return [k for (k,) in db.execute("SELECT key FROM records WHERE kind = ?", (kind,))]


def test_every_registration_completes_and_registers_once(env: dict[str, str]) -> None:
    proc = run_start(env, "-n", "3", "--numbers", "3", "--prefix", "happy")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    completed = [ln for ln in proc.stdout.splitlines() if ln.startswith("COMPLETED")]
    assert len(completed) == 3, proc.stdout
    assert all("3 numbers assigned" in ln for ln in completed)

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


def readme_file(name: str) -> str:
    """The code block of the README's tutorial that starts with ``# name``."""
    readme = (EXAMPLE.parents[1] / "README.md").read_text()
    blocks: list[str] = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    found = [b for b in blocks if b.startswith(f"# {name}\n")]
    assert len(found) == 1, f"the README has no single ```python block starting # {name}"
    return found[0]


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


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
        wait_for(lambda: logs[0].read_text().count("sending 'Welcome'") == 2)
        time.sleep(1)  # the welcomes are recorded; both workflows sleep
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
