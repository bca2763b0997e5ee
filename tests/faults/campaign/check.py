"""The invariants, checked from the server's API (histories, descriptions, attempt logs) and
the workers' side-effect log after the faults stop and every workflow had time to close.

Violations (each must be 0): a lost workflow (acknowledged, never closed), a wrong result, a
run not closed exactly once, a history whose event ids are not 1, 2, 3, ..., a timer fired
early, an activity attempt that *started* after that activity's completion was recorded
(effects log time vs the completion event's time, one machine's clock), a signal or update
not delivered exactly once in acknowledgement order (uncertain calls at most once), a rate
limit exceeded (attempt-log start times), a corrupt SQLite file.
"""

from __future__ import annotations

import asyncio
import collections
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from plait import Client
from plait.errors import PlaitError
from tests.faults.campaign.app import expected
from tests.faults.campaign.faults import Fault
from tests.faults.campaign.workload import InboxLog, Ledger

CLOSED = {"WORKFLOW_EXECUTION_COMPLETED", "WORKFLOW_EXECUTION_FAILED",
          "WORKFLOW_EXECUTION_CANCELED", "WORKFLOW_EXECUTION_TERMINATED",
          "WORKFLOW_EXECUTION_TIMED_OUT", "WORKFLOW_EXECUTION_CONTINUED_AS_NEW"}
SLACK = 0.05  # server time stamps are taken per transaction: a few ms early
KINDS = ["lost", "wrong result", "not closed once", "history gap", "timer early",
         "start after completion", "signal/update", "rate limit", "sqlite integrity"]


@dataclass
class Report:
    violations: dict[str, list[str]] = field(
        default_factory=lambda: {k: [] for k in KINDS})
    workflows: int = 0
    runs: int = 0
    activities: int = 0
    reruns: int = 0  # activities with more than one attempt started (at-least-once: allowed)
    twice_same_attempt: int = 0  # one attempt number started twice (a re-offered dispatch)
    stale_starts: int = 0  # an older attempt started after the recorded one, before it ended
    late_by_fault: collections.Counter[str] = field(default_factory=collections.Counter)

    cancelled_before_first_task: int = 0  # its compensation must have run all the same
    suspects: set[str] = field(default_factory=set)  # workflow ids named by a violation

    def add(self, kind: str, evidence: str) -> None:
        self.violations[kind].append(evidence)
        if kind != "rate limit":
            self.suspects.add(evidence.split(":")[0].split("/")[0])

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.violations.values())


@dataclass
class Run:
    wid: str
    run_id: str
    events: list[Any]
    attempts: list[Any]


