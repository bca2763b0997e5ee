"""Migrations: one canonical schema per backend, the same tables, columns and indexes in both;
recorded once per version; safe when several servers start at once."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any

import psycopg

from plait.store.postgres import PostgresStore, migrate
from plait.store.queries import migrations
from plait.store.sqlite import SQLiteStore

Schema = dict[str, Any]
TYPES = {"text": "text", "integer": "integer", "bigint": "integer", "real": "real",
         "double precision": "real"}


def sqlite_schema(path: str) -> Schema:
    conn = sqlite3.connect(path)
    out: Schema = {}
    tables = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    for table in tables:
        cols = conn.execute(f"PRAGMA table_info({table})").fetchall()
        pk = [c[1] for c in sorted(cols, key=lambda c: c[5]) if c[5]]
        indexes = {}
        for _, name, unique, origin, _ in conn.execute(f"PRAGMA index_list({table})"):
            if origin == "pk":
                continue
            columns = [r[2] for r in conn.execute(f"PRAGMA index_info({name})")]
            indexes[name] = (tuple(columns), bool(unique))
        out[table] = {
            "columns": {c[1]: (TYPES[c[2].lower()], bool(c[3]) or c[1] in pk) for c in cols},
            "primary_key": tuple(pk), "indexes": indexes}
    conn.close()
    return out


def postgres_schema(url: str) -> Schema:
    out: Schema = {}
    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema()")]
        for table in tables:
            cols = conn.execute(
                "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = %s", (table,)).fetchall()
            indexes: dict[str, Any] = {}
            pk: tuple[str, ...] = ()
            for name, columns, unique, primary in conn.execute(
                    "SELECT i.relname, array_agg(a.attname ORDER BY k.n), x.indisunique, "
                    "x.indisprimary FROM pg_index x "
                    "JOIN pg_class i ON i.oid = x.indexrelid "
                    "JOIN pg_class t ON t.oid = x.indrelid "
                    "JOIN pg_namespace s ON s.oid = t.relnamespace "
                    "CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, n) "
                    "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum "
                    "WHERE t.relname = %s AND s.nspname = current_schema() "
                    "GROUP BY i.relname, x.indisunique, x.indisprimary", (table,)):
                if primary:
                    pk = tuple(columns)
                else:
                    indexes[name] = (tuple(columns), unique)
            out[table] = {
                "columns": {c[0]: (TYPES[c[1]], c[2] == "NO") for c in cols},
                "primary_key": pk, "indexes": indexes}
    return out


async def test_both_backends_end_with_the_same_schema(tmp_path: Path, pg_url: str) -> None:
    path = str(tmp_path / "p.db")
    await SQLiteStore(path).close()
    await PostgresStore(pg_url).close()
    lite, pg = sqlite_schema(path), postgres_schema(pg_url)
    assert set(lite) == set(pg)
    for table in lite:
        assert lite[table] == pg[table], table
    assert {"executions", "events", "tasks", "timers", "attempts", "sessions", "requests",
            "namespaces", "current_runs", "schema_migrations"} <= set(lite)


def test_each_backend_has_every_migration_under_the_same_name() -> None:
    lite, pg = migrations("sqlite"), migrations("postgres")
    assert [(v, n) for v, n, _ in lite] == [(v, n) for v, n, _ in pg]
    assert [v for v, _, _ in lite] == list(range(1, len(lite) + 1))


async def test_migrations_are_recorded_once_and_reopening_applies_nothing(
        db_url: str, backend: str) -> None:
    for _ in range(2):
        if backend == "sqlite":
            await SQLiteStore(db_url[len("sqlite:///"):]).close()
        else:
            await PostgresStore(db_url).close()
    expected = [(v, n) for v, n, _ in migrations(backend)]
    if backend == "sqlite":
        conn = sqlite3.connect(db_url[len("sqlite:///"):])
        rows = conn.execute("SELECT version, name FROM schema_migrations ORDER BY 1").fetchall()
        conn.close()
    else:
        with psycopg.connect(db_url) as pconn:
            rows = pconn.execute("SELECT version, name FROM schema_migrations ORDER BY 1"
                                 ).fetchall()
    assert [tuple(r) for r in rows] == expected


def test_servers_starting_together_migrate_once(pg_url: str) -> None:
    """Eight servers migrating one empty database at the same moment: no errors, each
    migration applied once."""
    barrier = threading.Barrier(8)
    applied: list[list[str]] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            with psycopg.connect(pg_url, autocommit=True) as conn:
                barrier.wait()
                applied.append(migrate(conn))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    names = [n for _, n, _ in migrations("postgres")]
    assert sorted(n for a in applied for n in a) == sorted(names)  # once each, in all
    with psycopg.connect(pg_url) as conn:
        count = conn.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()
    assert count is not None and count[0] == len(names)


async def test_stores_opening_together_all_work(pg_url: str) -> None:
    stores = await asyncio.gather(*(asyncio.to_thread(PostgresStore, pg_url) for _ in range(4)))
    try:
        assert all([await s.healthy() for s in stores])
    finally:
        for s in stores:
            await s.close()
