"""Messages into a running workflow, on the workflow's side: signals, updates, queries.

A mixin of :class:`~plait.runtime.instance.WorkflowInstance`: the handlers run on the
workflow's own loop, and what they produce are commands like any other.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import msgspec

from plait import errors
from plait.interceptor import (
    HandleQueryInput,
    HandleSignalInput,
    HandleUpdateInput,
    WorkflowInboundInterceptor,
)
from plait.protocol import failure as failures
from plait.protocol.commands import (
    AcceptUpdateCommand,
    Command,
    CompleteUpdateCommand,
    FailWorkflowCommand,
)
from plait.protocol.common import Failure, Header, Payload
from plait.protocol.completions import UpdateRejection
from plait.protocol.history import WorkflowExecutionUpdateAcceptedEvent
from plait.protocol.payload import hints_of
from plait.protocol.tasks import UpdateRequested
from plait.runtime.activations import Activation
from plait.runtime.definitions import DYNAMIC, WorkflowDefn
from plait.runtime.intercepting import run_now
from plait.runtime.outcome import QueryAnswer, TaskFailure
from plait.runtime.registries import BoundHandler
from plait.runtime.replay_check import Issued, user_location
from plait.runtime.stack import STACK_TRACE_QUERY, stack_trace

if TYPE_CHECKING:
    from plait.converter import Conversions
    from plait.runtime.info import WorkflowInfo

__all__ = ["Handlers", "failure_of"]


def failure_of(exc: BaseException) -> Failure:
    """An exception (and its causes) as the failure a command or a report carries."""
    return msgspec.convert(failures.from_exception(exc), Failure)


def _failure(message: str, **fields: Any) -> Failure:
    return Failure(message=message, **fields)

log = logging.getLogger("plait.workflow")


HANDLER_TASK = "handler: "
"""The name prefix of a signal or update handler's task."""


