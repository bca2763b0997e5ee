"""Replay recorded histories: current code must reproduce them; changed code must not."""

from __future__ import annotations

from pathlib import Path

import pytest

from plait import History
from plait.errors import NonDeterminismError
from plait.testing import Replayer
from tests.replay.workflows import Onboarding, OnboardingNewArguments, OnboardingReordered

HISTORIES = Path(__file__).with_name("histories")


def onboarding() -> History:
    return History.from_json((HISTORIES / "onboarding.json").read_text())


async def test_recorded_history_replays() -> None:
    await Replayer(workflows=[Onboarding]).replay(onboarding())


async def test_changed_arguments_still_replay() -> None:
    await Replayer(workflows=[OnboardingNewArguments]).replay(onboarding())


async def test_reordered_steps_fail_naming_the_event() -> None:
    with pytest.raises(NonDeterminismError) as info:
        await Replayer(workflows=[OnboardingReordered]).replay(onboarding())
    message = str(info.value)
    assert "event 5 ACTIVITY_TASK_SCHEDULED" in message
    assert "start timer" in message and "workflows.py" in message


async def test_truncated_code_fails() -> None:
    """Code that stops early leaves recorded commands unproduced."""
    text = (HISTORIES / "onboarding.json").read_text().replace('"register"', '"renamed"', 1)
    with pytest.raises(NonDeterminismError, match="renamed"):
        await Replayer(workflows=[Onboarding]).replay(History.from_json(text))


async def test_newer_history_format_is_refused() -> None:
    text = (HISTORIES / "onboarding.json").read_text().replace('"format":1', '"format":99')
    with pytest.raises(ValueError, match="newer"):
        History.from_json(text)
