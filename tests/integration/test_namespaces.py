"""Namespaces are created, not implied (API.md "Namespaces, API keys, TLS"): `default` always
exists, a call naming any other unknown namespace is refused with `namespace_not_found`
naming the known ones, and nothing is created by the refused call."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import pytest

from plait.client import Client
from plait.errors import NamespaceNotFoundError, RPCError
from plait.testing import WorkflowEnvironment
from tests.integration.cli_process import one_line_error, plait

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    async with WorkflowEnvironment.start_local(namespaces=["billing"]) as e:
        yield e


async def test_a_typo_is_refused_and_creates_nothing(env: WorkflowEnvironment) -> None:
    typo = await Client.connect(env.address, namespace="biling")
    try:
        with pytest.raises(NamespaceNotFoundError) as err:
            await typo.start_workflow("Anything", id="w", task_queue="q")
        assert "'biling'" in str(err.value) and "billing" in str(err.value) \
            and "default" in str(err.value)
        assert err.value.status == 404 and err.value.code == "namespace_not_found"
        with pytest.raises(NamespaceNotFoundError):
            await typo.count_workflows()
        with pytest.raises(NamespaceNotFoundError):
            await typo.get_workflow_handle("w").describe()
        with pytest.raises(NamespaceNotFoundError):
            await typo.list_rate_limits()
    finally:
        await typo.close()
    names = [n.name for n in await env.client.list_namespaces()]
    assert names == ["billing", "default"]


async def test_every_route_with_a_namespace_checks_it(env: WorkflowEnvironment) -> None:
    """Workers too: a session or a poll on an unknown namespace is refused, not waited on."""
    base = env.address + "/api/v1/namespaces/nowhere"
    calls = [("POST", "/workflows", {}), ("GET", "/workflows", None),
             ("GET", "/workflow-count", None), ("GET", "/workflows/w", None),
             ("GET", "/workflows/w/history", None), ("POST", "/workflows/w/signal", {}),
             ("POST", "/workflows/w/query", {}), ("POST", "/sessions", {}),
             ("POST", "/task-queues/q/poll", {"kind": "workflow", "wait": 5}),
             ("GET", "/schedules", None), ("POST", "/schedules", {}),
             ("GET", "/rate-limits", None), ("GET", "", None), ("POST", "/update", {})]
    async with aiohttp.ClientSession() as http:
        for method, path, body in calls:
            async with http.request(method, base + path, json=body) as resp:
                answer = await resp.json()
                assert resp.status == 404, (method, path, answer)
                assert answer["error"]["code"] == "namespace_not_found", (method, path)
    assert [n.name for n in await env.client.list_namespaces()] == ["billing", "default"]


async def test_create_list_describe_update(env: WorkflowEnvironment) -> None:
    made = await env.client.create_namespace("audit", retention=timedelta(days=30),
                                             description="compliance")
    assert (made.name, made.retention, made.description) == (
        "audit", timedelta(days=30), "compliance")
    assert made.created_at is not None
    with pytest.raises(RPCError) as err:
        await env.client.create_namespace("audit")
    assert err.value.code == "namespace_already_exists" and err.value.status == 409
    assert (await env.client.describe_namespace("audit")) == made
    changed = await env.client.update_namespace("audit", retention=timedelta(days=2))
    assert changed.retention == timedelta(days=2) and changed.description == "compliance"
    default = await env.client.describe_namespace("default")
    assert default.retention == timedelta(days=7)
    with pytest.raises(NamespaceNotFoundError):
        await env.client.describe_namespace("nope")
    with pytest.raises(NamespaceNotFoundError):
        await env.client.update_namespace("nope", retention=timedelta(days=1))
    with pytest.raises(RPCError) as bad:
        await env.client.create_namespace("no/slash")
    assert bad.value.status == 400
    # a namespace made through one client is usable at once by another
    audit = await Client.connect(env.address, namespace="audit")
    try:
        handle = await audit.start_workflow("Anything", id="a-1", task_queue="q")
        assert (await handle.describe()).status == "RUNNING"
        assert await env.client.count_workflows() == 0  # default saw none of it
    finally:
        await audit.close()


async def test_start_time_skipping_creates_the_namespaces_named() -> None:
    async with WorkflowEnvironment.start_time_skipping(namespace="team-a",
                                                       namespaces=["team-a", "team-b"]) as e:
        assert [n.name for n in await e.client.list_namespaces()] == [
            "default", "team-a", "team-b"]
        await e.client.start_workflow("Anything", id="w", task_queue="q")
        assert await e.client.count_workflows() == 1


async def test_cli(env: WorkflowEnvironment) -> None:
    """The CLI in its own process (in a thread: the server keeps answering meanwhile)."""
    async def run(*args: str) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(plait, *args, address=env.address)

    made = await run("namespace", "create", "cli-ns", "--retention", "30d",
                     "--description", "x")
    assert made.returncode == 0, made.stderr
    listed = await run("namespace", "list", "-o", "json")
    assert [n["name"] for n in json.loads(listed.stdout)] == ["billing", "cli-ns", "default"]
    updated = await run("namespace", "update", "cli-ns", "--retention", "12h", "-o", "json")
    assert json.loads(updated.stdout)[0]["retention"] == 43200.0
    described = await run("namespace", "describe", "cli-ns")
    assert described.stdout.startswith("cli-ns\tretention 12h\tx"), described.stdout
    missing = one_line_error(await run("namespace", "describe", "nope"))
    assert "namespace 'nope' does not exist" in missing and "cli-ns" in missing
    bad = one_line_error(await run("namespace", "create", "y", "--retention", "soon"))
    assert "--retention 'soon' is not a duration" in bad
