"""API keys over real HTTP (API.md "Namespaces, API keys, TLS"): every route family x every
role x own and foreign namespace; 401 without a valid key, 403 without the role or the
namespace, and a refused call changes nothing and says nothing about what exists."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from plait import Worker, activity, workflow
from plait.client import Client
from plait.errors import PermissionDeniedError, UnauthenticatedError
from plait.protocol.tenancy import CreateApiKeyRequest
from plait.server.app import make_app
from plait.server.auth import AuthSettings, hash_secret, make_key, parse_key
from plait.server.config import ServiceConfig
from plait.server.main import Server
from plait.server.service import Service
from plait.store.sqlite import SQLiteStore
from plait.testing import WorkflowEnvironment
from tests.integration.cli_process import one_line_error, plait, plait_command, stop

pytestmark = pytest.mark.timeout(120)

ROLES = ("reader", "writer", "worker", "admin")
NS = "/api/v1/namespaces/{ns}"
WF = NS + "/workflows/{wid}"
SC = NS + "/schedules/{sid}"
READ = {"reader", "writer", "admin"}
WRITE = {"writer", "admin"}
WORK = {"worker", "admin"}
ADMIN = {"admin"}
ALL = set(ROLES)

# What API.md grants each role, written from the document (not from server/auth.py), for
# every route: (method, path, roles allowed, whether the path names a namespace).
MATRIX: list[tuple[str, str, set[str]]] = [
    # reader: list, count, describe, history, query, schedules and rate limits read
    ("GET", NS + "/workflows", READ),
    ("GET", NS + "/workflow-count", READ),
    ("GET", WF, READ),
    ("GET", WF + "/history", READ | WORK),  # workers replay histories
    ("GET", WF + "/result", READ),
    ("POST", WF + "/query", READ),
    ("GET", WF + "/updates/{uid}", READ),
    ("GET", NS + "/schedules", READ),
    ("GET", SC, READ),
    ("GET", NS + "/rate-limits", READ),
    ("GET", NS, READ),
    ("GET", NS + "/batches", READ),
    ("GET", NS + "/batches/{batch}", READ),
    # writer: start, signal, update, cancel, terminate, schedules, async completion
    ("POST", NS + "/workflows", WRITE),
    ("POST", WF + "/signal", WRITE),
    ("POST", WF + "/update", WRITE),
    ("POST", WF + "/cancel", WRITE),
    ("POST", WF + "/terminate", WRITE),
    ("POST", WF + "/pause", WRITE),
    ("POST", WF + "/unpause", WRITE),
    ("DELETE", WF, WRITE),
    ("POST", WF + "/activities/{aid}/pause", WRITE),
    ("POST", WF + "/activities/{aid}/unpause", WRITE),
    ("POST", WF + "/activities/{aid}/reset", WRITE),
    ("POST", NS + "/schedules", WRITE),
    ("DELETE", SC, WRITE),
    ("POST", SC + "/update", WRITE),
    ("POST", SC + "/pause", WRITE),
    ("POST", SC + "/unpause", WRITE),
    ("POST", SC + "/trigger", WRITE),
    ("POST", SC + "/backfill", WRITE),
    ("POST", NS + "/batches", WRITE),  # batches: a writer's (API.md)
    ("POST", NS + "/batches/{batch}/cancel", WRITE),
    ("POST", "/api/v1/activity-tasks/complete", WRITE | WORK),
    ("POST", "/api/v1/activity-tasks/fail", WRITE | WORK),
    ("POST", "/api/v1/activity-tasks/heartbeat", WRITE | WORK),
    # worker: poll, complete, fail, heartbeat, sessions
    ("POST", NS + "/sessions", WORK),
    ("POST", NS + "/task-queues/{queue}/poll", WORK),
    ("POST", "/api/v1/sessions/{sid}/heartbeat", WORK),
    ("DELETE", "/api/v1/sessions/{sid}", WORK),
    ("GET", "/api/v1/sessions/{sid}/watch", WORK),
    ("POST", "/api/v1/task-completions", WORK),
    ("POST", "/api/v1/workflow-tasks/complete", WORK),
    ("POST", "/api/v1/workflow-tasks/fail", WORK),
    ("POST", "/api/v1/activity-tasks/complete-async", WORK),
    ("POST", "/api/v1/query-tasks/respond", WORK),
    # admin: rate limits, namespace settings, keys
    ("PUT", NS + "/rate-limits", ADMIN),
    ("DELETE", NS + "/rate-limits", ADMIN),
    ("POST", NS + "/update", ADMIN),
    ("POST", "/api/v1/namespaces", ADMIN),
    ("POST", "/api/v1/api-keys", ADMIN),
    ("GET", "/api/v1/api-keys", ADMIN),
    ("POST", "/api/v1/api-keys/{key_id}/revoke", ADMIN),
    # any valid key
    ("GET", "/api/v1/namespaces", ALL),
    ("GET", "/api/v1/openapi.json", ALL),
    ("GET", "/metrics", ALL),
    ("GET", "/api/v1/csrf", ALL),
    ("GET", "/api/v1/no-such-route", ALL),
]
# The console's page and files are the same for everyone and hold no data: they load without
# a key (the console then asks for one, and reads everything through the API above).
PUBLIC = ["/", "/namespaces/a/workflows", "/namespaces/b/workflows/w-exists", "/ui/v1/app.js",
          "/ui/v1/style.css", "/health"]


@activity.defn
async def shout(text: str) -> str:
    return text.upper()


@workflow.defn
class Greet:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(shout, f"hello {name}",
                                               start_to_close_timeout=timedelta(seconds=10))


@dataclass
class Site:
    server: Server
    db: Path
    root: str
    """An admin key for every namespace."""
    keys: dict[tuple[str, str], str]
    """(namespace, role) -> key, for namespaces a and b."""

    @property
    def address(self) -> str:
        return self.server.address


def bootstrap_admin(db: Path) -> str:
    """The first admin key, made on the database directly, as a user does."""
    made = plait("apikey", "create", "--db", f"sqlite:///{db}", "--namespace", "*",
                 "--role", "admin", "--name", "root")
    assert made.returncode == 0, made.stderr
    key = made.stdout.splitlines()[-1]
    assert parse_key(key) is not None, made.stdout
    return key


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    db = tmp_path / "plait.db"
    root = bootstrap_admin(db)
    server = Server(f"sqlite:///{db}", port=0, config=ServiceConfig(session_expiry=3.0),
                    auth=AuthSettings())
    await server.start()
    try:
        admin = await Client.connect(server.address, api_key=root)
        keys: dict[tuple[str, str], str] = {}
        for ns in ("a", "b"):
            await admin.create_namespace(ns)
            for role in ROLES:
                made = await admin.api.create_api_key(_key_request(ns, role))
                keys[(ns, role)] = made.key
            client = await Client.connect(server.address, namespace=ns, api_key=root)
            await client.start_workflow("Greet", "x", id="w-exists", task_queue="q")
            await client.close()
        await admin.close()
        yield Site(server, db, root, keys)
    finally:
        await server.stop()


def _key_request(ns: str, role: str, expires_in: float | None = None) -> CreateApiKeyRequest:
    return CreateApiKeyRequest(namespace=ns, role=role,  # type: ignore[arg-type]
                               name=f"{ns}-{role}", expires_in=expires_in)


def url(site: Site, path: str, ns: str, wid: str = "w-exists") -> str:
    return site.address + path.format(ns=ns, wid=wid, sid="s-1", uid="u-1", queue="q",
                                      key_id="0123456789abcdef", aid="1", batch="b-1")


async def call(http: aiohttp.ClientSession, method: str, target: str, key: str | None,
               ) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    params = {"wait": "0"} if method == "GET" else None
    async with http.request(method, target, json={} if method in ("POST", "PUT") else None,
                            headers=headers, params=params) as resp:
        body = await resp.read()
        ctype = resp.headers.get("Content-Type", "")
        return resp.status, (await resp.json() if "json" in ctype else body)


async def snapshot(site: Site) -> dict[str, Any]:
    """Everything a refused call could have changed, read with the root key."""
    out: dict[str, Any] = {}
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {site.root}"}) as http:
        for ns in ("a", "b"):
            for path in ("/workflows", "/workflows/w-exists", "/workflows/w-exists/history",
                         "/schedules", "/rate-limits", "/batches", ""):
                async with http.get(f"{site.address}/api/v1/namespaces/{ns}{path}") as r:
                    out[ns + path] = (r.status, await r.json())
        for path in ("/api/v1/namespaces", "/api/v1/api-keys"):
            async with http.get(site.address + path) as r:
                out[path] = (r.status, await r.json())
    return out


async def test_every_route_family_every_role_own_and_foreign_namespace(site: Site) -> None:
    before = await snapshot(site)
    allowed: list[tuple[str, str, str]] = []
    async with aiohttp.ClientSession() as http:
        for method, path, roles in MATRIX:
            namespaced = "{ns}" in path
            for role in ROLES:
                key = site.keys[("a", role)]
                # a foreign namespace: 403 for every role, the same answer whether the
                # workflow exists or not
                if namespaced:
                    seen = [await call(http, method, url(site, path, "b", wid), key)
                            for wid in ("w-exists", "w-absent")]
                    for status, body in seen:
                        assert status == 403, (method, path, role, body)
                        assert body["error"]["code"] == "permission_denied"
                    assert seen[0] == seen[1], (method, path, role)
                    # an unknown namespace is not revealed as unknown either
                    status, _ = await call(http, method, url(site, path, "zz"), key)
                    assert status == 403, (method, path, role)
                if role not in roles:
                    status, body = await call(http, method, url(site, path, "a"), key)
                    assert status == 403, (method, path, role, body)
                    assert body["error"]["code"] == "permission_denied"
                else:
                    allowed.append((method, path, role))
            # no key, a made-up key, a malformed header: 401 on every route
            for bad in (None, "plait_0123456789abcdef." + "A" * 43, "nonsense"):
                status, body = await call(http, method, url(site, path, "a"), bad)
                assert status == 401, (method, path, bad, body)
                assert body["error"]["code"] == "unauthenticated"
    assert await snapshot(site) == before  # nothing a refused call asked for happened

    # the allowed calls get past the key check (they may still be bad requests: empty bodies)
    async with aiohttp.ClientSession() as http:
        for method, path, role in allowed:
            status, body = await call(http, method, url(site, path, "a", "w-absent"),
                                      site.keys[("a", role)])
            assert status not in (401, 403) and status < 500, (method, path, role, status, body)
        # the root key covers every namespace
        for method, path, _ in MATRIX:
            status, body = await call(http, method, url(site, path, "b", "w-absent"), site.root)
            assert status not in (401, 403) and status < 500, (method, path, status, body)


async def test_health_is_public_and_metrics_can_be(site: Site, tmp_path: Path) -> None:
    async with aiohttp.ClientSession() as http:
        for path in PUBLIC:
            status, body = await call(http, "GET", site.address + path, None)
            assert status == 200, (path, body)
            assert b"w-exists" not in body  # the page names no data
        assert (await call(http, "GET", site.address + "/metrics", None))[0] == 401
    service = Service(SQLiteStore(str(tmp_path / "m.db")))
    await service.start()
    try:
        app = make_app(service, AuthSettings(public_metrics=True))
        runner = aiohttp.web.AppRunner(app)
        await runner.setup()
        site2 = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
        await site2.start()
        port = runner.addresses[0][1]
        async with aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{port}"
            assert (await call(http, "GET", base + "/metrics", None))[0] == 200
            assert (await call(http, "GET", base + "/api/v1/namespaces", None))[0] == 401
        await runner.cleanup()
    finally:
        await service.stop()
        await service.store.close()


async def test_workers_and_clients_with_their_own_keys_run_a_workflow(site: Site) -> None:
    writer = await Client.connect(site.address, namespace="a", api_key=site.keys[("a", "writer")])
    worker_client = await Client.connect(site.address, namespace="a",
                                         api_key=site.keys[("a", "worker")])
    try:
        async with Worker(worker_client, task_queue="greet", workflows=[Greet],
                          activities=[shout]):
            result = await writer.execute_workflow(Greet.run, "ada", id="g-1",
                                                   task_queue="greet")
        assert result == "HELLO ADA"
        with pytest.raises(PermissionDeniedError):
            await worker_client.start_workflow(Greet.run, "x", id="g-2", task_queue="greet")
        reader = await Client.connect(site.address, namespace="a",
                                      api_key=site.keys[("a", "reader")])
        assert await reader.get_workflow_handle("g-1").result() == "HELLO ADA"
        with pytest.raises(PermissionDeniedError):
            await reader.get_workflow_handle("g-1").terminate()
        await reader.close()
        nobody = await Client.connect(site.address, namespace="a")
        with pytest.raises(UnauthenticatedError):
            await nobody.count_workflows()
        await nobody.close()
    finally:
        await writer.close()
        await worker_client.close()


async def test_revocation_is_in_force_at_once(site: Site) -> None:
    key = site.keys[("a", "reader")]
    reader = await Client.connect(site.address, namespace="a", api_key=key)
    admin = await Client.connect(site.address, api_key=site.keys[("a", "admin")])
    try:
        assert await reader.count_workflows() == 1  # cached now
        key_id = key.split("_", 1)[1].split(".")[0]
        foreign_id = site.keys[("b", "reader")].split("_", 1)[1].split(".")[0]
        # an admin of a cannot revoke (nor see) b's keys
        with pytest.raises(Exception) as err:
            await admin.api.revoke_api_key(foreign_id)
        assert getattr(err.value, "status", None) == 404
        listed = await admin.api.list_api_keys()
        assert {k.namespace for k in listed} == {"a"}
        assert (await admin.api.revoke_api_key(key_id)).revoked
        with pytest.raises(UnauthenticatedError) as denied:
            await reader.count_workflows()
        assert "revoked" in str(denied.value)
        assert not (await admin.api.revoke_api_key(key_id)).revoked
    finally:
        await reader.close()
        await admin.close()


async def test_an_expired_key_is_refused(site: Site) -> None:
    """A key whose expiry has passed, written beside the server (as another server would)."""
    made = make_key("a", "reader", "old", now=time.time() - 100, expires_in=50)
    row = made.row
    with sqlite3.connect(site.db) as conn:
        conn.execute("INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                     (row.key_id, row.name, row.namespace, row.role, row.secret_hash,
                      row.created_at, row.expires_at))
    client = await Client.connect(site.address, namespace="a", api_key=made.key)
    try:
        with pytest.raises(UnauthenticatedError) as err:
            await client.count_workflows()
        assert "expired" in str(err.value)
    finally:
        await client.close()
    fresh = await Client.connect(site.address, api_key=site.root)
    try:
        short = await fresh.api.create_api_key(_key_request("a", "reader", expires_in=3600))
        assert short.expires_at is not None and short.expires_at > time.time() + 3500
    finally:
        await fresh.close()


async def test_the_raw_key_is_never_in_the_database(site: Site) -> None:
    await site.server.stop()  # every write is in the file (no WAL left behind)
    data = b"".join(p.read_bytes() for p in site.db.parent.glob("plait.db*") if p.is_file())
    for key in [site.root, *site.keys.values()]:
        parsed = parse_key(key)
        assert parsed is not None
        key_id, secret = parsed
        assert secret.encode() not in data and key.encode() not in data
        assert hash_secret(secret).encode() in data  # what is stored instead
        assert key_id.encode() in data


async def test_cli_with_keys(site: Site) -> None:
    async def run(*args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {"PLAIT_API_KEY": key} if key else {}
        return await asyncio.to_thread(plait, *args, address=site.address, env=env)

    refused = one_line_error(await run("workflow", "list", "--namespace", "a"))
    assert "unauthenticated" in refused
    listed = await run("workflow", "list", "--namespace", "a", key=site.keys[("a", "reader")])
    assert listed.returncode == 0 and "w-exists" in listed.stdout, listed.stderr
    other = one_line_error(await run("workflow", "list", "--namespace", "b",
                                     key=site.keys[("a", "reader")]))
    assert "permission_denied" in other
    made = await run("apikey", "create", "--namespace", "a", "--role", "writer", "--expires",
                     "90d", key=site.keys[("a", "admin")])
    assert made.returncode == 0, made.stderr
    new_key = made.stdout.splitlines()[-1]
    assert parse_key(new_key) is not None
    keys = await run("apikey", "list", "-o", "json", key=site.root)
    assert new_key not in keys.stdout and new_key.split(".")[0][6:] in keys.stdout
    gone = await run("apikey", "revoke", new_key.split(".")[0][6:], key=site.root)
    assert gone.returncode == 0 and "revoked" in gone.stdout
    after = one_line_error(await run("workflow", "list", "--namespace", "a", key=new_key))
    assert "revoked" in after


def test_no_auth_means_loopback_only(tmp_path: Path) -> None:
    line = one_line_error(plait("server", "--host", "0.0.0.0", "--port", "0", cwd=tmp_path))
    assert "--auth" in line and "--insecure" in line
    assert list(tmp_path.iterdir()) == []


def test_plait_auth_env_turns_auth_on(tmp_path: Path) -> None:
    """``PLAIT_AUTH=1`` is ``--auth``: the server says so, and /metrics wants a key."""
    env = {k: v for k, v in os.environ.items() if k not in ("PLAIT_ADDRESS", "PLAIT_DB")}
    proc = subprocess.Popen([*plait_command(), "server", "--port", "0", "--db",
                             f"sqlite:///{tmp_path / 'p.db'}"], cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            env={**env, "PLAIT_AUTH": "1"})
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("plait server on http://"), first
        address = first.split()[3]
        assert proc.stdout.readline().startswith("API keys required (--auth)")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(address + "/metrics", timeout=10)
        assert err.value.code == 401
        with urllib.request.urlopen(address + "/health", timeout=10) as ok:
            assert ok.status == 200
    finally:
        stop(proc)


async def test_tasks_and_sessions_of_another_namespace_are_out_of_reach(site: Site) -> None:
    """Routes that name no namespace address a task by token or a session by id: a worker
    key of b can do nothing with a's, and a's worker still can afterwards."""
    api = site.address + "/api/v1"

    async def post(http: aiohttp.ClientSession, path: str, body: Any, key: str
                   ) -> tuple[int, Any]:
        async with http.post(api + path, json=body,
                             headers={"Authorization": f"Bearer {key}"}) as resp:
            return resp.status, await resp.json()

    mine, theirs = site.keys[("a", "worker")], site.keys[("b", "worker")]
    async with aiohttp.ClientSession() as http:
        status, opened = await post(http, "/namespaces/a/sessions", {
            "task_queue": "q", "identity": "t", "workflow_types": ["Greet"]}, mine)
        assert status == 201, opened
        sid = opened["session_id"]
        status, polled = await post(http, "/namespaces/a/task-queues/q/poll", {
            "session_id": sid, "kind": "workflow", "max_tasks": 1, "wait": 5}, mine)
        assert status == 200 and len(polled["tasks"]) == 1, polled
        token = polled["tasks"][0]["token"]
        before = await snapshot(site)
        attempts: list[tuple[str, Any]] = [
            ("/workflow-tasks/complete", {"token": token, "commands": []}),
            ("/workflow-tasks/fail", {"token": token, "failure": {"message": "x"}}),
            ("/task-completions", {"completions": [
                {"type": "workflow_complete", "token": token, "commands": []}]}),
            ("/activity-tasks/heartbeat", {"token": token}),
            ("/activity-tasks/complete-async", {"token": token}),
            ("/query-tasks/respond", {"token": token, "result": None}),
            (f"/sessions/{sid}/heartbeat", {"held": []}),
        ]
        for path, body in attempts:
            status, answer = await post(http, path, body, theirs)
            assert status == 403, (path, answer)
            assert answer["error"]["code"] == "permission_denied"
        for method in ("GET", "DELETE"):
            target = api + f"/sessions/{sid}" + ("/watch" if method == "GET" else "")
            async with http.request(method, target, params={"wait": "0"},
                                    headers={"Authorization": f"Bearer {theirs}"}) as resp:
                assert resp.status == 403, (method, await resp.text())
        assert await snapshot(site) == before
        # the task and the session are still a's worker's to use
        status, done = await post(http, "/workflow-tasks/complete",
                                  {"token": token, "commands": []}, mine)
        assert status == 200, done
        status, beat = await post(http, f"/sessions/{sid}/heartbeat", {"held": []}, mine)
        assert status == 200, beat


async def test_browser_requests_that_change_state_need_the_csrf_token_of_their_key(
        site: Site) -> None:
    writer, other = site.keys[("a", "writer")], site.keys[("a", "admin")]
    terminate = f"{site.address}/api/v1/namespaces/a/workflows/w-exists/terminate"
    browser = {"Origin": site.address, "Sec-Fetch-Site": "same-origin"}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{site.address}/api/v1/csrf",
                            headers={"Authorization": f"Bearer {writer}"}) as r:
            info = await r.json()
        assert info["role"] == "writer" and info["namespace"] == "a" and info["csrf_token"]
        async with http.get(f"{site.address}/api/v1/csrf",
                            headers={"Authorization": f"Bearer {other}"}) as r:
            others = (await r.json())["csrf_token"]

        async def post(headers: dict[str, str]) -> tuple[int, Any]:
            async with http.post(terminate, json={"reason": "csrf test"}, headers={
                    "Authorization": f"Bearer {writer}", **headers}) as resp:
                return resp.status, await resp.json()

        # a browser without the token, or with another key's: refused, nothing changed
        for extra in ({}, {"X-CSRF-Token": others}, {"X-CSRF-Token": "x"}):
            status, body = await post({**browser, **extra})
            assert status == 403 and body["error"]["code"] == "permission_denied", body
            assert "X-CSRF-Token" in body["error"]["message"]
        assert (await snapshot(site))["a/workflows/w-exists"][1]["status"] == "RUNNING"
        # reads from a browser need none; the client, workers and the CLI send none
        async with http.get(f"{site.address}/api/v1/namespaces/a/workflows", headers={
                **browser, "Authorization": f"Bearer {writer}"}) as r:
            assert r.status == 200
        status, body = await post({**browser, "X-CSRF-Token": info["csrf_token"]})
        assert status == 200, body
        assert (await snapshot(site))["a/workflows/w-exists"][1]["status"] == "TERMINATED"


async def test_start_local_with_auth_checks_keys_and_hands_the_test_an_admin_key() -> None:
    """``WorkflowEnvironment.start_local(auth=True)``: the server wants keys as ``--auth``
    does; ``env.api_key`` covers every namespace and ``env.client`` sends it."""
    async with WorkflowEnvironment.start_local(auth=True, namespaces=["billing"]) as env:
        key = env.api_key
        assert key is not None and parse_key(key) is not None
        async with Worker(env.client, task_queue="q-auth", workflows=[Greet],
                          activities=[shout]):
            assert await env.client.execute_workflow(Greet.run, "env", id="w-env",
                                                     task_queue="q-auth") == "HELLO ENV"
        anonymous = await Client.connect(env.address)
        with pytest.raises(UnauthenticatedError):
            await anonymous.get_workflow_handle("w-env").describe()
        await anonymous.close()
        reader = await env.client.api.create_api_key(_key_request("billing", "reader"))
        other = await Client.connect(env.address, api_key=reader.key)
        with pytest.raises(PermissionDeniedError):
            await other.get_workflow_handle("w-env").describe()
        await other.close()
    async with WorkflowEnvironment.start_local() as plain:
        assert plain.api_key is None


async def test_the_key_is_checked_before_the_path(site: Site) -> None:
    """A caller without a valid key gets 401 whatever its path holds (the fuzzer found a NUL
    in a path answered 400 before the key was looked at); with a key, the NUL is a 400."""
    path = "/api/v1/namespaces/a/workflows/w%00x"
    reader = site.keys[("a", "reader")]
    async with aiohttp.ClientSession() as http:
        assert (await call(http, "GET", site.address + path, None))[0] == 401
        assert (await call(http, "GET", site.address + path, "plait_bad"))[0] == 401
        assert (await call(http, "GET", site.address + path.replace("/a/", "/b/"),
                           reader))[0] == 403
        status, body = await call(http, "GET", site.address + path, reader)
        assert (status, body["error"]["code"]) == (400, "bad_request")
        status, body = await call(http, "POST", site.address + "/api/v1/sessions/s%00/heartbeat",
                                  site.keys[("a", "worker")])
        assert (status, body["error"]["code"]) == (400, "bad_request")
