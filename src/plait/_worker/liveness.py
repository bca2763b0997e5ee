"""Whether an activity attempt still holds its lease, as its own context sees it.

The activity runner sets it for each attempt it starts (``Lease.live``) and a local activity
sets it to "always" (its run is this worker's); the innermost activity interceptor reads it
to start the function only while the attempt is still the worker's. A module of its own so
that both runners can read it without one importing the other.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable

__all__ = ["always", "lease_live"]

lease_live: contextvars.ContextVar[Callable[[], bool]] = contextvars.ContextVar("plait_live")
"""In an intercepted attempt's context: whether its lease still holds."""


def always() -> bool:
    """The liveness of an attempt no lease can take away (a local activity)."""
    return True
