"""One fault campaign: build the rig, run the workload under random faults, heal, let every
workflow close, check the invariants, and summarise (faults by kind, workflows, violations).
"""

from __future__ import annotations

import asyncio
import collections
import json
import random
import sqlite3
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from plait import Client
from plait.errors import PlaitError
from tests.faults.campaign.check import Checker, Report, dump_evidence
from tests.faults.campaign.faults import Injector
from tests.faults.campaign.rig import QUEUE, Rig
from tests.faults.campaign.workload import Ledger, Workload

RATE = (4.0, 2.0)  # the ``limited`` activity: per second, burst


@dataclass
class Profile:
    backend: str
    faults: int
    seed: int
    fault_lanes: int = 3
    workload_lanes: int = 6
    servers: int = 2
    workers: int = 4
    session_expiry: float = 2.0
    gap: tuple[float, float] = (0.0, 1.0)
    kinds: list[str] | None = None  # None: every fault the backend supports


@dataclass
class Summary:
    profile: dict[str, Any]
    seconds: float
    faults: dict[str, int]
    workflows: int
    runs: int
    activities: int
    violations: dict[str, int]
    evidence: dict[str, list[str]]
    reruns: int
    twice_same_attempt: int
    stale_starts: int
    cancelled_before_first_task: int
    late_starts_by_fault: dict[str, int]
    calls: dict[str, int]
    observations: list[str]
    broken_disk: dict[str, int] = field(default_factory=dict)
    orphaned_leases: list[str] = field(default_factory=list)  # lost: leased to a dead session

    @property
    def total_violations(self) -> int:
        return sum(self.violations.values())


async def run_campaign(tmp: Path, p: Profile,
                       say: Callable[[str], None] = print) -> Summary:
    began = time.monotonic()
    rig = Rig(tmp, p.backend, servers=p.servers, workers=p.workers,
              session_expiry=p.session_expiry)
    try:
        for i in range(len(rig.servers)):
            rig.start_server(i)
        for slot in range(len(rig.workers)):
            rig.start_worker(slot)
        say(f"campaign {p.backend} seed {p.seed}: {len(rig.servers)} server(s), "
            f"{len(rig.workers)} workers, {p.faults} faults; files in {tmp}")
        clients = [await Client.connect(rig.address(i)) for i in range(len(rig.servers))]
        try:
            summary = await _campaign(rig, clients, p, say)
        finally:
            for c in clients:
                await c.close()
        rig.stop()
        if p.backend == "sqlite":
            _integrity(rig, summary)
        summary.seconds = round(time.monotonic() - began, 1)
        (tmp / "summary.json").write_text(json.dumps(asdict(summary), indent=1))
        return summary
    finally:
        rig.stop()
        rig.unmount()


async def _campaign(rig: Rig, clients: list[Client], p: Profile,
                    say: Callable[[str], None]) -> Summary:
    await clients[0].set_rate_limit(task_queue=QUEUE, activity_type="limited",
                                    per_second=RATE[0], burst=int(RATE[1]))
    ledger = Ledger()
    target = f"s{p.seed}-target"
    await clients[0].start_workflow("Inbox", id=target, task_queue=QUEUE)
    injector = Injector(rig, random.Random(p.seed), ledger, target, p.kinds)
    workload = Workload(clients, random.Random(p.seed + 1), ledger, f"s{p.seed}")
    load = asyncio.create_task(workload.run(p.workload_lanes))
    progress = asyncio.create_task(_progress(injector, ledger, p.faults, say))
    await injector.run(p.faults, p.fault_lanes, p.gap)
    progress.cancel()
    workload.stopping = True
    await asyncio.to_thread(_heal, rig)
    say(f"faults done ({len(injector.timeline)}); letting every workflow close")
    try:  # lanes finish their scenario; a stuck workflow is the checker's to report
        await asyncio.wait_for(load, 120)
    except TimeoutError:
        injector.observations.append("the workload did not wind down in 120 s")
    await workload.close(target)
    await _settle(clients[0], ledger)
    report = await Checker(clients[0], ledger, rig.effects, injector.timeline,
                           RATE).check()
    orphans = await asyncio.to_thread(_orphaned_leases, rig, report)
    _save(rig.tmp, injector, report)
    await dump_evidence(clients[0], report.suspects, rig.tmp / "evidence")
    if rig.refused_starts:
        injector.observations.append(
            f"{rig.refused_starts} server start(s) exited at once "
            "(the database was down or failing)")
    summary = _summary(p, injector, ledger, report)
    summary.orphaned_leases = orphans
    return summary


async def _progress(injector: Injector, ledger: Ledger, total: int,
                    say: Callable[[str], None]) -> None:
    while True:
        await asyncio.sleep(30)
        say(f"  {len(injector.timeline)}/{total} faults, "
            f"{len(ledger.mixed) + len(ledger.inboxes) + len(ledger.sleepers)} workflows")


def _heal(rig: Rig) -> None:
    """Undo whatever a fault left behind (the lanes heal their own; this is a safety net)."""
    rig.fail_fsync(False)
    rig.free_disk()
    for proxy in rig.proxies:
        proxy.heal()
    for proc in [*rig.workers, *rig.servers]:
        if proc is not None and proc.pid in rig.stopped:
            rig.resume(proc)
    for i, proc in enumerate(rig.servers):
        if proc is None:
            rig.start_server(i)
        rig.wait_health(i, 60)
    for slot, w in enumerate(rig.workers):
        if w is None:
            rig.start_worker(slot)


