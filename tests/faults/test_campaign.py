"""The fault campaign's short profile: both backends, a few dozen random faults each
(kill -9 and SIGSTOP of workers and servers, partitions and latency, PostgreSQL killed,
a full disk and failing fsync under SQLite, clients killed mid-call), then every invariant.

The seed is printed and kept in the failure message; rerun one with
``python -m tests.faults.campaign --backend B --faults N --seed S``. The long profile and its
figures are in docs/faults.md.

Known defects: a worker paused or silently cut off past its session expiry may start an
attempt whose activity's completion was already recorded (being fixed elsewhere); on
PostgreSQL a task leased to a session that no longer exists is never re-dispatched, so its
workflow never closes (docs/faults.md, finding 2: the lost workflow's task is seen leased to a
missing session in the database). While those show up, and only those, the test is an
expected failure (xfail) naming the evidence; any other violation fails.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from tests.faults.campaign.campaign import Profile, Summary, format_summary, run_campaign

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

KNOWN = "start after completion"


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_short_campaign(backend: str, tmp_path: Path) -> None:
    seed = int(os.environ.get("PLAIT_CAMPAIGN_SEED", random.randrange(1 << 30)))
    profile = Profile(backend, faults=40, seed=seed, workload_lanes=5)
    summary = await run_campaign(tmp_path, profile)
    text = format_summary(summary)
    print(text)
    others = {k: n for k, n in summary.violations.items() if n and k != KNOWN}
    orphaned = {o.split()[0] for o in summary.orphaned_leases}
    if others.get("lost") and len(orphaned) == others["lost"]:
        del others["lost"]  # every lost workflow is the orphaned-lease defect
    assert not others, f"seed {seed}:\n{text}"
    assert sum(summary.faults.values()) == 40, text
    assert summary.workflows >= 10, text
    _known_defect(summary, seed, text)


def _known_defect(summary: Summary, seed: int, text: str) -> None:
    if summary.orphaned_leases:
        pytest.xfail(f"known defect, seed {seed}: {summary.violations['lost']} workflow(s) "
                     f"stuck on a task leased to a session that no longer exists\n{text}")
    if summary.violations[KNOWN]:
        pytest.xfail(f"known defect, seed {seed}: {summary.violations[KNOWN]} activity "
                     f"attempt(s) started after the completion was recorded, by fault "
                     f"{summary.late_starts_by_fault}\n{text}")
