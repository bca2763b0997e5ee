"""What the decorators record about workflows and activities, resolved once at import."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Sequence
from typing import Any

from plait.protocol.payload import hints_of

__all__ = ["DYNAMIC", "ActivityDefn", "WorkflowDefn", "activity_defn_of", "workflow_defn_of"]

DYNAMIC = "\x00dynamic"
"""The handler-table key of a dynamic handler (receives names without their own handler)."""


@dataclasses.dataclass(frozen=True)
class WorkflowDefn:
    name: str
    cls: type
    run_fn: Callable[..., Any]
    arg_hints: list[Any]
    ret_hint: Any
    signals: dict[str, Callable[..., Any]]
    queries: dict[str, Callable[..., Any]]
    updates: dict[str, Callable[..., Any]]
    failure_exception_types: Sequence[type[BaseException]]

    @staticmethod
    def build(cls: type, name: str | None,
              failure_exception_types: Sequence[type[BaseException]]) -> WorkflowDefn:
        run_fn = None
        signals: dict[str, Callable[..., Any]] = {}
        queries: dict[str, Callable[..., Any]] = {}
        updates: dict[str, Callable[..., Any]] = {}
        for attr, member in inspect.getmembers(cls):
            if getattr(member, "__plait_run__", False):
                if run_fn is not None:
                    raise TypeError(f"workflow {cls.__name__} has more than one @workflow.run")
                run_fn = member
            for marker, table in (("__plait_signal__", signals), ("__plait_query__", queries),
                                  ("__plait_update__", updates)):
                handler_name = getattr(member, marker, None)
                if handler_name is not None:
                    table[handler_name] = member
            del attr
        if run_fn is None:
            raise TypeError(f"workflow {cls.__name__} needs one async method with @workflow.run")
        if not inspect.iscoroutinefunction(run_fn):
            raise TypeError(f"@workflow.run method {cls.__name__}.{run_fn.__name__} must be "
                            "async")
        args, ret = hints_of(run_fn)
        return WorkflowDefn(name or cls.__name__, cls, run_fn, args, ret, signals, queries,
                            updates, tuple(failure_exception_types))


@dataclasses.dataclass(frozen=True)
class ActivityDefn:
    name: str
    fn: Callable[..., Any]
    is_async: bool
    arg_hints: list[Any]
    ret_hint: Any


def workflow_defn_of(obj: Any) -> WorkflowDefn:
    """The definition of a workflow class or its run method."""
    defn = getattr(obj, "__plait_workflow__", None)
    if defn is None and callable(obj):
        owner = getattr(obj, "__plait_workflow_owner__", None)
        defn = getattr(owner, "__plait_workflow__", None) if owner else None
    if not isinstance(defn, WorkflowDefn):
        raise TypeError(f"{obj!r} is not a workflow (decorate its class with @workflow.defn)")
    return defn


def activity_defn_of(obj: Any) -> ActivityDefn:
    fn = getattr(obj, "__func__", obj)
    defn = getattr(fn, "__plait_activity__", None)
    if not isinstance(defn, ActivityDefn):
        raise TypeError(f"{obj!r} is not an activity (decorate it with @activity.defn)")
    if fn is not obj:  # a bound method: keep the instance
        return dataclasses.replace(defn, fn=obj)
    return defn
