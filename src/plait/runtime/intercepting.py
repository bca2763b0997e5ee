"""A run's interceptor chains (:mod:`plait.interceptor`): made when the run starts, on its
loop, only when the worker has workflow interceptors; a run without them never builds or
calls one (its entry points and outbound calls take the direct path).

The innermost inbound link, :class:`RunEntry`, calls the workflow's own code; the innermost
outbound link is ``plait.workflow``'s (it builds the commands), given by the worker.

A sync signal handler runs at once when its event is applied, before any task of the
workflow moves (the order replay depends on). Through interceptors, whose ``handle_signal``
is a coroutine, that stays so: the chain is stepped right away (:func:`run_now`), and only if
an interceptor really waits does the rest continue in a handler task.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Callable, Coroutine, Generator, Sequence
from typing import TYPE_CHECKING, Any

from plait.interceptor import (
    ExecuteWorkflowInput,
    HandleQueryInput,
    HandleSignalInput,
    HandleUpdateInput,
    WorkflowInboundInterceptor,
    WorkflowOutboundInterceptor,
)
from plait.runtime.definitions import DYNAMIC

if TYPE_CHECKING:
    from plait.runtime.instance import WorkflowInstance

__all__ = ["RunEntry", "WorkflowInterceptors", "intercept", "run_now"]


class WorkflowInterceptors:
    """What a worker's workflow interceptors give each run: the classes to chain (the first
    outermost) and a maker of the innermost outbound link."""

    __slots__ = ("classes", "outbound_root")

    def __init__(self, classes: Sequence[type[WorkflowInboundInterceptor]],
                 outbound_root: Callable[[], WorkflowOutboundInterceptor]) -> None:
        self.classes = tuple(classes)
        self.outbound_root = outbound_root


class RunEntry(WorkflowInboundInterceptor):
    """The innermost inbound link: the workflow's own run method and handlers."""

    def __init__(self, inst: WorkflowInstance) -> None:
        self.inst = inst

    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        self.inst.outbound = outbound

    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        return await input.run_fn(*input.args)

    async def handle_signal(self, input: HandleSignalInput) -> None:
        handlers = self.inst._signal_handlers
        lead: tuple[str, ...] = ()
        handler = handlers.get(input.signal)
        if handler is None:
            handler, lead = handlers.get(DYNAMIC), (input.signal,)
        if handler is None:  # removed while an interceptor waited: nothing to call
            return
        result = handler(*lead, *input.args)
        if asyncio.iscoroutine(result):
            await result

    def handle_query(self, input: HandleQueryInput) -> Any:
        handler = self.inst._bound(self.inst.defn.queries, input.query)
        if handler is None:  # checked before the chain; an interceptor renamed it
            raise KeyError(f"no query {input.query!r}")
        return handler.fn(*handler.lead, *input.args)


    def handle_update_validator(self, input: HandleUpdateInput) -> None:
        handler = self.inst._update_handler(input.update)
        validator = getattr(handler.fn, "__plait_validator__", None) if handler else None
        if handler is not None and validator is not None:
            validator(self.inst._object, *handler.lead, *input.args)

    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        handler = self.inst._update_handler(input.update)
        if handler is None:  # checked before the chain; an interceptor renamed it
            raise KeyError(f"no update {input.update!r}")
        result = handler.fn(*handler.lead, *input.args)
        return await result if asyncio.iscoroutine(result) else result


def intercept(inst: WorkflowInstance, interceptors: WorkflowInterceptors) -> None:
    """Build the run's chains (on its loop, before the workflow object is made)."""
    inbound: WorkflowInboundInterceptor = RunEntry(inst)
    for cls in reversed(interceptors.classes):
        inbound = cls(inbound)
    inst.inbound = inbound
    inbound.init(interceptors.outbound_root())


def run_now(coro: Coroutine[Any, Any, Any], on_error: Callable[[BaseException], None],
            continue_in_task: Callable[[Coroutine[Any, Any, Any]], None]) -> None:
    """Step ``coro`` now; if it finishes, done (its exception to ``on_error``); if it waits
    on a future, ``continue_in_task`` gets a coroutine that carries it on from there."""
    try:
        waiting = coro.send(None)
    except StopIteration:
        return
    except BaseException as exc:
        on_error(exc)
        return
    continue_in_task(_carry_on(coro, waiting))


async def _carry_on(coro: Coroutine[Any, Any, Any], waiting: Any) -> Any:
    return await _resume(coro, waiting)


@types.coroutine
def _resume(coro: Coroutine[Any, Any, Any], waiting: Any) -> Generator[Any, Any, Any]:
    """Hand the future ``coro`` waits on to the task running this, then go on delegating
    to ``coro`` as ``await coro`` would have from the start (a cancel is thrown into it)."""
    try:
        yield waiting
    except BaseException as exc:
        try:
            waiting = coro.throw(exc)
        except StopIteration as stop:
            return stop.value
        return (yield from _resume(coro, waiting))
    return (yield from coro)  # type: ignore[misc]
