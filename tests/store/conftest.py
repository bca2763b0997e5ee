"""The conformance suite's fixtures: the same tests run on every backend.

``store`` is a fresh, migrated store: SQLite in a temporary directory, or PostgreSQL in a
schema of its own (created for the test, dropped after it), so tests run in any order.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from plait.store import postgres
from plait.store.base import Store
from plait.store.postgres import PostgresStore
from plait.store.sqlite import SQLiteStore
from tests.store.pgdb import fresh_schema

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A database URL for ``backend``, empty and this test's own."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'plait.db'}"
    else:
        with fresh_schema() as url:
            yield url


@pytest.fixture
async def store(backend: str, db_url: str) -> AsyncIterator[Store]:
    s: Store = (SQLiteStore(db_url[len("sqlite:///"):]) if backend == "sqlite"
                else PostgresStore(db_url))
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL schema of this test's own, for PostgreSQL-only tests."""
    with fresh_schema() as url:
        yield url


@pytest.fixture
async def one_thread_pg(pg_url: str) -> AsyncIterator[PostgresStore]:
    """A PostgreSQL store with one thread and one connection: what is queued runs in order,
    on one connection whose round trips can be counted exactly."""
    s = PostgresStore(pg_url, pool_size=1)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def grouped_pg(one_thread_pg: PostgresStore, monkeypatch: pytest.MonkeyPatch) -> PostgresStore:
    """``one_thread_pg`` with group commit on, whatever ``PLAIT_PG_GROUP`` and
    ``PLAIT_PG_PIPELINE`` say: changes queued together run as one group, in order."""
    monkeypatch.setattr(postgres, "PIPELINE", True)
    monkeypatch.setattr(postgres, "GROUP", 8)
    return one_thread_pg
