"""Load the named queries of ``sql/queries.sql`` once, in each backend's parameter style."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import cache
from importlib import resources
from typing import Any

__all__ = ["DataStep", "data_steps", "load_queries", "migrations"]

DataStep = Callable[[Any, Mapping[str, str]], None]
"""A migration's data step: called with a cursor inside the migration's transaction, after
its SQL, and the backend's named queries."""

_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


@cache
def load_queries(paramstyle: str, dialect: str | None = None) -> dict[str, str]:
    """The queries of ``sql/queries.sql``; with ``dialect``, those of ``sql/<dialect>.sql``
    replace the ones of the same name (and add their own)."""
    queries = _parse(resources.files("plait.store").joinpath("sql/queries.sql").read_text(),
                     paramstyle)
    if dialect is not None:
        queries.update(_parse(resources.files("plait.store")
                              .joinpath(f"sql/{dialect}.sql").read_text(), paramstyle))
    return queries


def _parse(text: str, paramstyle: str) -> dict[str, str]:
    parts = _NAME.split(text)
    queries = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        sql = "\n".join(
            line for line in body.splitlines() if not line.lstrip().startswith("--")
        ).strip().rstrip(";")
        if paramstyle == "pyformat":
            sql = re.sub(r"(?<!:):(\w+)", r"%(\1)s", sql)
        queries[name] = sql
    return queries


def migrations(backend: str) -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration of ``backend`` ("sqlite" or "postgres"), in order.

    Each backend has its own folder with the same version numbers and file names: one
    canonical schema per backend, written in its own dialect (a test checks that both end
    up with the same tables, columns and indexes).
    """
    folder = resources.files("plait.store").joinpath("migrations", backend)
    out = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            out.append((int(entry.name.split("_", 1)[0]), entry.name, entry.read_text()))
    return sorted(out)


def data_steps() -> dict[int, DataStep]:
    """The migrations whose data needs Python, by version: the canonical form of indexed
    values lives in one place (``search_index``), not in two SQL dialects."""
    from plait.store import search_index

    return {3: search_index.backfill}
