"""The session watch: a dropped watch expires the session after a short grace, unless the
worker comes back; a live worker's watch keeps it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from plait import activity
from plait.testing import WorkflowEnvironment

NS = "/api/v1/namespaces/default"


@activity.defn
async def _noop() -> None:
    return None


async def _session(http: aiohttp.ClientSession, env: WorkflowEnvironment, queue: str) -> str:
    async with http.post(env.address + NS + "/sessions", json={"task_queue": queue}) as r:
        return str((await r.json())["session_id"])


async def _drop_a_watch(env: WorkflowEnvironment, sid: str) -> None:
    """Open a watch on its own connection, then close that connection unanswered."""
    async with aiohttp.ClientSession() as own:
        watch = asyncio.ensure_future(own.get(env.address + f"/api/v1/sessions/{sid}/watch"))
        # Time for the watch to reach the server: nothing in the API shows an open watch
        # (it answers only when it closes), so this one cannot wait on state.
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
        # A window, not a wait: past the grace (0.25 s), well before the expiry (3 s).
        await asyncio.sleep(0.8)
        assert not await _alive(http, env, sid)


async def test_a_watch_reopened_within_the_grace_keeps_the_session(
        env: WorkflowEnvironment, queue: str) -> None:
    async with aiohttp.ClientSession() as http:
        sid = await _session(http, env, queue)
        await _drop_a_watch(env, sid)
        again = asyncio.ensure_future(
            http.get(env.address + f"/api/v1/sessions/{sid}/watch", params={"wait": "2"}))
        await asyncio.sleep(0.8)  # a window: past the grace the dropped watch would have had
        assert await _alive(http, env, sid)
        async with await again as r:
            assert r.status == 200 and await r.json() == {"ok": True}


async def test_a_watch_on_an_unknown_session_is_404(env: WorkflowEnvironment) -> None:
    async with aiohttp.ClientSession() as http, http.get(
            env.address + "/api/v1/sessions/nope/watch") as r:
        assert r.status == 404
        assert (await r.json())["error"]["code"] == "session_not_found"


async def test_an_idle_worker_costs_the_server_no_statements(queue: str) -> None:
    """With a database of its own the server keeps leases in memory (``server.leases``): once
    a worker holds nothing, its heartbeats (every 0.8 s here) reach the database only to
    push the lease's far horizon forward, a few times a minute, not at every beat."""
    from plait import Worker

    async with WorkflowEnvironment.start_local(session_expiry=2.0) as env:
        store = env.server.service.store  # type: ignore[union-attr]
        ops: list[str] = []
        write, read = store.write, store.read

        async def counted_write(fn, **kw):  # type: ignore[no-untyped-def]
            ops.append("write")
            return await write(fn, **kw)

        async def counted_read(fn):  # type: ignore[no-untyped-def]
            ops.append("read")
            return await read(fn)
        store.write, store.read = counted_write, counted_read  # type: ignore[method-assign]
        async with Worker(env.client, task_queue=queue, workflows=[], activities=[_noop]):
            # Windows, not waits: the first second lets the session open and its first
            # heartbeat reconcile (neither is visible from outside); the next four seconds,
            # five heartbeats and a sixth of the 12 s horizon, are what is measured.
            await asyncio.sleep(1.0)
            ops.clear()
            await asyncio.sleep(4.0)
            idle = list(ops)
    assert idle == [], idle


async def test_after_a_restart_a_silent_session_expires_after_one_expiry(
        tmp_path: Path, queue: str) -> None:
    """Leases sit in the database far ahead of the real ones (``server.leases``); a
    restarted server must still judge a worker that died meanwhile after one expiry."""
    db = "sqlite:///" + str(tmp_path / "p.db")
    async with WorkflowEnvironment.start_local(db=db, session_expiry=1.0) as env, \
            aiohttp.ClientSession() as http:
        sid = await _session(http, env, queue)  # written 6 s ahead
        assert await _alive(http, env, sid)
    async with WorkflowEnvironment.start_local(db=db, session_expiry=1.0) as env, \
            aiohttp.ClientSession() as http:
        await asyncio.sleep(1.6)  # a window: longer than one expiry (1 s) since the restart
        assert not await _alive(http, env, sid)
