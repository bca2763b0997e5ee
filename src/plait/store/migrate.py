"""The one migration runner: ordered plain-SQL files, each applied in one transaction with its
bookkeeping row, for every backend.

A backend says only how to open a migration's transaction (holding whatever lock makes
servers starting together apply each migration once), how to run a file's SQL, and its
parameter style; the order, the bookkeeping, data steps and the "database is newer" warning
are written here once.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any, Protocol

from plait.store.queries import data_steps, migrations

__all__ = ["MigrationTarget", "migrate"]

log = logging.getLogger("plait.store")


class MigrationTarget(Protocol):
    backend: str
    """The folder of migrations: "sqlite" or "postgres"."""
    placeholder: str
    """The DB-API parameter marker: "?" or "%s"."""
    real: str
    """The column type of a float: "REAL" or "DOUBLE PRECISION"."""
    queries: dict[str, str]
    """The named queries, for a migration's data step."""

    def transaction(self) -> contextlib.AbstractContextManager[Any]:
        """One migration's transaction (with the lock that serialises migrating servers);
        yields a cursor, commits on leaving, rolls back on an error."""
        ...

    def run_script(self, cur: Any, sql: str) -> None:
        """Run a migration file's statements."""
        ...


def migrate(target: MigrationTarget) -> list[str]:
    """Apply the missing migrations in order; returns the names applied."""
    applied = []
    steps = data_steps()
    known = migrations(target.backend)
    p = target.placeholder
    for version, name, sql in known:
        with target.transaction() as cur:
            cur.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER "
                        f"PRIMARY KEY, name TEXT NOT NULL, applied_at {target.real} NOT NULL)")
            cur.execute(f"SELECT 1 FROM schema_migrations WHERE version = {p}", (version,))
            if cur.fetchone():
                continue
            target.run_script(cur, sql)
            if version in steps:
                steps[version](cur, target.queries)
            cur.execute(f"INSERT INTO schema_migrations VALUES ({p}, {p}, {p})",
                        (version, name, time.time()))
        applied.append(name)
        log.info("applied migration %s", name)
    _warn_if_newer(target, max((v for v, _, _ in known), default=0))
    return applied


def _warn_if_newer(target: MigrationTarget, known: int) -> None:
    with target.transaction() as cur:
        cur.execute("SELECT MAX(version) FROM schema_migrations")
        newest = cur.fetchone()
    if newest and newest[0] and newest[0] > known:
        log.warning("the database has schema version %s; this plait knows up to %s",
                    newest[0], known)

