"""The worker's and clients' hot routes are matched first.

aiohttp tries the routes under one static prefix in the order they were added, one regular
expression each, and every namespaced route shares ``/api/v1/namespaces``. Added 40th, the
worker's poll cost 49 us of the event loop to route (``src/plait/server/app.py``).
"""

from __future__ import annotations

import types

from plait.server.app import make_app

NSP = "/api/v1/namespaces/{ns}"


def test_the_hot_namespaced_routes_come_first() -> None:
    service = types.SimpleNamespace(config=types.SimpleNamespace(max_payload=1 << 20))
    app = make_app(service)  # type: ignore[arg-type]
    namespaced = [r.canonical for r in app.router.resources() if r.canonical.startswith(NSP)]
    assert namespaced[:3] == [NSP + "/task-queues/{queue}/poll", NSP + "/workflows",
                              NSP + "/workflows/{wid}/result"]
