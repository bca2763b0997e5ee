"""Fixtures of the server's unit tests: state changes run without HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from plait.server.service import Service
from plait.store.sqlite import SQLiteStore


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Service]:
    """A server's state-change service on a fresh SQLite store (a test module may define its
    own, as ``test_handoff`` does to count the store's writes)."""
    store = SQLiteStore(str(tmp_path / "core.db"))
    try:
        yield Service(store)
    finally:
        await store.close()
