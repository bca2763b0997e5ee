"""Describing a task queue: which workers poll it and what waits on it, so an operator (and
the console) can tell a queue nobody serves from one that is merely busy."""

from __future__ import annotations

import time

from aiohttp import web

from plait.protocol.responses import Poller, QueueBacklog, TaskQueueDescription
from plait.server.api.http import json_response, svc
from plait.store.base import Txn

__all__ = ["add_routes"]


async def describe_task_queue(request: web.Request) -> web.Response:
    ns, queue = request.match_info["ns"], request.match_info["queue"]
    service = svc(request)
    now, wall = service.clock.now(), time.time()  # leases are in wall time (server.clock)

    def read(t: Txn) -> TaskQueueDescription:
        return TaskQueueDescription(
            task_queue=queue,
            pollers=[Poller(session_id=p.session_id, identity=p.identity,
                            workflow_types=p.workflow_types, activity_types=p.activity_types,
                            lease_expires_at=p.expires_at)
                     for p in t.queue_pollers(ns, queue, wall)],
            backlog=[QueueBacklog(kind=b.kind, count=b.count,
                                  oldest_ready_time=b.oldest_visible_at)
                     for b in t.queue_backlog(ns, queue, now)])
    return json_response(await service.store.read(read))


def add_routes(app: web.Application, nsp: str) -> None:
    app.router.add_get(nsp + "/task-queues/{queue}", describe_task_queue)