class Handlers:
    """Signal, update and query handling; state lives on the instance."""

    conv: Conversions
    defn: WorkflowDefn
    info: WorkflowInfo
    closed: bool
    rejections: list[UpdateRejection]
    _object: Any
    _commands: list[Issued]
    _failure: TaskFailure | None
    _signal_handlers: dict[str, Callable[..., Any]]
    _pending_signals: dict[str, list[tuple[list[Payload], Header | None]]]
    inbound: WorkflowInboundInterceptor | None
    _tasks: list[asyncio.Task[Any]] | None
    _random: Any
    _patch_memo: dict[str, bool]

    def create_task(self, coro: Any, *, name: str | None = None, context: Any = None
                    ) -> asyncio.Task[Any]:
        raise NotImplementedError

    @property
    def replaying(self) -> bool:
        raise NotImplementedError

    def _close(self, command: Command) -> None:
        raise NotImplementedError

    # -- updates ---------------------------------------------------------------------------
    def _updates(self, act: Activation, requested: list[UpdateRequested]) -> None:
        """Accept (or reject) updates at the same point of an activation, live or replayed:
        in replay the accepted ones are those the history recorded (validators do not run)."""
        if act.commands is not None:
            for ev in act.commands:
                if isinstance(ev, WorkflowExecutionUpdateAcceptedEvent):
                    a = ev.attributes
                    self._accept(a.update_id, a.update_name, a.input, a.header)
            return
        for u in requested:
            failure = self._validate(u.update_id, u.update_name, u.input, u.header)
            if failure is not None:
                self.rejections.append(UpdateRejection(update_id=u.update_id, failure=failure))
            else:
                self._accept(u.update_id, u.update_name, u.input, u.header)

    def _update_handler(self, name: str) -> BoundHandler | None:
        return self._bound(self.defn.updates, name)

    def _bound(self, table: dict[str, Callable[..., Any]], name: str) -> BoundHandler | None:
        """The handler of ``name`` on the workflow object, else the dynamic one, if any."""
        fn = table.get(name)
        if fn is not None:
            return BoundHandler(fn.__get__(self._object))
        dynamic = table.get(DYNAMIC)
        if dynamic is None:
            return None
        return BoundHandler(dynamic.__get__(self._object), (name,))

    def _validate(self, uid: str, name: str, payloads: list[Payload],
                  header: Header | None = None) -> Failure | None:
        handler = self._update_handler(name) if self._object is not None else None
        if handler is None:
            known = sorted(k for k in self.defn.updates if k != DYNAMIC)
            return _failure(f"workflow {self.defn.name} has no update {name!r} (it has "
                            f"{known})", type="UnknownUpdate", kind="application")
        validator = getattr(handler.fn, "__plait_validator__", None)
        if validator is None and self.inbound is None:
            return None
        try:
            hints = [] if handler.dynamic else hints_of(handler.fn)[0]
            args = self.conv.from_payloads(payloads, hints)
            if self.inbound is not None:
                self.inbound.handle_update_validator(HandleUpdateInput(
                    id=uid, update=name, args=args, headers=dict(header or {})))
            elif validator is not None:
                validator(self._object, *handler.lead, *args)
        except Exception as exc:
            return failure_of(exc)
        return None

    def _accept(self, uid: str, name: str, payloads: list[Payload],
                header: Header | None = None) -> None:
        self._commands.append(Issued(AcceptUpdateCommand(update_id=uid), user_location()))
        handler = self._update_handler(name)
        if handler is None:  # accepted by older code that had it: fail the update, not the task
            self._finish_update(uid, None, errors.ApplicationError(
                f"no handler for update {name!r}", type="UnknownUpdate"))
            return
        hints = [] if handler.dynamic else hints_of(handler.fn)[0]

        async def run() -> Any:
            args = self.conv.from_payloads(payloads, hints)
            if self.inbound is not None:
                return await self.inbound.handle_update_handler(HandleUpdateInput(
                    id=uid, update=name, args=args, headers=dict(header or {})))
            result = handler.fn(*handler.lead, *args)
            return await result if asyncio.iscoroutine(result) else result

        task = self._handler_task(run(), f"update {name}")
        task.add_done_callback(lambda t: self._finish_update(
            uid, None if t.cancelled() or t.exception() else t.result(),
            errors.CancelledError("update cancelled") if t.cancelled() else t.exception()))

    def _finish_update(self, uid: str, result: Any, exc: BaseException | None) -> None:
        if self.closed:
            return
        cmd = CompleteUpdateCommand(update_id=uid)
        if exc is None:
            cmd.result = self.conv.to_payload(result)
        else:
            cmd.failure = failure_of(exc)
        self._commands.append(Issued(cmd, ""))

    # -- signals ---------------------------------------------------------------------------
    def _on_signal(self, name: str, payloads: list[Payload], header: Header | None = None
                   ) -> None:
        handler = self._signal_handlers.get(name)
        if handler is not None:
            self._invoke(handler, payloads, header=header, name=name)
            return
        dynamic = self._signal_handlers.get(DYNAMIC)
        if dynamic is not None:
            self._invoke(dynamic, payloads, name, header=header, name=name)
            return
        self._pending_signals.setdefault(name, []).append((payloads, header))
        if not self.replaying:
            log.warning("workflow %s (%s) has no handler for signal %r; it is kept and "
                        "delivered if one is registered", self.info.workflow_id,
                        self.defn.name, name)

    def set_signal_handler(self, name: str | None, handler: Callable[..., Any] | None) -> None:
        """Register (or remove) a handler; signals kept for it are delivered now, in order."""
        key = DYNAMIC if name is None else name
        if handler is None:
            self._signal_handlers.pop(key, None)
            return
        self._signal_handlers[key] = handler
        names = list(self._pending_signals) if name is None else [name]
        for n in names:
            for payloads, header in self._pending_signals.pop(n, []):
                self._on_signal(n, payloads, header)

    def _invoke(self, handler: Callable[..., Any], payloads: list[Payload], *lead: Any,
                header: Header | None, name: str) -> None:
        hints = [] if lead else hints_of(handler)[0]
        if self.inbound is not None:
            self._intercepted_signal(handler, name, self.conv.from_payloads(payloads, hints),
                                     header)
            return
        args = [*lead, *self.conv.from_payloads(payloads, hints)]
        if asyncio.iscoroutinefunction(handler):
            task = self._handler_task(handler(*args), "signal handler")
            task.add_done_callback(self._on_handler_done)
            return
        try:
            handler(*args)
        except BaseException as exc:
            self._handler_failed(exc)

    def _intercepted_signal(self, handler: Callable[..., Any], name: str, args: list[Any],
                            header: Header | None) -> None:
        """The signal through the run's interceptors: an async handler in its own task, as
        without them; a sync one at once (:func:`~plait.runtime.intercepting.run_now`)."""
        assert self.inbound is not None
        coro = self.inbound.handle_signal(HandleSignalInput(signal=name, args=args,
                                                            headers=dict(header or {})))
        if asyncio.iscoroutinefunction(handler):
            task = self._handler_task(coro, "signal handler")
            task.add_done_callback(self._on_handler_done)
            return

        def carry_on(rest: Any) -> None:
            task = self._handler_task(rest, "signal handler")
            task.add_done_callback(self._on_handler_done)
        run_now(coro, self._handler_failed, carry_on)

    def _handler_task(self, coro: Any, what: str) -> asyncio.Task[Any]:
        """A handler's task, named so that ``all_handlers_finished`` can find it. (Derived
        from the instance's task list rather than counted in an attribute of its own: a
        cached instance stays small only with few attributes, ``test_cache_memory``.)"""
        return self.create_task(coro, name=HANDLER_TASK + what)

    def all_handlers_finished(self) -> bool:
        """No async signal or update handler is still running: what a workflow waits for
        before it returns, so that no update is left without its answer."""
        return not any(t.get_name().startswith(HANDLER_TASK) and not t.done()
                       for t in self._tasks or ())

    def _on_handler_done(self, task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self._handler_failed(task.exception())  # type: ignore[arg-type]

    def _handler_failed(self, exc: BaseException) -> None:
        if self._fails_workflow(exc):
            if not self.closed:
                self._close(FailWorkflowCommand(failure=failure_of(exc)))
        elif self._failure is None:
            self._failure = TaskFailure.of(exc)

    def _fails_workflow(self, exc: BaseException) -> bool:
        return isinstance(exc, (errors.FailureError, *self.defn.failure_exception_types))

    # -- queries ---------------------------------------------------------------------------
    def query(self, name: str, payloads: list[Payload], header: Header | None = None
              ) -> QueryAnswer:
        """Answer a query from the current state; a handler must only read. ``header``: the
        query's, as the client's interceptors set it (the inbound ``handle_query`` sees it)."""
        if name == STACK_TRACE_QUERY and STACK_TRACE_QUERY not in self.defn.queries:
            # Built in: frames are read, no workflow code runs (nor the interceptors).
            return QueryAnswer(result=self.conv.to_payload(stack_trace(self._tasks or [])))
        if self._object is None:
            return QueryAnswer.failed("the workflow has not run its first task yet")
        handler = self._bound(self.defn.queries, name)
        if handler is None:
            known = sorted(k for k in self.defn.queries if k != DYNAMIC)
            return QueryAnswer.failed(
                f"workflow {self.defn.name} has no query {name!r} (it has {known})",
                code="unknown_query")
        hints = [] if handler.dynamic else hints_of(handler.fn)[0]
        before = len(self._commands)
        # A query must leave no trace: not in the random sequence, not in patch decisions.
        rnd = self._random.getstate() if self._random is not None else None
        memo = dict(self._patch_memo)
        previous = asyncio.events._get_running_loop()
        asyncio.events._set_running_loop(cast(asyncio.AbstractEventLoop, self))
        try:
            if self.inbound is not None:
                result = self.inbound.handle_query(HandleQueryInput(
                    query=name, args=self.conv.from_payloads(payloads, hints),
                    headers=dict(header or {})))
            else:
                result = handler.fn(*handler.lead, *self.conv.from_payloads(payloads, hints))
        except Exception as exc:
            return QueryAnswer(failure=failure_of(exc), code="query_failed")
        finally:
            asyncio.events._set_running_loop(previous)
            if rnd is not None and self._random is not None:
                self._random.setstate(rnd)
            self._patch_memo = memo
        if asyncio.iscoroutine(result):
            result.close()
            return QueryAnswer.failed(f"query {name!r} must be a plain (not async) method")
        if len(self._commands) != before:
            del self._commands[before:]
            return QueryAnswer.failed(
                f"query {name!r} tried to change the workflow; queries only read")
        return QueryAnswer(result=self.conv.to_payload(result))
