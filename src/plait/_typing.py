"""Type variables shared by the typed signatures of the client and the workflow API.

``execute_workflow(Order.run, "o-1", id=...)`` and ``execute_activity(charge, "o-1", 500,
...)`` take the function's own arguments positionally, followed by keyword options. A
``ParamSpec`` cannot type that shape (its ``*args`` must travel with its ``**kwargs``), a
``TypeVarTuple`` can: ``Callable[[*Ts], Awaitable[R]]`` with ``*args: *Ts`` checks each argument
against the function, and ``R`` is what the caller gets back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVarTuple

__all__ = ["R", "SelfT", "Ts"]

if TYPE_CHECKING:
    # A default (Python 3.13's TypeVar, typing_extensions' before) lets a handle be written
    # without its parameter (``WorkflowHandle`` means ``WorkflowHandle[Any]``). Type
    # checkers bring typing_extensions in their stubs, so nothing is needed at run time.
    from typing_extensions import TypeVar

    R = TypeVar("R", default=Any)
else:
    from typing import TypeVar

    R = TypeVar("R")
"""What a workflow, activity or child returns."""

SelfT = TypeVar("SelfT")
"""The workflow class of a ``@workflow.run`` method passed unbound (``Order.run``)."""

Ts = TypeVarTuple("Ts")
"""The positional arguments of the workflow or activity called."""