async def _settle(client: Client, ledger: Ledger, timeout: float = 180) -> None:
    """Wait (on the server's word) until every tracked workflow is closed, or the timeout:
    whatever is still open then is reported lost by the checker."""
    ids = [*ledger.mixed, *ledger.maybe, *ledger.inboxes, *ledger.sleepers]
    deadline = time.monotonic() + timeout
    for wid in ids:
        while time.monotonic() < deadline:
            try:
                desc = await client.get_workflow_handle(wid).describe()
            except PlaitError:
                break
            if desc.status != "RUNNING":
                break
            await asyncio.sleep(0.2)


def _summary(p: Profile, injector: Injector, ledger: Ledger, report: Report) -> Summary:
    kinds = collections.Counter(f.kind for f in injector.timeline)
    return Summary(
        profile=asdict(p), seconds=0.0, faults=dict(sorted(kinds.items())),
        workflows=report.workflows, runs=report.runs, activities=report.activities,
        violations={k: len(v) for k, v in report.violations.items()},
        evidence={k: v[:20] for k, v in report.violations.items() if v},
        reruns=report.reruns, twice_same_attempt=report.twice_same_attempt,
        stale_starts=report.stale_starts,
        cancelled_before_first_task=report.cancelled_before_first_task,
        late_starts_by_fault=dict(report.late_by_fault), calls=dict(sorted(ledger.calls.items())),
        observations=injector.observations, broken_disk=_broken_disk(injector))


def _broken_disk(injector: Injector) -> dict[str, int]:
    """How the server answered a write while its disk was full or failed fsync, and whether
    it took writes again afterwards, counted by kind (details: ``timeline.jsonl``)."""
    out: collections.Counter[str] = collections.Counter()
    for f in injector.timeline:
        if f.kind in ("disk_full", "fsync_fail"):
            during, _, after = f.detail.partition("; ")
            out[f"{f.kind}: {during.split('answered ')[-1]} then {after}"] += 1
    return dict(sorted(out.items()))


def _save(tmp: Path, injector: Injector, report: Report) -> None:
    """The whole timeline and every violation's evidence, next to ``summary.json``."""
    with open(tmp / "timeline.jsonl", "w") as f:
        for fault in injector.timeline:
            f.write(json.dumps(asdict(fault)) + "\n")
    with open(tmp / "violations.txt", "w") as f:
        for kind, lines in report.violations.items():
            f.writelines(f"{kind}: {line}\n" for line in lines)


def _orphaned_leases(rig: Rig, report: Report) -> list[str]:
    """On PostgreSQL, the tasks of lost workflows that are leased to a session the
    ``sessions`` table no longer holds (docs/faults.md, finding 2), read from the database:
    the API cannot tell that apart from other ways of getting stuck."""
    lost = {e.split(":")[0] for e in report.violations["lost"]}
    if rig.backend != "postgres" or not lost:
        return []
    with psycopg.connect(rig.db_url) as conn:
        rows = conn.execute(
            "SELECT workflow_id, kind, lease_session FROM tasks WHERE workflow_id = ANY(%s)"
            " AND lease_session IS NOT NULL AND lease_session NOT IN"
            " (SELECT session_id FROM sessions)", (sorted(lost),)).fetchall()
    return [f"{wid} {kind} task leased to {session}" for wid, kind, session in rows]


def _integrity(rig: Rig, summary: Summary) -> None:
    """``PRAGMA integrity_check`` on the SQLite file once its server is gone."""
    db = rig.db_url.removeprefix("sqlite:///")
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
    finally:
        conn.close()
    if rows != [("ok",)]:
        summary.violations["sqlite integrity"] = 1
        summary.evidence["sqlite integrity"] = [str(rows[:10])]


def format_summary(s: Summary) -> str:
    kinds = ", ".join(f"{k} {n}" for k, n in s.faults.items())
    lines = [f"backend {s.profile['backend']}, seed {s.profile['seed']}, {s.seconds} s",
             f"faults: {sum(s.faults.values())} ({kinds})",
             f"workflows: {s.workflows} ({s.runs} runs, {s.activities} activities completed, "
             f"{s.reruns} run more than once, {s.twice_same_attempt} attempts started twice, "
             f"{s.stale_starts} older attempts started after the recorded one but before "
             "its completion)",
             f"violations: {s.total_violations} "
             f"({', '.join(f'{k} {n}' for k, n in s.violations.items())})"]
    if s.late_starts_by_fault:
        lines.append(f"starts after a recorded completion, by fault: {s.late_starts_by_fault}")
    lines.append(f"client calls: {s.calls}")
    lines.append("cancelled before their first task (compensated all the same): "
                 f"{s.cancelled_before_first_task}")
    lines += [f"broken disk: {k}: {n}" for k, n in s.broken_disk.items()]
    lines += [f"orphaned lease: {o}" for o in s.orphaned_leases]
    lines += [f"observation: {o}" for o in s.observations]
    for kind, ev in s.evidence.items():
        lines += [f"  {kind}: {e}" for e in ev[:5]]
    return "\n".join(lines)
