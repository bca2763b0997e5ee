"""Request ids: the first answer to a mutating request, kept for a day so a client's retry
after a lost response gets that answer instead of a second start, signal or update."""

from __future__ import annotations

from typing import Any

from plait.protocol.jsoncodec import loads
from plait.store.statements import Statements

__all__ = ["RequestStatements"]


class RequestStatements(Statements):
    def stored_response(self, ns: str, request_id: str) -> tuple[bool, Any]:
        """(True, the answer) when the request was seen before, else (False, None)."""
        raw = self._scalar("get_request", ns=ns, request_id=request_id)
        return (False, None) if raw is None else (True, loads(raw))

    def store_response(self, ns: str, request_id: str, response: Any, now: float) -> None:
        self._exec("insert_request", ns=ns, request_id=request_id,
                   response=self.json(response), now=now)

    def delete_requests_before(self, before: float) -> None:
        self._exec("delete_old_requests", before=before)