class Checker:
    def __init__(self, client: Client, ledger: Ledger, effects: Path, timeline: list[Fault],
                 rate: tuple[float, float]) -> None:
        self.client, self.ledger, self.timeline, self.rate = client, ledger, timeline, rate
        self.report = Report()
        self.starts: dict[tuple[str, str, str], list[dict[str, Any]]] = \
            collections.defaultdict(list)
        if effects.exists():
            for line in effects.read_text().splitlines():
                e = json.loads(line)
                if e["ev"] == "start":
                    self.starts[(e["wid"], e["run"], e["aid"])].append(e)
        self.limited_starts: list[float] = []
        self.gate = asyncio.Semaphore(20)

    async def check(self) -> Report:
        found = {w: s for w, s in self.ledger.maybe.items() if await self._exists(w)}
        jobs = [self._mixed(w, s) for w, s in {**self.ledger.mixed, **found}.items()]
        jobs += [self._inbox(w, log) for w, log in self.ledger.inboxes.items()]
        jobs += [self._sleeper(w) for w in self.ledger.sleepers]
        self.report.workflows = len(jobs)
        await asyncio.gather(*jobs)
        self._rate_limit()
        return self.report

    async def _exists(self, wid: str) -> bool:
        try:
            await self.client.get_workflow_handle(wid).describe()
            return True
        except PlaitError:
            return False

    # -- one workflow: its runs, newest first --------------------------------------------------
    async def _runs(self, wid: str, run_id: str | None = None) -> list[Run]:
        runs: list[Run] = []
        while True:
            async with self.gate:
                handle = self.client.get_workflow_handle(wid, run_id=run_id)
                history, desc = await handle.fetch_history(), await handle.describe()
            run = Run(wid, desc.run_id, history.events, desc.attempts)
            runs.append(run)
            self._run(run)
            for e in run.events:
                if e.event_type == "CHILD_WORKFLOW_EXECUTION_STARTED":
                    a = e.attributes
                    child = await self._runs(a["workflow_id"], a["run_id"])
                    self._closed_as(child[0], "WORKFLOW_EXECUTION_COMPLETED")
            prev = run.events[0].attributes.get("continued_from_run_id") if run.events else None
            if not prev:
                return runs
            run_id = prev

    async def _outcome(self, wid: str) -> list[Run] | None:
        try:
            runs = await self._runs(wid)
        except PlaitError as e:
            self.report.add("lost", f"{wid}: not found ({e})")
            return None
        last = runs[0].events[-1].event_type if runs[0].events else "none"
        if last not in CLOSED:
            self.report.add("lost", f"{wid}: still open, last event {last}")
            return None
        for older in runs[1:]:
            self._closed_as(older, "WORKFLOW_EXECUTION_CONTINUED_AS_NEW")
        return runs

    def _closed_as(self, run: Run, kind: str) -> None:
        if run.events and run.events[-1].event_type != kind:
            self.report.add("wrong result", f"{run.wid}/{run.run_id}: closed "
                            f"{run.events[-1].event_type}, expected {kind}")

    async def _mixed(self, wid: str, spec: dict[str, Any]) -> None:
        runs = await self._outcome(wid)
        if runs is None:
            return
        self.report.runs += len(runs)
        if len(runs) != spec["can"] + 1:
            self.report.add("wrong result", f"{wid}: {len(runs)} runs, expected "
                            f"{spec['can'] + 1}")
        got = _result(runs[0])
        if got != expected(wid, spec):
            self.report.add("wrong result", f"{wid}: {got!r} != {expected(wid, spec)!r}")

    async def _inbox(self, wid: str, log: InboxLog) -> None:
        runs = await self._outcome(wid)
        if runs is None:
            return
        self.report.runs += 1
        got = _result(runs[0])
        if not isinstance(got, list):
            self.report.add("wrong result", f"{wid}: {got!r}")
            return
        counts = collections.Counter(got)
        acked = [i for i in got if i in set(log.acked)]
        bad = [i for i, n in counts.items() if n > 1 or (i not in log.uncertain and
                                                          i not in set(log.acked))]
        if acked != log.acked or bad:
            self.report.add("signal/update", f"{wid}: got {got}, acknowledged {log.acked}, "
                            f"uncertain {sorted(log.uncertain)}")
        accepted = collections.Counter(
            e.attributes.get("update_id") for e in runs[0].events
            if e.event_type == "WORKFLOW_EXECUTION_UPDATE_ACCEPTED")
        twice = [u for u, n in accepted.items() if n > 1]
        if twice:
            self.report.add("signal/update", f"{wid}: updates accepted twice: {twice}")

    async def _sleeper(self, wid: str) -> None:
        """CANCELED with its compensation completed once, also when the cancel came before
        the workflow's first task completed (its code then receives it at its first await:
        docs/faults.md, finding 3)."""
        runs = await self._outcome(wid)
        if runs is None:
            return
        self.report.runs += 1
        events = runs[0].events
        self._closed_as(runs[0], "WORKFLOW_EXECUTION_CANCELED")
        undo = [e for e in events if e.event_type == "ACTIVITY_TASK_COMPLETED"]
        types = [e.event_type for e in events]
        early = "WORKFLOW_TASK_COMPLETED" not in types or types.index(
            "WORKFLOW_EXECUTION_CANCEL_REQUESTED") < types.index("WORKFLOW_TASK_COMPLETED")
        self.report.cancelled_before_first_task += early
        if len(undo) != 1:
            self.report.add("wrong result", f"{wid}: {len(undo)} compensations completed")

    # -- one run's history and attempts --------------------------------------------------------
    def _run(self, run: Run) -> None:
        events = run.events
        ids = [e.event_id for e in events]
        if ids != list(range(1, len(ids) + 1)):
            self.report.add("history gap", f"{run.wid}/{run.run_id}: {ids}")
        types = [e.event_type for e in events]
        closes = [t for t in types if t in CLOSED]
        if types.count("WORKFLOW_EXECUTION_STARTED") != 1 or len(closes) > 1 or (
                closes and types[-1] not in CLOSED):
            self.report.add("not closed once", f"{run.wid}/{run.run_id}: {closes}")
        by_id = {e.event_id: e for e in events}
        for e in events:
            if e.event_type == "TIMER_FIRED":
                started = by_id[e.attributes["started_event_id"]]
                took = (e.timestamp - started.timestamp).total_seconds()
                if took < started.attributes["duration"] - 1e-6:
                    self.report.add("timer early", f"{run.wid}/{run.run_id}: {took:.6f} s < "
                                    f"{started.attributes['duration']} s")
            if e.event_type == "ACTIVITY_TASK_COMPLETED":
                self._activity(run, e)
        types_of = {e.attributes["activity_id"]: e.attributes["activity_type"]
                    for e in events if e.event_type == "ACTIVITY_TASK_SCHEDULED"}
        self.limited_starts += [a.started_at.timestamp() for a in run.attempts
                                if types_of.get(a.activity_id) == "limited" and a.started_at]

    def _activity(self, run: Run, done: Any) -> None:
        """Attempt numbers order the starts: a higher one than the recorded attempt is always
        a violation; for the others (an earlier attempt number, or the recorded attempt
        started twice) the start time is compared with the time the
        completion was recorded (the later of the event's and the attempt log's time; server
        time stamps are per transaction, so a start must be later by more than ``SLACK``)."""
        self.report.activities += 1
        aid, recorded = done.attributes["activity_id"], done.attributes["attempt"]
        ended = [a.ended_at.timestamp() for a in run.attempts
                 if a.activity_id == aid and a.attempt == recorded and a.ended_at]
        at = max([done.timestamp.timestamp(), *ended])
        starts = sorted(self.starts.get((run.wid, run.run_id, aid), []), key=lambda s: s["t"])
        attempts = collections.Counter(s["attempt"] for s in starts)
        self.report.reruns += len(attempts) > 1
        self.report.twice_same_attempt += sum(n > 1 for n in attempts.values())
        own = next((s for s in starts if s["attempt"] == recorded), None)
        for s in starts:
            if s is own:
                continue
            if s["attempt"] <= recorded and s["t"] <= at + SLACK:
                # an older attempt, or the recorded one re-offered, that started after the
                # recorded one began: late, but before the completion was recorded
                self.report.stale_starts += own is not None and s["t"] > own["t"]
                continue
            cause, detail = self._blame(s)
            self.report.late_by_fault[cause] += 1
            self.report.add("start after completion", (
                f"{run.wid}/{run.run_id} activity {aid} ({done.attributes['activity_type']})"
                f": attempt {s['attempt']} started by pid {s['pid']} at {s['t']:.3f}, "
                f"{s['t'] - at:+.3f} s from attempt {recorded}'s recorded completion; "
                f"fault: {cause} {detail}"))

    def _blame(self, start: dict[str, Any]) -> tuple[str, str]:
        """The fault that most likely let a stale attempt start: a pause or a network fault
        of that very worker that ended shortly before, else the faults in the 10 s before."""
        for f in self.timeline:
            if f.detail.endswith(f"pid {start['pid']}") and f.start <= start["t"] <= f.end + 2:
                return f.kind, f"({f.detail}, ended {start['t'] - f.end:.2f} s before)"
        near = sorted({f.kind for f in self.timeline if f.start <= start["t"] <= f.end + 10})
        return "+".join(near) or "none", ""

    def _rate_limit(self) -> None:
        """Token bucket (``per_second``, ``burst``): any k starts within dt seconds need
        k <= burst + per_second * dt (plus 5 ms of clock slack)."""
        per_second, burst = self.rate
        ts = sorted(self.limited_starts)
        for i in range(len(ts)):
            j = i
            while j + 1 < len(ts) and ts[j + 1] - ts[i] < 30:
                j += 1
                k, dt = j - i + 1, ts[j] - ts[i]
                if k > burst + per_second * (dt + 0.005):
                    self.report.add("rate limit", f"{k} starts in {dt:.3f} s from {ts[i]:.3f}")
                    return


def _result(run: Run) -> Any:
    last = run.events[-1]
    if last.event_type != "WORKFLOW_EXECUTION_COMPLETED":
        return f"<{last.event_type}>"
    return last.attributes["result"]["data"]


async def dump_evidence(client: Client, wids: set[str], out: Path) -> None:
    """Every run's history and attempt log of each workflow a violation names, as JSON files
    in ``out``: the evidence outlives the rig (the SQLite tmpfs, the PostgreSQL cluster)."""
    out.mkdir(exist_ok=True)
    for wid in sorted(wids):
        runs, run_id = [], None
        try:
            while True:
                handle = client.get_workflow_handle(wid, run_id=run_id)
                history, desc = await handle.fetch_history(), await handle.describe()
                runs.append({"history": json.loads(history.to_json()),
                             "attempts": desc.raw.get("attempts")})
                run_id = history.events[0].attributes.get("continued_from_run_id")
                if not run_id:
                    break
        except PlaitError as e:
            runs.append({"error": str(e)})
        (out / f"{wid}.json").write_text(json.dumps(runs, indent=1, default=str))
