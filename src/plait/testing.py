"""Test doubles that are public API: an in-process server, and a replayer for histories.

    async with WorkflowEnvironment.start_local() as env:
        async with Worker(env.client, task_queue="q", workflows=[Order], activities=[charge]):
            assert await env.client.execute_workflow(Order.run, "o-1", id="o-1",
                                                     task_queue="q") == "done"

``start_time_skipping()`` is the same server with a clock that skips: a workflow that sleeps
30 days completes in milliseconds (:mod:`plait.server.skipping` says exactly when it skips).
``start_local(auth=True)`` is the server as ``plait server --auth`` runs it: every route but
``/health`` and the console's files wants an API key; ``env.api_key`` is an admin key for every
namespace, which ``env.client`` already sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Generator, Sequence
from typing import Any

from plait import errors
from plait.client import Client
from plait.history import History
from plait.runtime.definitions import workflow_defn_of
from plait.runtime.info import RunIdentity
from plait.runtime.instance import new_instance
from plait.runtime.wire import to_events
from plait.server.auth import AuthSettings, make_key
from plait.server.config import RunLimits, ServiceConfig
from plait.server.main import Server
from plait.server.service import Service

__all__ = ["ActivityEnvironment", "Replayer", "WorkflowEnvironment"]


class WorkflowEnvironment:
    """A real plait server (SQLite, real HTTP on an ephemeral port) inside this process."""

    def __init__(self, server: Server, client: Client, api_key: str | None = None) -> None:
        self.server = server
        self.client = client
        self.api_key = api_key
        """With ``start_local(auth=True)``: an admin key for every namespace (``*``), the one
        ``client`` sends; make narrower keys with ``client.api.create_api_key``. Else None."""
        self._opened: contextlib.AbstractAsyncContextManager[WorkflowEnvironment] | None = None
        """Set when the environment was awaited rather than entered: :meth:`shutdown`
        closes it."""

    async def shutdown(self) -> None:
        """Stop an environment obtained with ``await WorkflowEnvironment.start_...()``
        (Temporal's habit); one used as ``async with`` stops at the end of the block."""
        opened, self._opened = self._opened, None
        if opened is not None:
            await opened.__aexit__(None, None, None)

    async def __aenter__(self) -> WorkflowEnvironment:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()

    @property
    def address(self) -> str:
        return self.server.address

    @property
    def supports_time_skipping(self) -> bool:
        return self._service.skipper is not None

    @property
    def _service(self) -> Service:
        assert self.server.service is not None, "the environment has been closed"
        return self.server.service

    def get_current_time(self) -> _AwaitableDatetime:
        """The server's durable time (what ``workflow.now()`` is based on), as aware UTC.
        It may also be awaited (``await env.get_current_time()``, Temporal's form)."""
        now = self._service.clock.datetime()
        return _AwaitableDatetime.combine(now.date(), now.timetz())

    async def sleep(self, duration: dt.timedelta | float) -> None:
        """Let ``duration`` (seconds or a timedelta) of server time pass. With time skipping,
        timers due meanwhile fire in order, each as soon as the server is idle; without it,
        this is a real sleep."""
        seconds = duration.total_seconds() if isinstance(duration, dt.timedelta) else duration
        skipper = self._service.skipper
        if skipper is None:
            await asyncio.sleep(seconds)
        else:
            await skipper.sleep(seconds)

    @staticmethod
    def start_local(*, db: str | None = None, namespace: str = "default",
                    namespaces: Sequence[str] = (), session_expiry: float = 5.0,
                    limits: RunLimits | None = None, auth: bool = False) -> _Starting:
        """A server whose time is real time. Use it as ``async with``, or await it and
        call :meth:`shutdown` at the end. ``namespaces`` are created (``default`` always
        exists; one that exists already is kept); ``namespace`` is the client's.
        ``limits`` (``plait.server.config.RunLimits``) sets the per-run limits, small ones
        to test what a workflow does near them (docs/operations.md "Limits").

        ``auth=True`` checks API keys as ``plait server --auth`` does (401 without a valid
        key, 403 without the role or the namespace): the environment makes an admin key for
        every namespace on the database, as ``plait apikey create --db`` would, keeps it in
        :attr:`api_key` and gives it to :attr:`client`."""
        return _Starting(_start(ServiceConfig(session_expiry=session_expiry, limits=limits),
                                db, namespace, namespaces, AuthSettings() if auth else None))

    @staticmethod
    def start_time_skipping(*, db: str | None = None, namespace: str = "default",
                            namespaces: Sequence[str] = (),
                            session_expiry: float = 5.0,
                            limits: RunLimits | None = None) -> _Starting:
        """A server whose durable time jumps to the next timer, backoff or timeout when no
        workflow or activity task is ready or running, while the test waits for a result
        (``result()``, ``execute_workflow``) or in :meth:`sleep`. Otherwise time runs at real
        speed, so a test can still signal a sleeping workflow before its timer fires. Worker
        sessions stay in real time; retention is a century, so runs never vanish mid-test.
        ``namespaces`` and ``limits`` as for :meth:`start_local`."""
        return _Starting(_start(ServiceConfig(session_expiry=session_expiry, time_skipping=True,
                                              retention_seconds=SKIPPING_RETENTION,
                                              limits=limits),
                                db, namespace, namespaces))


class _AwaitableDatetime(dt.datetime):
    """A datetime that can also be awaited for itself: plait's ``get_current_time()`` is a
    plain call, Temporal's a coroutine, and code written either way runs."""

    def __await__(self) -> Generator[Any, None, dt.datetime]:
        return self
        yield  # a generator: awaiting it returns at once


class _Starting:
    """What ``start_local()`` and ``start_time_skipping()`` return: ``async with`` it (the
    environment stops at the end of the block), or ``await`` it for the environment and
    call its ``shutdown()`` (Temporal's habit; ``async with await ...`` works too)."""

    def __init__(self, cm: contextlib.AbstractAsyncContextManager[WorkflowEnvironment]) -> None:
        self._cm = cm

    async def __aenter__(self) -> WorkflowEnvironment:
        return await self._cm.__aenter__()

    async def __aexit__(self, *exc: Any) -> bool | None:
        return await self._cm.__aexit__(*exc)

    def __await__(self) -> Generator[Any, None, WorkflowEnvironment]:
        return self._open().__await__()

    async def _open(self) -> WorkflowEnvironment:
        env = await self._cm.__aenter__()
        env._opened = self._cm
        return env


SKIPPING_RETENTION = 100 * 365 * 86400.0


async def _create_namespace(client: Client, name: str) -> None:
    try:
        await client.create_namespace(name)
    except errors.RPCError as e:
        if e.code != "namespace_already_exists":
            raise


async def _admin_key(server: Server) -> str:
    """An admin key for every namespace, written to the database directly (the way the
    first key of a real deployment is made: no key exists yet to ask the API with)."""
    assert server.service is not None
    made = make_key("*", "admin", "testing", now=time.time())
    await server.service.store.write(lambda t: t.insert_api_key(made.row))
    return made.key


@contextlib.asynccontextmanager
async def _start(config: ServiceConfig, db: str | None, namespace: str,
                 namespaces: Sequence[str], auth: AuthSettings | None = None,
                 ) -> AsyncIterator[WorkflowEnvironment]:
    tmp = None
    if db is None:
        tmp = tempfile.mkdtemp(prefix="plait-env-")
        db = "sqlite:///" + os.path.join(tmp, "plait.db")
    server = Server(db, "127.0.0.1", 0, config, auth=auth)
    await server.start()
    try:
        key = await _admin_key(server) if auth is not None else None
    except BaseException:
        await server.stop()
        raise
    client = await Client.connect(server.address, namespace=namespace, api_key=key)
    try:
        for name in dict.fromkeys(namespaces):
            if name != "default":
                await _create_namespace(client, name)
        yield WorkflowEnvironment(server, client, key)
    finally:
        await client.close()
        await server.stop()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


class Replayer:
    """Check workflow code against recorded histories (e.g. exported from production)."""

    def __init__(self, *, workflows: Sequence[type], data_converter: object = None) -> None:
        """``data_converter``: the one the histories' payloads were written with (a custom
        payload converter's encodings decode only with it)."""
        self.workflows = {d.name: d for d in (workflow_defn_of(w) for w in workflows)}
        self._conv = None
        if data_converter is not None:
            from plait.converter import Conversions, check_data_converter

            _, converter = check_data_converter(data_converter)
            self._conv = Conversions.of(converter)

    async def replay(self, history: History | str) -> None:
        """Raise ``NonDeterminismError`` (or the workflow's own error) when it diverges."""
        if isinstance(history, str):
            history = History.from_json(history)
        if not history.events:
            raise ValueError("the history has no events")
        started = history.events[0].attributes
        wtype = started.get("workflow_type", "")
        defn = self.workflows.get(wtype)
        if defn is None:
            raise ValueError(f"history is of workflow type {wtype!r}; the replayer knows "
                             f"{sorted(self.workflows)}")
        events = to_events(history)
        inst = new_instance(defn, RunIdentity(history.workflow_id, history.run_id, wtype,
                                              started.get("task_queue", "")),
                            conv=self._conv)
        outcome = inst.replay_then_activate(events, None)
        inst.evict()
        if outcome.failure is not None:
            raise outcome.failure.cause


class ActivityEnvironment:
    """Run an activity function alone, with a made-up ``activity.info()``; heartbeats are
    captured in ``heartbeats`` and :meth:`cancel` makes ``activity.is_cancelled()`` true.

        env = ActivityEnvironment(attempt=2)
        assert await env.run(charge, "o-1", 500) == "ok"
    """

    def __init__(self, **info: Any) -> None:
        from plait import activity

        defaults: dict[str, Any] = {
            "activity_id": "1", "activity_type": "test", "attempt": 1,
            "workflow_id": "test-workflow", "run_id": "test-run",
            "workflow_type": "TestWorkflow", "task_queue": "test", "task_token": "test-token",
            "heartbeat_details": (), "scheduled_time": 0.0, "started_time": 0.0,
            "heartbeat_timeout": None}
        self.info = activity.ActivityInfo(**{**defaults, **info})
        self.heartbeats: list[tuple[Any, ...]] = []
        self._context = activity._Context(self.info, self.heartbeats.append)

    def cancel(self) -> None:
        self._context.cancelled = True

    async def run(self, fn: Any, *args: Any) -> Any:
        """Call the activity (sync ones in a thread) as a worker would."""
        import contextvars
        import dataclasses

        from plait import activity
        from plait.runtime.definitions import activity_defn_of

        defn = activity_defn_of(fn)
        self._context.info = dataclasses.replace(self.info, activity_type=defn.name)
        self._context.sync = not defn.is_async
        ctx = contextvars.copy_context()
        ctx.run(activity._current.set, self._context)
        if defn.is_async:
            return await asyncio.get_running_loop().create_task(defn.fn(*args), context=ctx)
        return await asyncio.to_thread(ctx.run, defn.fn, *args)
