"""What a running workflow waits on, one small record per kind, keyed by its id or seq.

Each record is frozen: the futures inside change state, the record never does. An entry is
added when the code issues the command and removed when the event that settles it arrives.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

__all__ = ["BoundHandler", "PendingActivity", "PendingChild", "WaitingCondition"]


@dataclasses.dataclass(frozen=True, slots=True)
class PendingActivity:
    """A scheduled activity: its outcome resolves ``future``, decoded by ``ret_hint``."""

    future: asyncio.Future[Any]
    ret_hint: Any
    activity_type: str


@dataclasses.dataclass(frozen=True, slots=True)
class PendingChild:
    """A child workflow: ``started`` resolves with its run id, ``result`` when it closes."""

    started: asyncio.Future[str]
    result: asyncio.Future[Any]
    ret_hint: Any
    workflow_id: str
    workflow_type: str


@dataclasses.dataclass(frozen=True, slots=True)
class WaitingCondition:
    """A ``wait_condition``: ``future`` resolves once ``predicate()`` is true."""

    predicate: Callable[[], bool]
    future: asyncio.Future[bool]


@dataclasses.dataclass(frozen=True, slots=True)
class BoundHandler:
    """An update handler bound to the workflow object; a dynamic one gets the name first."""

    fn: Callable[..., Any]
    lead: tuple[Any, ...] = ()

    @property
    def dynamic(self) -> bool:
        return bool(self.lead)
