"""The HTTP application: the API's routes (``/api/v1``, one module per resource under
:mod:`plait.server.api`), health, metrics and the web UI, behind one error middleware.

Each route reads its body into the wire struct the document names for it
(:mod:`plait.server.api_doc`, :mod:`plait.protocol`), so a malformed request is a 400 naming
the field before anything runs. Before that, the access middleware checks the caller's API key
(with ``auth``: :mod:`plait.server.auth`) and that the namespace the path names exists.
"""

from __future__ import annotations

from aiohttp import web

from plait.server import ui
from plait.server.api import (
    apikeys,
    batches,
    meta,
    namespaces,
    operations,
    ratelimits,
    schedules,
    stream,
    task_queues,
    workflows,
)
from plait.server.api import messages as msgs
from plait.server.api import sessions as sess
from plait.server.api import tasks as results
from plait.server.api.http import SERVICE, errors_middleware
from plait.server.auth import AUTH, Auth, AuthSettings, access_middleware
from plait.server.service import Service

__all__ = ["make_app"]

API = "/api/v1"


def make_app(service: Service, auth: AuthSettings | None = None) -> web.Application:
    """The application; with ``auth``, every route but ``/health`` and the console's files
    needs an API key."""
    app = web.Application(middlewares=[errors_middleware, access_middleware],
                          client_max_size=service.config.max_payload)
    app[SERVICE] = service
    if auth is not None:
        app[AUTH] = Auth(service, auth)
    nsp = API + "/namespaces/{ns}"
    wf = nsp + "/workflows/{wid}"
    r = app.router
    # aiohttp tries the routes under one static prefix (every namespaced route shares
    # "/api/v1/namespaces") in the order they were added, one regular expression each: added
    # 40th, a worker's poll took 49 us to route. So the hot paths come first: the worker's
    # poll, then starts, results and messages; the console's and operators' routes after.
    r.add_post(nsp + "/task-queues/{queue}/poll", sess.poll)
    r.add_post(nsp + "/workflows", workflows.start_workflow)
    r.add_get(nsp + "/workflows", workflows.list_workflows)  # the same resource: no cost
    r.add_get(wf + "/result", workflows.workflow_result)
    r.add_post(wf + "/signal", workflows.signal_workflow)
    r.add_post(wf + "/update", msgs.update_workflow)
    r.add_post(wf + "/query", msgs.query_workflow)
    r.add_get(wf + "/updates/{uid}", msgs.update_outcome)
    r.add_get(wf, workflows.describe_workflow)
    r.add_post(nsp + "/sessions", sess.open_session)
    r.add_get(nsp + "/workflow-count", workflows.count_workflows)
    ratelimits.add_routes(app, nsp)
    schedules.add_routes(app, nsp)
    batches.add_routes(app, nsp)
    task_queues.add_routes(app, nsp)
    r.add_get(wf + "/history", workflows.workflow_history)
    r.add_post(wf + "/terminate", workflows.terminate_workflow)
    r.add_post(wf + "/cancel", workflows.cancel_workflow)
    operations.add_routes(app, wf)
    r.add_post(API + "/query-tasks/respond", msgs.answer_query)
    r.add_post(API + "/sessions/{sid}/heartbeat", sess.session_heartbeat)
    r.add_delete(API + "/sessions/{sid}", sess.close_session)
    r.add_get(API + "/sessions/{sid}/watch", sess.watch_session)
    r.add_post(API + "/task-completions", results.complete_tasks)
    r.add_post(API + "/workflow-tasks/complete", results.single("workflow_complete"))
    r.add_post(API + "/workflow-tasks/fail", results.single("workflow_fail"))
    r.add_post(API + "/activity-tasks/complete", results.single("activity_complete"))
    r.add_post(API + "/activity-tasks/fail", results.single("activity_fail"))
    r.add_post(API + "/activity-tasks/heartbeat", results.heartbeat_activity_task)
    r.add_post(API + "/activity-tasks/complete-async", results.complete_async_activity_task)
    namespaces.add_routes(app, API)
    apikeys.add_routes(app, API)
    r.add_get(API + "/stream", stream.request_stream)
    r.add_get(API + "/openapi.json", meta.openapi_document)
    r.add_get("/health", meta.health)
    r.add_get("/metrics", meta.metrics)
    ui.add_routes(app)
    r.add_route("*", API + "/{tail:.*}", meta.not_found)
    return app
