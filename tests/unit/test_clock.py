"""The server clock: real time unless it skips, and skipped time never goes back."""

from __future__ import annotations

import time

import pytest

from plait.server.clock import Clock


def test_a_real_clock_is_wall_time_and_refuses_to_skip() -> None:
    clock = Clock()
    assert abs(clock.now() - time.time()) < 0.1
    with pytest.raises(RuntimeError, match="does not skip"):
        clock.advance_to(clock.now() + 60)


def test_a_skipping_clock_jumps_forward_only() -> None:
    clock = Clock(skipping=True)
    target = time.time() + 30 * 86400
    assert clock.advance_to(target) > 30 * 86400 - 1
    assert clock.now() >= target
    assert clock.advance_to(target - 3600) == 0.0  # in the past: nothing moves
    assert clock.now() >= target
    assert clock.datetime().timestamp() >= target
