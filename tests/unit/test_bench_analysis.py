"""The benchmark's own arithmetic for R, W5 and W6 (no processes: those runs are too long for
the suite; ``python -m bench compare --quick --only R,W5,W6,W7`` is their smoke test)."""

from __future__ import annotations

from pathlib import Path

from bench import growth, recovery
from bench.peers import driver


def test_recovery_counts_only_steps_that_ended_before_the_kill(tmp_path: Path) -> None:
    log = tmp_path / "steps.log"
    lines = []
    for i in range(1, 5):
        lines += [f"start {i} 10 {i}.0", f"end {i} 10 {i}.3"]
    lines += ["start 5 10 5.0",                              # killed at 5.1
              "start 4 11 6.0", "end 4 11 6.3",              # a completed step ran again
              "start 5 11 6.4", "end 5 11 6.7"]
    log.write_text("\n".join(lines) + "\n")
    a = recovery.analyse(log, t_kill=5.1)
    assert a["reruns"] == 1
    assert a["completed_before_kill"] == [1, 2, 3, 4]
    assert a["step5_again_at"] == 6.4
    assert a["missing_steps"] == list(range(6, 11))


def test_w5_compares_the_first_and_last_tenth() -> None:
    stamps = [i * 0.01 for i in range(50)] + [0.49 + i * 0.02 for i in range(1, 51)]
    m, errs = growth.step_metrics(stamps, 100)
    assert not errs
    assert round(m["first_step_ms"], 6) == 10.0
    assert round(m["last_step_ms"], 6) == 20.0
    assert round(m["last_over_first"], 6) == 2.0
    _, errs = growth.step_metrics(stamps[:99], 100)
    assert errs


def test_w6_mix_adds_up() -> None:
    exp = driver.w6_expected(100_003)
    assert sum(exp.values()) == 100_003
    assert exp == {"OneStep": 60_003, "ThreeSteps": 30_000, "IdleOnSignal": 10_000}
