"""Task results: workflow-task and activity-task completions and failures (one at a time or in
a batch), activity heartbeats, and the hand-over of an attempt for completion from outside."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import msgspec
from aiohttp import web

from plait.protocol.commands import AcceptUpdateCommand, Command, CompleteUpdateCommand
from plait.protocol.common import RequestNo
from plait.protocol.completions import (
    MAX_BATCH,
    CompleteActivityTaskRequest,
    CompleteWorkflowTaskRequest,
    FailActivityTaskRequest,
    FailWorkflowTaskRequest,
    HeartbeatActivityRequest,
    TaskCompletion,
    TokenRequest,
    UpdateRejection,
)
from plait.protocol.enums import ErrorCode
from plait.server import (
    results,
    steps,
)
from plait.server.api.http import (
    command_policies,
    expected_error,
    json_response,
    read,
    svc,
)
from plait.server.decoding import decode
from plait.server.errors import ApiError, BadRequest
from plait.server.fencing import task_of
from plait.server.metrics import CHAINED, COMPLETIONS
from plait.store.base import StoreUnavailable

__all__ = ["complete_async_activity_task", "complete_tasks", "heartbeat_activity_task", "single"]

log = logging.getLogger("plait.server")


async def _complete_workflow_task(request: web.Request,
                                  msg: CompleteWorkflowTaskRequest) -> Any:
    command_policies(msg.commands)
    out = await svc(request).write(lambda ctx: steps.complete_workflow_task(ctx, msg),
                                   task=task_of(msg.token))
    COMPLETIONS.labels("workflow", "completed").inc()
    _wake_updates(request, _settled(msg.commands, msg.update_rejections))
    return out


def _settled(cmds: list[Command], rejections: list[UpdateRejection] | None) -> list[str]:
    """The updates a completion accepted or answered: their callers may stop waiting."""
    done = [c.update_id for c in cmds if isinstance(c, (AcceptUpdateCommand,
                                                         CompleteUpdateCommand))]
    return done + [r.update_id for r in rejections or () if r.update_id is not None]


async def _fail_workflow_task(request: web.Request, msg: FailWorkflowTaskRequest) -> Any:
    out = await svc(request).write(lambda ctx: steps.fail_workflow_task(ctx, msg),
                                   task=task_of(msg.token))
    COMPLETIONS.labels("workflow", "failed").inc()
    return out


async def _complete_activity_task(request: web.Request,
                                  msg: CompleteActivityTaskRequest) -> Any:
    service = svc(request)
    step = msg.workflow_step
    arrived = None
    if step is not None:  # a chained step (plait.server.chained)
        command_policies(step.commands, "workflow_step.")
        arrived = service.clock.now()  # before any wait for the store: not the worker's skew
    out = await service.write(lambda ctx: results.complete_activity(ctx, msg, arrived),
                              task=task_of(msg.token))
    COMPLETIONS.labels("activity", "completed").inc()
    if step is None:
        return out
    answer = out.get("workflow_step")
    refused = "run_closed" if answer is None else answer.get("refused")
    CHAINED.labels(str(refused or "recorded")).inc()
    if refused is None:
        COMPLETIONS.labels("workflow", "completed").inc()
        _wake_updates(request, _settled(step.commands, step.update_rejections))
    return out


async def _fail_activity_task(request: web.Request, msg: FailActivityTaskRequest) -> Any:
    out = await svc(request).write(lambda ctx: results.fail_activity(ctx, msg),
                                   task=task_of(msg.token))
    COMPLETIONS.labels("activity", "failed").inc()
    return out


Completer = Callable[[web.Request, Any], Awaitable[Any]]


COMPLETERS: dict[str, tuple[type[msgspec.Struct], Completer]] = {
    "workflow_complete": (CompleteWorkflowTaskRequest, _complete_workflow_task),
    "workflow_fail": (FailWorkflowTaskRequest, _fail_workflow_task),
    "activity_complete": (CompleteActivityTaskRequest, _complete_activity_task),
    "activity_fail": (FailActivityTaskRequest, _fail_activity_task)}


def single(kind: str) -> Any:
    """The route of one completion: the batch route's item, alone."""
    struct, complete = COMPLETERS[kind]

    async def handler(request: web.Request) -> web.Response:
        return json_response(await complete(request, await read(request, struct)))
    return handler


class _Batch(msgspec.Struct):
    """A batch, its items still unread: each is decoded on its own (as ``TaskCompletion``)
    so that one malformed item is answered alone, like any other error of one item."""

    completions: Annotated[list[msgspec.Raw], msgspec.Meta(max_length=MAX_BATCH)]
    request_no: RequestNo | None = None


class _Kind(msgspec.Struct):
    """Just an item's ``type``: what is checked of every item before any is applied."""

    type: str | None = None


_KIND = msgspec.json.Decoder(_Kind)


async def complete_tasks(request: web.Request) -> web.Response:
    """Many completions in one request: a busy worker saves a round trip per task.

    Each item is applied exactly as its single route would (its own fencing check, its own
    savepoint in the group commit) and answered on its own: one item's error does not touch
    the others, and the results come back in the order of the items. A batch that is no list
    of objects with known ``type``s is refused whole.
    """
    batch = await read(request, _Batch)
    completers: list[Completer] = []
    for i, raw in enumerate(batch.completions):  # each item's type is read once, here
        entry = COMPLETERS.get(_kind(raw) or "")
        if entry is None:
            raise BadRequest(f"completions[{i}].type must be one of {sorted(COMPLETERS)}")
        completers.append(entry[1])
    results = await asyncio.gather(*(_completion(request, raw, complete, batch.request_no)
                                     for raw, complete
                                     in zip(batch.completions, completers, strict=True)))
    return json_response({"results": results})


def _kind(raw: msgspec.Raw) -> str | None:
    try:
        return _KIND.decode(raw).type
    except msgspec.ValidationError:  # not an object, or a type that is no string
        return None


async def _completion(request: web.Request, raw: msgspec.Raw, complete: Completer,
                      request_no: int | None) -> dict[str, object]:
    try:
        msg = decode(bytes(raw), TaskCompletion)
        if isinstance(msg, (CompleteWorkflowTaskRequest, CompleteActivityTaskRequest)) \
                and msg.request_no is None:
            msg.request_no = request_no  # the batch's number is its items'
        return {"result": await complete(request, msg)}
    except (ApiError, StoreUnavailable) as e:
        status, code, message = expected_error(e)
        return {"error": {"status": status, "code": code, "message": message}}
    except Exception as e:  # a bug: this item fails loudly, the others stand
        log.exception("internal error completing a task (%s)", complete.__name__)
        return {"error": {"status": 500, "code": ErrorCode.INTERNAL,
                          "message": f"internal server error: {type(e).__name__}"}}


async def complete_async_activity_task(request: web.Request) -> web.Response:
    msg = await read(request, TokenRequest)
    return json_response(await svc(request).write(
        lambda ctx: results.complete_async(ctx, msg.token)))


async def heartbeat_activity_task(request: web.Request) -> web.Response:
    msg = await read(request, HeartbeatActivityRequest)
    return json_response(await svc(request).write(
        lambda ctx: results.heartbeat_activity(ctx, msg)))


def _wake_updates(request: web.Request, uids: list[str]) -> None:
    """Answer waiting callers on this server as soon as a completion settled their update
    (those on other servers re-read the row on their own)."""
    for uid in uids:
        svc(request).update_outcomes.wake(str(uid))
