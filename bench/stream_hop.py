"""One request's cost over HTTP and over the request stream, against a real ``plait server``.

    python -m bench.stream_hop [--requests 3000] [--rounds 5] [--out bench/results/stream-hop]

One server process (SQLite, shipped defaults); this process sends requests one after
another, alternating the two transports every round: ``HttpTransport`` (one aiohttp
exchange per request) and ``StreamTransport`` (a frame on one WebSocket). Two requests:
``GET /health`` (the server reads nothing but its store's health) and an empty poll
(``POST .../poll`` with ``wait=0``: what an idle worker sends most). Per round and
transport: the median round trip, and the CPU per request of this process (the client) and
of the server (``/proc``). The first 10 % of each round is a warm-up and not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path
from typing import Any

from bench.procs import Run, cpu_seconds
from plait.protocol.jsoncodec import dumps
from plait.protocol.stream import StreamTransport
from plait.protocol.transport import HttpTransport, Request, Transport

KINDS = ("http", "stream")


async def _session(transport: Transport) -> str:
    opened = await transport.send(Request("POST", "/api/v1/namespaces/default/sessions", None,
                                          dumps({"task_queue": "hop", "identity": "hop"})))
    return str(json.loads(opened.body)["session_id"])


async def _request(what: str, http: Transport) -> Request:
    if what == "GET /health":
        return Request("GET", "/health")
    # a session of its own per round: a round is shorter than a session's expiry (5 s), so
    # no heartbeat is needed
    session = await _session(http)
    return Request("POST", "/api/v1/namespaces/default/task-queues/hop/poll", None,
                   dumps({"session_id": session, "kind": "activity", "max_tasks": 1,
                          "wait": 0}))


async def _round(transport: Transport, request: Request, n: int, server_pid: int
                 ) -> dict[str, float]:
    warm = n // 10
    for _ in range(warm):
        await transport.send(request)
    times: list[int] = []
    cpu0, server0 = time.process_time(), cpu_seconds(server_pid) or 0.0
    for _ in range(n):
        t0 = time.perf_counter_ns()
        answer = await transport.send(request)
        times.append(time.perf_counter_ns() - t0)
        if answer.status >= 400:
            raise SystemExit(f"error: {request.method} {request.path} answered "
                             f"{answer.status}: {answer.body[:200]!r}")
    client = time.process_time() - cpu0
    server = (cpu_seconds(server_pid) or 0.0) - server0
    return {"p50_us": statistics.median(times) / 1000,
            "client_cpu_us": client / n * 1e6, "server_cpu_us": server / n * 1e6}


async def main(args: argparse.Namespace) -> None:
    run = Run("hop", worker_slots=None)
    await run.start_server()
    assert run.server is not None
    transports: dict[str, Transport] = {"http": HttpTransport(run.address),
                                        "stream": StreamTransport(HttpTransport(run.address))}
    rows: list[dict[str, Any]] = []
    try:
        for r in range(args.rounds):
            for what in ("GET /health", "empty poll"):
                order = KINDS if r % 2 == 0 else KINDS[::-1]
                for kind in order:
                    request = await _request(what, transports["http"])
                    out = await _round(transports[kind], request, args.requests,
                                       run.server.pid)
                    rows.append({"round": r + 1, "request": what, "transport": kind, **out})
                    print(f"[hop] round {r + 1} {what:11} {kind:6} p50 {out['p50_us']:6.1f} us"
                          f"  client CPU {out['client_cpu_us']:6.1f} us"
                          f"  server CPU {out['server_cpu_us']:6.1f} us", flush=True)
    finally:
        for transport in transports.values():
            await transport.close()
        run.stop()
        run.cleanup()
    _write(args, rows)


def _write(args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(rows, indent=1))
    lines = ["| request | transport | p50 us | client CPU us / request | server CPU us / request |",
             "|---|---|---|---|---|"]
    for what in dict.fromkeys(r["request"] for r in rows):
        for kind in KINDS:
            mine = [r for r in rows if r["request"] == what and r["transport"] == kind]
            cells = [statistics.median(r[k] for r in mine)
                     for k in ("p50_us", "client_cpu_us", "server_cpu_us")]
            lines.append(f"| {what} | {kind} | " + " | ".join(f"{c:.1f}" for c in cells) + " |")
    text = (f"command: `python -m bench.stream_hop --requests {args.requests} --rounds "
            f"{args.rounds}` (medians over rounds)\n\n" + "\n".join(lines) + "\n")
    out.with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default="bench/out/stream-hop")
    asyncio.run(main(parser.parse_args()))
