"""API keys as stored: who may call the server, in which namespace, with which role.

Only the SHA-256 of a key's secret is kept (:mod:`plait.server.auth` makes and checks keys);
the key itself never reaches the database.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from plait.store.statements import Statements

__all__ = ["ApiKeyRow", "ApiKeyStatements"]


@dataclasses.dataclass(frozen=True)
class ApiKeyRow:
    key_id: str
    name: str
    namespace: str
    """A namespace, or ``*`` for every one."""
    role: str
    """reader, writer, worker or admin."""
    secret_hash: str
    """Hex SHA-256 of the key's secret."""
    created_at: float
    expires_at: float | None
    revoked_at: float | None


def _row(r: Any) -> ApiKeyRow:
    return ApiKeyRow(key_id=r[0], name=r[1], namespace=r[2], role=r[3], secret_hash=r[4],
                     created_at=float(r[5]),
                     expires_at=None if r[6] is None else float(r[6]),
                     revoked_at=None if r[7] is None else float(r[7]))


class ApiKeyStatements(Statements):
    def insert_api_key(self, row: ApiKeyRow) -> None:
        self._exec("insert_api_key", key_id=row.key_id, key_name=row.name, ns=row.namespace,
                   role=row.role, secret_hash=row.secret_hash, now=row.created_at,
                   expires_at=row.expires_at)

    def get_api_key(self, key_id: str) -> ApiKeyRow | None:
        r = self._one("get_api_key", key_id=key_id)
        return None if r is None else _row(r)

    def list_api_keys(self) -> list[ApiKeyRow]:
        return [_row(r) for r in self._all("list_api_keys")]

    def revoke_api_key(self, key_id: str, now: float) -> bool:
        """False if no such key, or it was revoked already."""
        return bool(self._exec("revoke_api_key", key_id=key_id, now=now).rowcount)
