"""What operators look at: the web UI, Prometheus metrics, the health endpoint."""

from __future__ import annotations

import aiohttp

from plait.testing import WorkflowEnvironment


async def test_ui_metrics_and_health(env: WorkflowEnvironment, queue: str) -> None:
    await env.client.start_workflow("Anything", id="ops-1", task_queue=queue)
    async with aiohttp.ClientSession() as http:
        async with http.get(env.address + "/") as r:
            page = await r.text()
            assert r.status == 200 and "text/html" in r.headers["Content-Type"]
            assert '<script type="module" src="/ui/' in page  # the console (tests/ui)
        async with http.get(env.address + "/metrics") as r:
            text = await r.text()
            assert r.status == 200
            assert 'plait_workflows_started_total{namespace="default",workflow_type="Anything"}' \
                in text
            assert "plait_http_requests_total" in text
        async with http.get(env.address + "/health") as r:
            assert r.status == 200 and (await r.json()) == {"status": "ok"}
