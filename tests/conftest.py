"""Shared fixtures: an in-process environment per test, and a unique task queue."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from plait.testing import WorkflowEnvironment


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    async with WorkflowEnvironment.start_local(session_expiry=3.0) as e:
        yield e


@pytest.fixture
def queue() -> str:
    return f"q-{uuid.uuid4().hex[:8]}"
