"""``workflow.unsafe``: Temporal's escape hatches from its sandbox, which plait does not have.

plait runs workflow code as ordinary Python (determinism comes from the runtime, and replay
checks catch what slips through), so there is nothing to pass imports through or to lift
restrictions from: these exist so that code written for Temporal runs unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

__all__ = ["imports_passed_through", "in_sandbox", "is_replaying", "sandbox_unrestricted"]


@contextlib.contextmanager
def imports_passed_through() -> Iterator[None]:
    """A no-op: imports inside it are ordinary imports, as every import is in plait."""
    yield


@contextlib.contextmanager
def sandbox_unrestricted() -> Iterator[None]:
    """A no-op: plait places no restrictions to lift."""
    yield


def in_sandbox() -> bool:
    """Always false: plait has no sandbox."""
    return False


def is_replaying() -> bool:
    """True while the current workflow is replaying history (its commands are not new), and
    in a copy rebuilt to answer a query (its commands are dropped)."""
    from plait.runtime.instance import WorkflowInstance

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return False
    return isinstance(loop, WorkflowInstance) and (loop.replaying or loop.quiet)
