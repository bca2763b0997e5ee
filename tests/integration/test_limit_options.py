"""``plait server``'s limit options on a real server process: ``--key-rate-limit`` (with
``--auth``) answers a key over its rate 429 ``rate_limited`` with ``Retry-After`` and leaves
other keys alone; ``--max-signals-per-run`` and ``--max-payload`` reach the runs; settings
that cannot work are one ``error:`` line."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from plait import Worker, activity, errors, workflow
from plait.client import Client
from plait.protocol.tenancy import CreateApiKeyRequest
from tests.integration.cli_process import one_line_error, plait, plait_command, stop
from tests.integration.test_auth import bootstrap_admin

pytestmark = pytest.mark.timeout(90)


@contextlib.contextmanager
def server(tmp: Path, *options: str) -> Iterator[str]:
    """``plait server OPTIONS`` on a free port; its address."""
    proc = subprocess.Popen(
        [
            *plait_command(),
            "server",
            "--db",
            f"sqlite:///{tmp / 'plait.db'}",
            "--port",
            "0",
            *options,
        ],
        stdout=subprocess.PIPE,
        stderr=(tmp / "server.log").open("w"),
        text=True,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert "plait server on " in line, (tmp / "server.log").read_text()
        yield line.split("plait server on ", 1)[1].split()[0]
    finally:
        stop(proc)


async def test_a_key_over_its_rate_is_refused_with_retry_after(tmp_path: Path) -> None:
    root = bootstrap_admin(tmp_path / "plait.db")
    with server(tmp_path, "--auth", "--key-rate-limit", "3") as address:
        admin = await Client.connect(address, api_key=root)
        one, other = [
            (
                await admin.api.create_api_key(
                    CreateApiKeyRequest(namespace="default", role="reader", name=name)
                )
            ).key  # type: ignore[arg-type]
            for name in ("one", "other")
        ]
        await admin.close()
        describe = f"{address}/api/v1/namespaces/default/workflow-count"
        async with aiohttp.ClientSession() as http:
            answers = []
            for _ in range(10):  # the bucket holds 3 and refills 3 a second
                async with http.get(describe, headers=_bearer(one)) as resp:
                    answers.append(
                        (resp.status, resp.headers.get("Retry-After"), await resp.json())
                    )
            async with http.get(describe, headers=_bearer(other)) as resp:
                assert resp.status == 200  # another key has its own bucket
            async with http.get(f"{address}/health") as resp:
                assert resp.status == 200  # no key, no limit
        # The client waits out a rate_limited answer and tries again, as after a 503.
        paced = await Client.connect(address, api_key=one)
        try:
            counts = [await paced.count_workflows() for _ in range(8)]
        finally:
            await paced.close()
        assert counts == [0] * 8
    assert [status for status, _, _ in answers[:3]] == [200, 200, 200]
    refused = [a for a in answers if a[0] == 429]
    assert refused, answers
    _, retry_after, body = refused[0]
    assert retry_after == "1"
    assert body["error"]["code"] == "rate_limited"
    assert "limit of 3 requests per second (--key-rate-limit)" in body["error"]["message"]


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_run_limits_and_the_payload_limit_reach_the_server(tmp_path: Path) -> None:
    with server(tmp_path, "--max-signals-per-run", "2", "--max-payload", "100000") as address:
        client = await Client.connect(address)
        try:
            handle = await client.start_workflow("Waits", id="w", task_queue="nobody")
            await handle.signal("s", 1)
            await handle.signal("s", 2)
            with pytest.raises(errors.RPCError) as limited:
                await handle.signal("s", 3)
            with pytest.raises(errors.PayloadTooLargeError) as too_large:
                await client.start_workflow("Waits", "x" * 150_000, id="big", task_queue="nobody")
            with pytest.raises(errors.PayloadTooLargeError) as big_update:
                await handle.execute_update("u", "y" * 150_000)
            # A worker learns the limit from its session, and an activity result over it
            # fails that attempt for good.
            async with Worker(
                client, task_queue="big", workflows=[Big], activities=[big_result]
            ) as worker:
                outcome = await client.execute_workflow(Big.run, id="big-result", task_queue="big")
                batch_bytes = worker.completions.max_bytes
        finally:
            await client.close()
    assert (limited.value.status, limited.value.code) == (429, "limit_exceeded")
    message = str(too_large.value)
    assert message.startswith("the start of workflow 'big' (Waits) is 150,")
    assert "payload limit of 100,000 bytes (--max-payload)" in message
    assert too_large.value.size is not None and too_large.value.size > 150_000
    assert str(big_update.value).startswith("the update 'u' of workflow 'w' is 150,")
    assert batch_bytes == 100_000 - 1024
    assert outcome == ["PayloadTooLarge", True]


@activity.defn
async def big_result() -> str:
    return "r" * 150_000


@workflow.defn
class Big:
    @workflow.run
    async def run(self) -> list[Any]:
        try:
            await workflow.execute_activity(
                big_result, start_to_close_timeout=timedelta(seconds=10)
            )
        except errors.ActivityError as e:
            assert isinstance(e.cause, errors.ApplicationError)
            return [e.cause.type, e.cause.non_retryable]
        return []


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ["--key-rate-limit", "5"],
            "--key-rate-limit counts requests per API key: start with --auth",
        ),
        (["--auth", "--key-rate-limit", "0"], "--key-rate-limit 0.0 must be above 0"),
        (["--max-history-events", "0"], "--max-history-events 0 must be at least 1"),
        (["--max-signals-per-run", "-1"], "--max-signals-per-run -1 must be at least 1"),
        (["--max-payload", "1000"], "--max-payload 1000 is too small"),
    ],
)
def test_limits_that_cannot_work_are_one_error_line(
    tmp_path: Path, args: list[str], said: str
) -> None:
    line = one_line_error(plait("server", "--port", "0", *args, cwd=tmp_path))
    assert said in line, line
