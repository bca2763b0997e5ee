"""Namespaces as stored (name, retention, description), and the closed runs their retention
has expired."""

from __future__ import annotations

import dataclasses
from typing import Any

from plait.store.statements import Statements

__all__ = ["NamespaceRow", "NamespaceStatements"]


@dataclasses.dataclass(frozen=True)
class NamespaceRow:
    name: str
    retention_seconds: float
    description: str
    created_at: float


def _row(r: Any) -> NamespaceRow:
    return NamespaceRow(name=r[0], retention_seconds=float(r[1]), description=r[2],
                        created_at=float(r[3]))


class NamespaceStatements(Statements):
    def ensure_namespace(self, ns: str, retention: float) -> None:
        """Create ``ns`` with ``retention`` seconds unless it exists (then it is kept as is)."""
        self._exec("ensure_namespace", ns=ns, retention=retention)

    def create_namespace(self, ns: str, retention: float, description: str,
                         now: float) -> bool:
        """Create ``ns``; False if it exists already (then it is kept as is)."""
        return bool(self._exec("create_namespace", ns=ns, retention=retention,
                               description=description, now=now).rowcount)

    def describe_namespace(self, ns: str) -> NamespaceRow | None:
        r = self._one("describe_namespace", ns=ns)
        return None if r is None else _row(r)

    def list_namespaces(self) -> list[NamespaceRow]:
        return [_row(r) for r in self._all("list_namespaces")]

    def update_namespace(self, ns: str, retention: float | None,
                         description: str | None) -> bool:
        """Change what is given (None: kept); False if ``ns`` does not exist."""
        return bool(self._exec("update_namespace", ns=ns, retention=retention,
                               description=description).rowcount)

    def namespace_retention(self, ns: str) -> float | None:
        r = self._one("get_namespace", ns=ns)
        return None if r is None else float(r[1])

    def expired_runs(self, now: float) -> list[tuple[str, str, str]]:
        """(namespace, workflow id, run id) of closed runs past their namespace's retention."""
        return [(r[0], r[1], r[2]) for r in self._all("expired_runs", now=now)]
