"""Load the named queries of ``sql/queries.sql`` once, in each backend's parameter style."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

__all__ = ["load_queries", "migrations"]

_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


@cache
def load_queries(paramstyle: str) -> dict[str, str]:
    text = resources.files("plait.store").joinpath("sql/queries.sql").read_text()
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


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration, in order."""
    folder = resources.files("plait.store").joinpath("migrations")
    out = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            out.append((int(entry.name.split("_", 1)[0]), entry.name, entry.read_text()))
    return sorted(out)
