"""Request ids: a mutating request that carries one is applied once, however often a client
retries it after a lost response; a repeat gets the first answer, from the same transaction
that would have applied it again (so two servers racing on one id agree)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import msgspec

from plait.server.run import Ctx
from plait.store.base import Txn

__all__ = ["deduped"]

T = TypeVar("T")


def deduped(ns: str, request_id: str | None, fn: Callable[[Ctx], T],
            kind: type[T], *, ahead: Callable[[Txn], None] | None = None) -> Callable[[Ctx], T]:
    """``fn`` as a state change that answers a repeated ``request_id`` with its first answer
    (kept as JSON, read back as a ``kind``). ``ahead`` announces what ``fn`` will read first
    (``Txn.current_run_ahead``), so that it shares the request lookup's round trip."""
    def op(ctx: Ctx) -> T:
        if ahead is not None:
            ahead(ctx.txn)
        if request_id:
            seen, stored = ctx.txn.stored_response(ns, request_id)
            if seen:
                return msgspec.convert(stored, kind)
        result = fn(ctx)
        if request_id:
            ctx.txn.store_response(ns, request_id, result, ctx.wall)
        return result
    return op
