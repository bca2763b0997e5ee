"""The pieces of the limits: the per-key token bucket, the limits' own checks, the counts a
run keeps for them (docs/operations.md "Limits")."""

from __future__ import annotations

import pytest

from plait.server.config import RunLimits
from plait.server.key_rates import MAX_KEYS, KeyRates
from plait.store.run_state import RunState


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_holds_a_seconds_worth_and_refills_at_the_rate() -> None:
    clock = Clock()
    rates = KeyRates(4.0, clock)
    assert [rates.take("k") for _ in range(4)] == [0.0] * 4
    assert rates.take("k") == pytest.approx(0.25)  # a token comes every 1/4 s
    assert rates.take("other") == 0.0  # each key has its own
    clock.now += 0.25
    assert rates.take("k") == 0.0
    assert rates.take("k") > 0
    clock.now += 10.0  # idle: full again, never more than the burst
    assert [rates.take("k") for _ in range(5)].count(0.0) == 4


def test_a_slow_rate_still_lets_one_request_through() -> None:
    clock = Clock()
    rates = KeyRates(0.5, clock)
    assert rates.take("k") == 0.0
    assert rates.take("k") == pytest.approx(2.0)
    assert KeyRates.retry_after(0.01) == "1" and KeyRates.retry_after(2.0) == "2"
    assert KeyRates.retry_after(2.1) == "3"


def test_idle_buckets_are_forgotten_when_there_are_too_many() -> None:
    clock = Clock()
    rates = KeyRates(1.0, clock)
    for n in range(MAX_KEYS):
        rates.take(f"k{n}")
    clock.now += 5.0  # all refilled
    rates.take("busy")
    assert len(rates._buckets) == 1


def test_limits_refuse_nonsense() -> None:
    assert RunLimits().max_history_events == 50_000
    assert RunLimits().max_history_bytes == 50 * 1024 * 1024
    with pytest.raises(ValueError, match="max_signals must be a whole number of at least 1"):
        RunLimits(max_signals=0)


def test_the_counts_are_kept_in_the_run_state_and_old_rows_load() -> None:
    state = RunState.decode('{"task_timeout": 10.0}')
    assert (state.history_bytes, state.pending_activities, state.signals) == (0, 0, 0)
    state.history_bytes, state.pending_activities, state.signals = 1234, 2, 3
    state.history_warned = True
    again = RunState.decode(state.encode())
    assert (again.history_bytes, again.pending_activities, again.signals, again.history_warned) == (
        1234,
        2,
        3,
        True,
    )
    assert "history_bytes" not in RunState().encode()  # defaults are not written
