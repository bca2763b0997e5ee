"""The route table of the HTTP API, and its OpenAPI document generated from it.

Each route names the structs of its body and its answers (:mod:`plait.protocol`), which are
what the server decodes and what clients and workers send; the document served at
``/api/v1/openapi.json`` is built from this table by :func:`plait.protocol.openapi.build_document`
and cannot drift from them. A test checks that every route ``make_app`` registers is here.

One module per resource, as in :mod:`plait.server.api`, each with its ``OPERATIONS``;
:mod:`.shared` holds what routes share (the description, parameters, error responses). This
module assembles them; the modules it imports import nothing of this package.
"""

from __future__ import annotations

import functools
from typing import Any

from plait.protocol.commands import Command
from plait.protocol.common import Error
from plait.protocol.completions import TaskCompletion
from plait.protocol.enums import WorkflowStatus
from plait.protocol.events import EventType
from plait.protocol.history import Event
from plait.protocol.openapi import Document, Operation, build_document
from plait.protocol.tasks import Task
from plait.server.api_doc import (
    apikeys,
    batches,
    messages,
    meta,
    namespaces,
    operations,
    ratelimits,
    schedules,
    sessions,
    task_queues,
    tasks,
    workflows,
)
from plait.server.api_doc.shared import INFO, PARAMETERS, SECURITY, SHARED_RESPONSES, TAGS

__all__ = ["OPERATIONS", "document"]

NAMED: dict[str, Any] = {
    "Command": Command,
    "Task": Task,
    "Event": Event,
    "TaskCompletion": TaskCompletion,
    "EventType": EventType,
    "WorkflowStatus": WorkflowStatus,
}
"""Types that get a component of their own even where no field names them directly."""

OPERATIONS: list[Operation] = [
    *workflows.OPERATIONS,
    *operations.OPERATIONS,
    *batches.OPERATIONS,
    *messages.OPERATIONS,
    *sessions.OPERATIONS,
    *tasks.OPERATIONS,
    *meta.OPERATIONS,
    *ratelimits.OPERATIONS,
    *schedules.OPERATIONS,
    *task_queues.OPERATIONS,
    *namespaces.OPERATIONS,
    *apikeys.OPERATIONS,
]
"""Every route of the API, resource by resource."""


@functools.cache
def document() -> Document:
    """The OpenAPI document of this API (built once per process; about 100 ms)."""
    return build_document(
        OPERATIONS,
        info=INFO,
        tags=TAGS,
        parameters=PARAMETERS,
        responses=SHARED_RESPONSES,
        error=Error,
        named=NAMED,
        security=SECURITY,
    )
