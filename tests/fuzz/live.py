"""A real plait server for the fuzzer, in a thread of its own, plus live handles into it.

schemathesis drives the API from synchronous test code; the server (``start_local``: SQLite,
real HTTP on an ephemeral port) runs on its own event loop in a background thread, so the same
server can afterwards run a real workflow end to end.

Random tokens and session ids only ever reach the "unknown" branches of the handlers. To get
past the fencing checks, :class:`Live` keeps a supply of *current* task tokens (a workflow task,
an activity attempt, a query) and sessions, and the fuzz test puts them into some of the
generated requests, so commands, results, failures and heartbeats are applied for real.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import requests

from plait.testing import WorkflowEnvironment

__all__ = ["Live", "LiveServer", "ServerErrors"]

T = TypeVar("T")
NS = "default"
LIVE_QUEUE = "fuzz-live"
TARGET_TYPE = "FuzzTarget"


class ServerErrors(logging.Handler):
    """Collects what the server logs as internal errors (with tracebacks), for the report."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def describe(self) -> str:
        fmt = logging.Formatter("%(message)s")
        return "\n\n".join(fmt.format(r) for r in self.records)


class LiveServer:
    """``WorkflowEnvironment.start_local()`` running on an event loop in a daemon thread."""

    def __init__(self, session_expiry: float = 30.0, db: str | None = None,
                 auth: bool = False) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="fuzz-server",
                                        daemon=True)
        self._stack = contextlib.AsyncExitStack()
        self._expiry = session_expiry
        self._auth = auth
        """``start_local(auth=True)``: keys are checked; ``env.api_key`` is an admin's."""
        # Memory-backed when the machine has it: the fuzzer's thousands of small commits
        # should not wait for a disk's fsync (durability is tested elsewhere).
        self._tmp = tempfile.mkdtemp(prefix="plait-fuzz-",
                                     dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
        self._db = db or "sqlite:///" + os.path.join(self._tmp, "plait.db")
        self.env: WorkflowEnvironment | None = None

    @property
    def address(self) -> str:
        assert self.env is not None
        return self.env.address

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def __enter__(self) -> LiveServer:
        self._thread.start()

        async def start() -> WorkflowEnvironment:
            return await self._stack.enter_async_context(
                WorkflowEnvironment.start_local(session_expiry=self._expiry, db=self._db,
                                                auth=self._auth))
        self.env = self.run(start())
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.run(self._stack.aclose())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()
            shutil.rmtree(self._tmp, ignore_errors=True)


class Live:
    """Current tokens and sessions, fetched over HTTP from the server under test."""

    def __init__(self, address: str, api_key: str | None = None) -> None:
        self.address = address
        self.http = requests.Session()
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        """What every request of this helper carries (a server with keys wants one)."""
        self.http.headers.update(self.headers)
        self._sessions: dict[str, str] = {}
        self._tokens: dict[str, str] = {}
        self.fetches = 0
        self.fetch_time = 0.0
        self.target_id = self._start(f"fuzz-target-{uuid.uuid4().hex[:8]}", queue="fuzz-idle")

    # -- plumbing -------------------------------------------------------------------------
    def call(self, method: str, path: str, body: Any = None, **params: str) -> Any:
        r = self.http.request(method, self.address + path, json=body, params=params,
                              timeout=30)
        assert r.status_code < 300, (method, path, body, r.status_code, r.text)
        return r.json()

    def _start(self, wid: str, queue: str = LIVE_QUEUE) -> str:
        self.call("POST", f"/api/v1/namespaces/{NS}/workflows", {
            "workflow_id": wid, "workflow_type": TARGET_TYPE, "task_queue": queue,
            "input": [{"encoding": "json", "data": "fuzz"}]})
        return wid

    def session(self, role: str = "fuzz") -> str:
        """An open session; ``role`` keeps the fuzzer's own session apart from the one that
        holds the live tokens (the fuzzer may close or heartbeat away its own)."""
        if role not in self._sessions:
            self._sessions[role] = self.call(
                "POST", f"/api/v1/namespaces/{NS}/sessions",
                {"task_queue": LIVE_QUEUE, "identity": f"fuzz-{role}",
                 "workflow_types": [TARGET_TYPE], "activity_types": ["fuzz_activity"]},
            )["session_id"]
        return self._sessions[role]

    def forget_session(self, role: str) -> None:
        self._sessions.pop(role, None)

    def _poll(self, kind: str) -> dict[str, Any] | None:
        for _ in range(2):
            r = self.http.post(
                f"{self.address}/api/v1/namespaces/{NS}/task-queues/{LIVE_QUEUE}/poll",
                json={"session_id": self.session("holder"), "kind": kind, "wait": 2},
                timeout=30)
            if r.status_code == 404:  # the holder session expired: open another
                self.forget_session("holder")
                continue
            tasks: list[dict[str, Any]] = r.json()["tasks"]
            return tasks[0] if tasks else None
        return None

    # -- tokens ---------------------------------------------------------------------------
    def token(self, kind: str) -> str:
        """A token that is (very likely) the current lease of a task of this kind."""
        if kind not in self._tokens:
            started = time.monotonic()
            self.fetches += 1
            self._tokens[kind] = {"workflow": self._workflow_token,
                                  "activity": self._activity_token,
                                  "query": self._query_token}[kind]()
            self.fetch_time += time.monotonic() - started
        return self._tokens[kind]

    def used(self, kind: str) -> None:
        """The token may have been consumed: fetch a new one next time."""
        self._tokens.pop(kind, None)

    def _workflow_token(self) -> str:
        self._start(f"fuzz-wt-{uuid.uuid4().hex[:12]}")
        for _ in range(5):
            task = self._poll("workflow")
            if task is not None:
                return str(task["token"])
        raise AssertionError("no workflow task to fuzz with")

    def _activity_token(self) -> str:
        wt = self._workflow_token()
        self.call("POST", "/api/v1/workflow-tasks/complete", {"token": wt, "commands": [{
            "kind": "schedule_activity", "activity_id": "1", "activity_type": "fuzz_activity",
            "task_queue": LIVE_QUEUE, "input": [], "start_to_close_timeout": 300}]})
        for _ in range(5):
            task = self._poll("activity")
            if task is not None:
                return str(task["token"])
        raise AssertionError("no activity task to fuzz with")

    def _query_token(self) -> str:
        """A query task stays alive while its caller waits: ask one in the background."""
        wid = self._start(f"fuzz-q-{uuid.uuid4().hex[:12]}")

        def ask() -> None:
            with contextlib.suppress(requests.RequestException):  # the server may stop first
                requests.post(f"{self.address}/api/v1/namespaces/{NS}/workflows/{wid}/query",
                              json={"query_name": "state", "timeout": 10}, timeout=20,
                              headers=self.headers)
        threading.Thread(target=ask, daemon=True).start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            task = self._poll("query")
            if task is not None:
                return str(task["token"])
        raise AssertionError("no query task to fuzz with")


@contextlib.contextmanager
def capture_server_errors() -> Iterator[ServerErrors]:
    handler = ServerErrors()
    logger = logging.getLogger("plait.server")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def every_other() -> Callable[[str], bool]:
    """Deterministic alternation per operation: half the cases get live handles."""
    seen: dict[str, int] = {}

    def pick(key: str) -> bool:
        seen[key] = seen.get(key, 0) + 1
        return seen[key] % 2 == 0
    return pick
