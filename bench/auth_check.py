"""Micro benchmark: what the API key check costs a request (issue 16), in process.

- ``authenticate (cached)``: :meth:`plait.server.auth.Auth.authenticate` for a key whose row
  is in the cache: parse the header, look the row up, SHA-256 the secret, compare in
  constant time, check revocation and expiry. This is what every request of W1 pays.
- ``authenticate (miss)``: the same with an empty cache: one read of the key's row.
- ``request``: a whole request through aiohttp's test client on the real app (the access
  and error middlewares, the route): ``GET .../workflow-count`` on an empty database, without
  ``--auth`` and with it, the W1 route mix aside. The difference is the check's share of a
  cheap request.
- ``token route``: ``POST /api/v1/activity-tasks/heartbeat`` naming a task by token, with a
  worker key for every namespace (``*``: no look-up) and one bound to ``default`` (one read of
  the task's row to check its namespace).

Usage: ``python -m bench.auth_check [--number N]``; prints microseconds per call (best of
``--repeat``).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from plait.server.app import make_app
from plait.server.auth import Auth, AuthSettings, make_key
from plait.server.service import Service
from plait.store.sqlite import SQLiteStore


async def _per_call(fn: object, number: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        for _ in range(number):
            await fn()  # type: ignore[operator]
        best = min(best, (time.perf_counter() - began) / number)
    return best * 1e6


async def main(number: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        service = Service(SQLiteStore(str(Path(tmp) / "b.db")))
        await service.start()
        made = make_key("default", "reader", now=time.time())
        await service.store.write(lambda t: t.insert_api_key(made.row))
        header = f"Bearer {made.key}"
        auth = Auth(service, AuthSettings())
        await auth.authenticate(header)

        async def cached() -> None:
            await auth.authenticate(header)

        async def miss() -> None:
            auth.keys.forget(made.row.key_id)
            await auth.authenticate(header)

        print(f"authenticate (cached): {await _per_call(cached, number, repeat):8.2f} us")
        print(f"authenticate (miss):   {await _per_call(miss, number // 10, repeat):8.2f} us")

        path = "/api/v1/namespaces/default/workflow-count"
        for label, settings in (("request, no --auth", None), ("request, --auth", AuthSettings())):
            client = TestClient(TestServer(make_app(service, settings)))
            await client.start_server()
            headers = {"Authorization": header} if settings else {}

            async def request(client: TestClient = client, headers: dict[str, str] = headers
                              ) -> None:
                async with client.get(path, headers=headers) as resp:
                    assert resp.status == 200, await resp.text()
                    await resp.read()

            print(f"{label + ':':23}{await _per_call(request, number // 10, repeat):8.2f} us")
            await client.close()

        client = TestClient(TestServer(make_app(service, AuthSettings())))
        await client.start_server()
        body = b'{"token": "12345.1"}'
        for scope in ("*", "default"):
            worker = make_key(scope, "worker", now=time.time())
            await service.store.write(lambda t, row=worker.row: t.insert_api_key(row))
            headers = {"Authorization": f"Bearer {worker.key}",
                       "Content-Type": "application/json"}

            async def token_route(headers: dict[str, str] = headers) -> None:
                async with client.post("/api/v1/activity-tasks/heartbeat", data=body,
                                       headers=headers) as resp:
                    assert resp.status == 409, await resp.text()  # no such task
                    await resp.read()

            label = f"token route, key for {scope}:"
            print(f"{label:32}{await _per_call(token_route, number // 10, repeat):8.2f} us")
        await client.close()
        await service.stop()
        await service.store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--number", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.number, args.repeat))
