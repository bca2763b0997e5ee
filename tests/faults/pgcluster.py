"""Several real ``plait server`` processes on one PostgreSQL database, and workers attached
to chosen servers; any of them killed with SIGKILL and restarted at will.

Builds on :class:`tests.faults.procs.Cluster` (effects log, worker program, kill helpers).
"""

from __future__ import annotations

import asyncio
import collections
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from plait import Client, History
from tests.faults.procs import APP, Cluster, free_port


class PgCluster(Cluster):
    def __init__(self, tmp: Path, db_url: str, servers: int, *,
                 session_expiry: float = 2.0) -> None:
        super().__init__(tmp, session_expiry=session_expiry)
        self.db_url = db_url
        self.ports = [free_port() for _ in range(servers)]
        self.servers: list[subprocess.Popen[bytes] | None] = [None] * servers
        self.worker_server: dict[int, int] = {}  # worker pid -> index of its server

    def address_of(self, i: int) -> str:
        return f"http://127.0.0.1:{self.ports[i]}"

    def start_server(self, i: int = 0) -> None:  # type: ignore[override]
        log = open(self.tmp / f"server-{i}.log", "ab")  # noqa: SIM115 - closed in stop()
        self._logs.append(log)
        self.servers[i] = subprocess.Popen(
            [sys.executable, "-m", "plait", "server", "--db", self.db_url,
             "--port", str(self.ports[i]), "--log-level", "warning"],
            env=self._env(), stdout=log, stderr=log)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(self.address_of(i) + "/health", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"server {i} did not become healthy; see server-{i}.log")

    def kill_server(self, i: int = 0) -> None:  # type: ignore[override]
        proc = self.servers[i]
        assert proc is not None
        self.kill(proc)
        self.servers[i] = None

    def start_worker(self, queue: str, server: int = 0) -> subprocess.Popen[bytes]:  # type: ignore[override]
        log = open(self.tmp / f"worker-{len(self.workers)}.log", "ab")  # noqa: SIM115
        self._logs.append(log)
        proc = subprocess.Popen([sys.executable, str(APP), "--address", self.address_of(server),
                                 "--queue", queue], env=self._env(),
                                stdout=subprocess.PIPE, stderr=log)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if b"ready" not in line:
            raise RuntimeError(f"worker did not start: {line!r}")
        self.workers.append(proc)
        self.worker_server[proc.pid] = server
        return proc

    def stop(self) -> None:
        for proc in [*self.workers, *self.servers]:
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(10)
        for log in self._logs:
            log.close()  # type: ignore[attr-defined]

    def attempt_lines(self, what: str) -> dict[tuple[str, int], list[tuple[int, int | None]]]:
        """(attempt, pid or None) of every attempt that reached ``what`` ("start" or "done")."""
        out: dict[tuple[str, int], list[tuple[int, int | None]]] = collections.defaultdict(list)
        for p in self.effect_lines():
            if p[3] == what:
                out[(p[0], int(p[1]))].append((int(p[2]), int(p[4]) if len(p) > 4 else None))
        return out


async def check_runs(client: Client, cluster: PgCluster, ids: list[str], steps: int,
                     results: list[list[int]] | None, stranded: set[int] | None) -> int:
    """Every workflow completed once with the right result, its history's event ids are
    1, 2, 3, ..., and no activity ran after its completion was recorded.

    An attempt may finish and fail to report (its worker was killed, or its server was); its
    completion was never recorded, and running it again is correct (at-least-once). So for
    each activity, the recorded attempt is the last one that *started*, it finished exactly
    once, and the workflow's result (given, or else as its history records it) holds the pid
    of the worker that finished it. Earlier
    attempts that finished come only from workers that were killed or cut off (``stranded``);
    with ``stranded=None`` any worker may have had one (on a machine so overloaded that a live
    worker's session expired, its attempts were rightly run again). Returns how many
    activities ran more than once.
    """
    reruns = 0
    starts, dones = cluster.attempt_lines("start"), cluster.attempt_lines("done")
    gate = asyncio.Semaphore(50)

    async def fetch(wid: str) -> History:
        async with gate:
            return await client.get_workflow_handle(wid).fetch_history()
    histories = await asyncio.gather(*(fetch(wid) for wid in ids))
    if results is None:  # the result as the history records it
        results = [h.events[-1].attributes["result"]["data"] for h in histories]
    for wid, result, history in zip(ids, results, histories, strict=True):
        events = history.events
        assert [e.event_id for e in events] == list(range(1, len(events) + 1)), wid
        types = [e.event_type for e in events]
        assert types.count("WORKFLOW_EXECUTION_STARTED") == 1, wid
        assert types[-1] == "WORKFLOW_EXECUTION_COMPLETED", (wid, types[-1])
        index_of = {e.attributes["activity_id"]: e.attributes["input"][1]["data"]
                    for e in events if e.event_type == "ACTIVITY_TASK_SCHEDULED"}
        recorded = {index_of[e.attributes["activity_id"]]: e.attributes["attempt"]
                    for e in events if e.event_type == "ACTIVITY_TASK_STARTED"}
        assert sorted(recorded) == list(range(steps)), wid
        assert types.count("ACTIVITY_TASK_COMPLETED") == steps, wid
        for index, attempt in recorded.items():
            started = [a for a, _ in starts[(wid, index)]]
            assert max(started) == attempt, (wid, index, started, attempt)  # none after
            finished = [pid for a, pid in dones[(wid, index)] if a == attempt]
            assert len(finished) == 1, (wid, index, dones[(wid, index)])
            assert result[index] == finished[0], (wid, index, result, finished)
            early = {pid for a, pid in dones[(wid, index)] if a < attempt}
            reruns += bool(early)
            if stranded is not None:
                assert early <= stranded, (wid, index, dones[(wid, index)], stranded)
    return reruns
