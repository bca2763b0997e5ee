"""The session watch: a dropped watch expires the session after a short grace, unless the
worker comes back; a live worker's watch keeps it."""

from __future__ import annotations

import asyncio

import aiohttp

from plait.testing import WorkflowEnvironment

NS = "/api/v1/namespaces/default"


async def _session(http: aiohttp.ClientSession, env: WorkflowEnvironment, queue: str) -> str:
    async with http.post(env.address + NS + "/sessions", json={"task_queue": queue}) as r:
        return str((await r.json())["session_id"])


async def _drop_a_watch(env: WorkflowEnvironment, sid: str) -> None:
    """Open a watch on its own connection, then close that connection unanswered."""
    async with aiohttp.ClientSession() as own:
        watch = asyncio.ensure_future(own.get(env.address + f"/api/v1/sessions/{sid}/watch"))
        await asyncio.sleep(0.2)
        watch.cancel()


async def _alive(http: aiohttp.ClientSession, env: WorkflowEnvironment, sid: str) -> bool:
    async with http.post(env.address + f"/api/v1/sessions/{sid}/heartbeat",
                         json={"held": []}) as r:
        return r.status == 200


async def test_a_dropped_watch_expires_the_session_soon(env: WorkflowEnvironment,
                                                        queue: str) -> None:
    async with aiohttp.ClientSession() as http:
        sid = await _session(http, env, queue)
        await _drop_a_watch(env, sid)
        await asyncio.sleep(0.8)  # grace 0.25 s; the session expiry is 3 s
        assert not await _alive(http, env, sid)


async def test_a_watch_reopened_within_the_grace_keeps_the_session(
        env: WorkflowEnvironment, queue: str) -> None:
    async with aiohttp.ClientSession() as http:
        sid = await _session(http, env, queue)
        await _drop_a_watch(env, sid)
        again = asyncio.ensure_future(
            http.get(env.address + f"/api/v1/sessions/{sid}/watch", params={"wait": "2"}))
        await asyncio.sleep(0.8)
        assert await _alive(http, env, sid)
        async with await again as r:
            assert r.status == 200 and await r.json() == {"ok": True}


async def test_a_watch_on_an_unknown_session_is_404(env: WorkflowEnvironment) -> None:
    async with aiohttp.ClientSession() as http, http.get(
            env.address + "/api/v1/sessions/nope/watch") as r:
        assert r.status == 404
        assert (await r.json())["error"]["code"] == "session_not_found"
