"""Rate limits as stored: the limits per task queue and activity type, and the token buckets
they fill. How a bucket admits a task is the server's (:mod:`plait.server.admission`).

Buckets live in the database, so every server sharing it enforces one limit together.
"""

from __future__ import annotations

import dataclasses
import time

from plait.protocol.ratelimits import RateLimit as WireLimit
from plait.store.statements import Statements

__all__ = ["BucketKey", "RateLimit", "RateLimitCache", "RateLimitStatements"]


@dataclasses.dataclass(frozen=True)
class RateLimit:
    activity_type: str
    """'' for every activity type of the queue without a limit of its own."""
    per_second: float
    burst: float
    per_key: bool


class RateLimitCache:
    """A store's copy of the rate limits of each (namespace, task queue), read again after
    ``ttl`` seconds: another server may have changed them. Token buckets are never cached."""

    def __init__(self, ttl: float = 1.0) -> None:
        self.ttl = ttl
        self._data: dict[tuple[str, str], tuple[float, dict[str, RateLimit]]] = {}

    def get(self, key: tuple[str, str]) -> dict[str, RateLimit] | None:
        entry = self._data.get(key)
        if entry is None or time.monotonic() - entry[0] >= self.ttl:
            return None
        return entry[1]

    def put(self, key: tuple[str, str], limits: dict[str, RateLimit]) -> None:
        self._data[key] = (time.monotonic(), limits)

    def forget(self, key: tuple[str, str]) -> None:
        self._data.pop(key, None)


@dataclasses.dataclass(frozen=True)
class BucketKey:
    namespace: str
    task_queue: str
    activity_type: str
    """The limit's type ('' for the queue's catch-all limit)."""
    bucket_key: str
    """The activity's ``rate_limit_key`` under a per-key limit, else ''."""

    def params(self) -> dict[str, str]:
        return {"ns": self.namespace, "task_queue": self.task_queue,
                "activity_type": self.activity_type, "bucket_key": self.bucket_key}


class RateLimitStatements(Statements):
    limits: RateLimitCache

    def set_rate_limit(self, ns: str, task_queue: str, activity_type: str | None,
                       per_second: float, burst: float, per_key: bool = False) -> None:
        """Limit activity starts on a queue (``activity_type`` None: every type without a
        limit of its own). Replacing a limit starts its buckets full."""
        atype = activity_type or ""
        self._exec("set_rate_limit", ns=ns, task_queue=task_queue, activity_type=atype,
                   per_second=per_second, burst=burst, per_key=int(per_key))
        self._exec("delete_rate_buckets", ns=ns, task_queue=task_queue, activity_type=atype)
        self.limits.forget((ns, task_queue))

    def delete_rate_limit(self, ns: str, task_queue: str, activity_type: str | None) -> bool:
        atype = activity_type or ""
        deleted: bool = self._exec("delete_rate_limit", ns=ns, task_queue=task_queue,
                                   activity_type=atype).rowcount == 1
        self._exec("delete_rate_buckets", ns=ns, task_queue=task_queue, activity_type=atype)
        self.limits.forget((ns, task_queue))
        return deleted

    def rate_limits(self, ns: str) -> list[WireLimit]:
        return [WireLimit(task_queue=r[0], activity_type=r[1] or None, per_second=r[2],
                          burst=r[3], per_key=bool(r[4]))
                for r in self._all("rate_limits", ns=ns)]

    def queue_limits(self, ns: str, task_queue: str) -> dict[str, RateLimit]:
        """The limits of a queue by activity type ('' for the catch-all); cached briefly."""
        limits = self.limits.get((ns, task_queue))
        if limits is None:
            limits = {r[0]: RateLimit(r[0], r[1], r[2], bool(r[3])) for r in self._all(
                "rate_limits_of_queue", ns=ns, task_queue=task_queue)}
            self.limits.put((ns, task_queue), limits)
        return limits

    def rate_bucket(self, key: BucketKey, capacity: float, now: float) -> tuple[float, float]:
        """(tokens, updated_at) of a bucket, made full at ``now`` if it is new; locked for
        the rest of the transaction where the backend can."""
        self._exec("ensure_rate_bucket", **key.params(), tokens=capacity, now=now)
        tokens, updated_at = self._one("get_rate_bucket", **key.params())
        return float(tokens), float(updated_at)

    def set_rate_bucket(self, key: BucketKey, tokens: float, now: float) -> None:
        self._exec("set_rate_bucket", **key.params(), tokens=tokens, now=now)
