"""Namespaces as stored (name and retention), and the closed runs their retention has
expired."""

from __future__ import annotations

from plait.store.statements import Statements

__all__ = ["NamespaceStatements"]


class NamespaceStatements(Statements):
    def ensure_namespace(self, ns: str, retention: float) -> None:
        """Create ``ns`` with ``retention`` seconds unless it exists (then it is kept as is)."""
        self._exec("ensure_namespace", ns=ns, retention=retention)

    def namespace_retention(self, ns: str) -> float | None:
        r = self._one("get_namespace", ns=ns)
        return None if r is None else float(r[1])

    def expired_runs(self, now: float) -> list[tuple[str, str, str]]:
        """(namespace, workflow id, run id) of closed runs past their namespace's retention."""
        return [(r[0], r[1], r[2]) for r in self._all("expired_runs", now=now)]
