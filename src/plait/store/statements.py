"""The plumbing under every store operation: a DB-API cursor and the backend's named queries.

Only the store runs a query by its name (the ``_exec`` family is private to ``plait.store``);
the server calls the typed operations built on them, which return rows as dataclasses.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from typing import Any

from plait.protocol.jsoncodec import dumps_str

__all__ = ["Params", "Statements"]

Params = dict[str, object]
"""A statement's bind parameters by name (values of any column type)."""

_savepoints = itertools.count(1)


class Statements:
    """Named queries over one open transaction's cursor."""

    def __init__(self, cursor: Any, queries: dict[str, str]) -> None:
        self.cur = cursor
        self.q = queries

    def _exec(self, name: str, **params: Any) -> Any:
        self.cur.execute(self.q[name], params)
        return self.cur

    def _one(self, name: str, **params: Any) -> Any:
        return self._exec(name, **params).fetchone()

    def _all(self, name: str, **params: Any) -> list[Any]:
        return list(self._exec(name, **params).fetchall())

    def _scalar(self, name: str, **params: Any) -> Any:
        row = self._one(name, **params)
        return row[0] if row else None

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        """Run a block that, if it raises, rolls back alone (the rest of the transaction stays)."""
        name = f"sp{next(_savepoints)}"
        self.cur.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self.cur.execute(f"ROLLBACK TO SAVEPOINT {name}")
            self.cur.execute(f"RELEASE SAVEPOINT {name}")
            raise
        self.cur.execute(f"RELEASE SAVEPOINT {name}")

    def json(self, value: Any) -> str:
        """A value as the JSON text the store keeps in its columns."""
        return dumps_str(value)
