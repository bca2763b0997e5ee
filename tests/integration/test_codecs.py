"""Payload codecs end to end (API.md "Payload codecs"), against a real ``plait server``
process: the values arrive intact, the server's store holds none of them in plaintext, keys
rotate, and the CLI and the codec server decode with the user's codec."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from plait import Client, RetryPolicy, Worker, activity, errors, workflow
from plait.codec import AESGCMCodec, PayloadCodec, ZlibCodec, chain
from plait.converter import DataConverter
from plait.protocol.jsoncodec import dumps
from tests.integration.cli_process import one_line_error, plait, plait_command, stop

K1 = bytes(range(32))
K2 = bytes(range(100, 132))
CODEC_MODULE = f'''
import base64, os
from plait.codec import AESGCMCodec, ZlibCodec, chain

def make():
    keys = {{"k1": base64.b64decode("{base64.b64encode(K1).decode()}"),
            "k2": base64.b64decode("{base64.b64encode(K2).decode()}")}}
    return chain(ZlibCodec(min_size=64), AESGCMCodec(keys=keys, current="k2"))

def broken():
    raise RuntimeError("no key in the environment")
'''


def secret() -> str:
    return f"plaintext-{uuid.uuid4().hex}"


def both_keys() -> PayloadCodec:
    return chain(ZlibCodec(min_size=64), AESGCMCodec(keys={"k2": K2, "k1": K1}, current="k2"))


@dataclasses.dataclass
class Order:
    name: str
    note: str


@activity.defn
async def seal(order: Order) -> Order:
    activity.heartbeat(order.note)
    return Order(order.name.upper(), f"sealed {order.note} " + "~" * 500)


@workflow.defn
class Sealer:
    def __init__(self) -> None:
        self.notes: list[str] = []

    @workflow.signal
    def note(self, text: str) -> None:
        self.notes.append(text)

    @workflow.query
    def seen(self) -> list[str]:
        return self.notes

    @workflow.update
    def echo(self, text: str) -> str:
        return f"echo {text}"

    @workflow.run
    async def run(self, order: Order) -> Order:
        await workflow.wait_condition(lambda: bool(self.notes))
        return await workflow.execute_activity(
            seal,
            Order(order.name, f"{order.note}+{self.notes[0]}"),
            start_to_close_timeout=timedelta(seconds=10),
        )


FAST = RetryPolicy(initial_interval=timedelta(milliseconds=50))


@activity.defn
async def flaky_note(note: str) -> str:
    if activity.info().attempt == 1:  # a failure whose details hold the value
        raise errors.ApplicationError("first attempt fails", {"note": note})
    return f"retried {note}"


@workflow.defn
class Child:
    @workflow.run
    async def run(self, parent: str, note: str, rounds: int) -> str:
        if rounds > 0:
            workflow.continue_as_new(parent, note + "!", rounds - 1)
        done = await workflow.execute_activity(
            flaky_note, note, retry_policy=FAST, start_to_close_timeout=timedelta(seconds=10)
        )
        await workflow.get_external_workflow_handle(parent).signal(Parent.told, done)
        return f"{done} {workflow.info().memo}"


@workflow.defn
class Parent:
    def __init__(self) -> None:
        self.heard: list[str] = []

    @workflow.signal
    def told(self, text: str) -> None:
        self.heard.append(text)

    @workflow.run
    async def run(self, note: str) -> list[str]:
        me = workflow.info().workflow_id
        child = await workflow.execute_child_workflow(
            Child.run, me, note, 1, id=f"{me}-child", memo={"parent_note": note}
        )
        await workflow.wait_condition(lambda: bool(self.heard))
        return [child, *self.heard, str(workflow.info().memo)]


handed_over: asyncio.Queue[str] = asyncio.Queue()


@activity.defn
async def approve(note: str) -> str:
    await handed_over.put(activity.info().task_token)
    activity.raise_complete_async()


@workflow.defn
class Approval:
    @workflow.run
    async def run(self, note: str) -> list[str]:
        out = []
        for _ in range(2):  # the first is failed from outside, the second completed
            try:
                out.append(
                    await workflow.execute_activity(
                        approve,
                        note,
                        start_to_close_timeout=timedelta(seconds=30),
                        retry_policy=RetryPolicy(maximum_attempts=1),
                    )
                )
            except errors.ActivityError as e:
                cause = e.cause
                assert isinstance(cause, errors.ApplicationError)
                out.append(f"{cause.message}: {cause.details[0]}")
        return out


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A real server with its SQLite database in a folder of its own: its address and the
    folder (the codec module for the CLI lives there too)."""
    tmp = tmp_path_factory.mktemp("codecs")
    (tmp / "codecmod.py").write_text(CODEC_MODULE)
    proc = subprocess.Popen(
        [*plait_command(), "server", "--db", f"sqlite:///{tmp / 'plait.db'}", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=(tmp / "server.log").open("w"),
        text=True,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert "plait server on " in line, (tmp / "server.log").read_text()
        yield line.split("plait server on ", 1)[1].split()[0], tmp
    finally:
        stop(proc)


@pytest.fixture
async def clients(server: tuple[str, Path]) -> AsyncIterator[dict[str, Client]]:
    """Clients of the same server: with both keys (writing k2), with k1 only (and no
    compression), with k2 only, and with no codec."""
    address = server[0]
    made = {
        "both": await Client.connect(address, codec=both_keys()),
        "k1": await Client.connect(address, codec=AESGCMCodec(keys={"k1": K1}, current="k1")),
        "k2": await Client.connect(
            address, codec=chain(ZlibCodec(), AESGCMCodec(keys={"k2": K2}, current="k2"))
        ),
        "plain": await Client.connect(address),
    }
    yield made
    for c in made.values():
        await c.close()


def stored_bytes(folder: Path) -> bytes:
    """Everything the server's SQLite store holds on disk (the database and its WAL)."""
    return b"".join(p.read_bytes() for p in sorted(folder.glob("plait.db*")))


async def run_sealer(client: Client, wid: str, note: str, signal: str) -> Order:
    queue = f"q-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=queue, workflows=[Sealer], activities=[seal]):
        handle = await client.start_workflow(
            Sealer.run, Order("box", note), id=wid, task_queue=queue
        )
        await handle.signal(Sealer.note, signal)
        assert await handle.execute_update(Sealer.echo, note) == f"echo {note}"
        result = await handle.result()
        assert await handle.query(Sealer.seen) == [signal]
        return result


async def test_values_arrive_and_the_server_stores_no_plaintext(
    server: tuple[str, Path], clients: dict[str, Client]
) -> None:
    note, signal = secret(), secret()
    result = await run_sealer(clients["both"], "sealed-1", note, signal)
    assert result == Order("BOX", f"sealed {note}+{signal} " + "~" * 500)

    raw = dumps(await clients["plain"].api.workflow_history("sealed-1", None)).decode()
    assert "binary/encrypted" in raw and '"key_id":"k2"' in raw
    assert note not in raw and signal not in raw and "sealed " not in raw
    on_disk = stored_bytes(server[1])
    assert note.encode() not in on_disk and signal.encode() not in on_disk
    # Decoding is the codec's business: described with it, the result is plain again.
    desc = await clients["both"].get_workflow_handle("sealed-1").describe()
    assert desc.raw["result"]["result"] == {"encoding": "json", "data": dataclasses.asdict(result)}
    # A client without the codec never mistakes ciphertext for the value.
    with pytest.raises(errors.PayloadCodecError, match="decode it with the payload codec"):
        await clients["plain"].get_workflow_handle("sealed-1").result()


async def test_children_continue_as_new_failures_and_external_signals_are_encoded(
    server: tuple[str, Path], clients: dict[str, Client]
) -> None:
    client, note = clients["both"], secret()
    queue = f"q-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=queue, workflows=[Parent, Child], activities=[flaky_note]):
        result = await client.execute_workflow(
            Parent.run, note, id="family-1", task_queue=queue, memo={"top": note}
        )
    assert result == [
        f"retried {note}! {{'parent_note': '{note}'}}",
        f"retried {note}!",
        f"{{'top': '{note}'}}",
    ]
    plain_desc = await clients["plain"].get_workflow_handle("family-1").describe()
    assert plain_desc.memo and plain_desc.memo["top"]["encoding"] == "binary/encrypted"
    desc = await client.get_workflow_handle("family-1").describe()
    assert desc.memo == {"top": note}
    desc = await client.get_workflow_handle("family-1-child").describe()
    failures = [a.failure for a in desc.attempts if a.failure]
    assert failures and failures[0]["details"] == [
        {"encoding": "json", "data": {"note": note + "!"}}
    ]
    for wid in ("family-1", "family-1-child"):
        raw = dumps(await clients["plain"].api.workflow_history(wid, None)).decode()
        assert "binary/encrypted" in raw and note not in raw
    assert note.encode() not in stored_bytes(server[1])


async def test_activities_completed_from_outside_are_encoded(
    server: tuple[str, Path], clients: dict[str, Client]
) -> None:
    client, note = clients["both"], secret()
    queue = f"q-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=queue, workflows=[Approval], activities=[approve]):
        handle = await client.start_workflow(Approval.run, "ask", id="approval-1", task_queue=queue)
        outside = client.get_async_activity_handle(await handed_over.get())
        await outside.fail(errors.ApplicationError("refused", f"fail {note}"))
        await client.get_async_activity_handle(await handed_over.get()).complete(f"ok {note}")
        assert await handle.result() == [f"refused: fail {note}", f"ok {note}"]
    assert note.encode() not in stored_bytes(server[1])


local_calls: list[str] = []


@activity.defn
async def stamp(note: str) -> str:
    local_calls.append(note)
    if len(local_calls) == 1:  # the first attempt fails: its failure details are payloads too
        raise errors.ApplicationError("not yet", f"detail {note}")
    return f"stamped {note}"


@workflow.defn
class LocalStamp:
    @workflow.run
    async def run(self, note: str) -> list[str]:
        first = await workflow.execute_local_activity(
            stamp, note, start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=10)))
        # A second step: with no cache, its task replays the marker from the history,
        # so the marker's result must decode with the codec.
        second = await workflow.execute_activity(
            seal, Order(first, note), start_to_close_timeout=timedelta(seconds=30))
        return [first, second.name]


async def test_a_local_activity_marker_is_encoded_and_replays(
    server: tuple[str, Path], clients: dict[str, Client]
) -> None:
    client, note = clients["both"], secret()
    local_calls.clear()
    queue = f"q-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=queue, workflows=[LocalStamp],
                      activities=[stamp, seal], max_cached_workflows=0):
        result = await client.execute_workflow(LocalStamp.run, note, id="local-1",
                                               task_queue=queue)
    assert result == [f"stamped {note}", f"stamped {note}".upper()]
    assert local_calls == [note, note]  # one failure, one success: none run again on replay
    raw = dumps(await clients["plain"].api.workflow_history("local-1", None)).decode()
    assert "MARKER_RECORDED" in raw and note not in raw and note.upper() not in raw
    assert note.encode() not in stored_bytes(server[1])


@workflow.defn
class Echo:
    @workflow.run
    async def run(self, note: str) -> str:
        return f"echo {note}"


async def test_a_schedule_starts_runs_with_encoded_input(
    server: tuple[str, Path], clients: dict[str, Client]
) -> None:
    client, note = clients["both"], secret()
    queue = f"q-{uuid.uuid4().hex[:8]}"
    schedule = await client.create_schedule(
        f"sched-{uuid.uuid4().hex[:8]}",
        Echo.run,
        note,
        task_queue=queue,
        interval=timedelta(days=1),
        paused=True,
    )
    [action] = await schedule.trigger()
    async with Worker(client, task_queue=queue, workflows=[Echo]):
        handle = client.get_workflow_handle(action.workflow_id, run_id=action.run_id)
        assert await handle.result() == f"echo {note}"
    assert note.encode() not in stored_bytes(server[1])


async def test_the_same_run_without_a_codec_is_plaintext_on_disk(
    server: tuple[str, Path], clients: dict[str, Client]
) -> None:
    """The control: the check above can fail (the store does hold what it is sent)."""
    note = secret()
    await run_sealer(clients["plain"], "plain-1", note, "x")
    assert note.encode() in stored_bytes(server[1])


async def test_key_rotation(clients: dict[str, Client]) -> None:
    note = secret()
    old = await run_sealer(clients["k1"], "rotate-old", note, "s")
    # After the rotation: k2 writes, k1 still reads what it wrote.
    assert await clients["both"].get_workflow_handle_for(Sealer.run, "rotate-old").result() == old
    new = await run_sealer(clients["both"], "rotate-new", note, "s")
    raw = dumps(await clients["plain"].api.workflow_history("rotate-new", None)).decode()
    assert '"key_id":"k2"' in raw and '"key_id":"k1"' not in raw
    assert await clients["k2"].get_workflow_handle_for(Sealer.run, "rotate-new").result() == new
    # A client that dropped k1 refuses old payloads, naming the key.
    with pytest.raises(errors.PayloadCodecError, match="'k1'"):
        await clients["k2"].get_workflow_handle("rotate-old").result()


async def test_a_temporal_data_converter_carries_the_codec(server: tuple[str, Path]) -> None:
    codec = both_keys()
    client = await Client.connect(server[0], data_converter=DataConverter(payload_codec=codec))
    try:
        assert client.codec is codec
    finally:
        await client.close()


# -- the CLI ----------------------------------------------------------------------------------
def cli(server: tuple[str, Path], *args: str) -> subprocess.CompletedProcess[str]:
    return plait(*args, address=server[0], cwd=server[1])


async def test_cli_decodes_with_codec(server: tuple[str, Path], clients: dict[str, Client]) -> None:
    note = secret()
    result = await run_sealer(clients["both"], "cli-1", note, "s")

    plain = cli(server, "workflow", "result", "cli-1")
    assert "decode it with the payload codec" in one_line_error(plain)
    decoded = cli(server, "workflow", "result", "cli-1", "--codec", "codecmod:make", "-o", "json")
    assert decoded.returncode == 0, decoded.stderr
    assert json.loads(decoded.stdout) == dataclasses.asdict(result)

    desc = cli(server, "workflow", "describe", "cli-1", "--codec", "codecmod:make", "-o", "json")
    assert desc.returncode == 0, desc.stderr
    assert note in desc.stdout
    encoded = cli(server, "workflow", "describe", "cli-1", "-o", "json")
    assert encoded.returncode == 0 and "binary/encrypted" in encoded.stdout
    assert note not in encoded.stdout

    shown = cli(server, "workflow", "show", "cli-1", "--codec", "codecmod:make", "-o", "json")
    assert shown.returncode == 0, shown.stderr
    assert note in shown.stdout and "binary/encrypted" not in shown.stdout
    encoded = cli(server, "workflow", "show", "cli-1", "-o", "json")
    assert encoded.returncode == 0 and "binary/encrypted" in encoded.stdout
    assert note not in encoded.stdout
    text = cli(server, "workflow", "show", "cli-1", "--codec", "codecmod:make")
    assert text.returncode == 0 and "WORKFLOW_EXECUTION_STARTED" in text.stdout


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("codecmod", "is not of the form module:factory"),
        ("nosuchmod:make", "cannot import nosuchmod"),
        ("codecmod:missing", "has no missing"),
        ("codecmod:broken", "RuntimeError: no key in the environment"),
        ("codecmod:base64", "is not a plait.codec.PayloadCodec"),
    ],
)
def test_cli_bad_codec_is_one_error_line(server: tuple[str, Path], spec: str, says: str) -> None:
    proc = cli(server, "workflow", "result", "whatever", "--codec", spec)
    assert says in one_line_error(proc)


# -- the codec server -------------------------------------------------------------------------
UI = "http://ui.example:7233"


@pytest.fixture(scope="module")
def codec_server(server: tuple[str, Path]) -> Iterator[str]:
    tmp = server[1]
    proc = subprocess.Popen(
        [
            *plait_command(),
            "codec-server",
            "--codec",
            "codecmod:make",
            "--port",
            "0",
            "--cors-origin",
            UI,
        ],
        cwd=tmp,
        stdout=subprocess.PIPE,
        stderr=(tmp / "codec-server.log").open("w"),
        text=True,
        env={k: v for k, v in os.environ.items() if k != "PLAIT_DEBUG"},
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert "plait codec server on " in line, (tmp / "codec-server.log").read_text()
        yield line.split("plait codec server on ", 1)[1].split()[0]
    finally:
        stop(proc)


async def post(url: str, body: Any, origin: str | None = None) -> tuple[int, Any, dict[str, str]]:
    headers = {"Origin": origin} if origin else {}
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with aiohttp.ClientSession() as s, s.post(url, data=data, headers=headers) as r:
        return r.status, await r.json(), dict(r.headers)


async def test_codec_server_encodes_and_decodes(codec_server: str) -> None:
    note = secret()
    plain = [{"encoding": "json", "data": {"note": note}}, {"encoding": "json", "data": 1}]
    status, body, headers = await post(codec_server + "/encode", {"payloads": plain}, UI)
    assert status == 200
    assert [p["encoding"] for p in body["payloads"]] == ["binary/encrypted"] * 2
    assert note not in json.dumps(body)
    assert headers["Access-Control-Allow-Origin"] == UI
    status, back, _ = await post(codec_server + "/decode", body, UI)
    assert status == 200 and back == {"payloads": plain}
    # What a client with the same keys wrote, the codec server reads.
    written = await both_keys().encode([{"encoding": "json", "data": note}])
    status, back, _ = await post(codec_server + "/decode", {"payloads": written})
    assert status == 200 and back["payloads"][0]["data"] == note


async def test_codec_server_refuses_bad_input_with_the_error_shape(codec_server: str) -> None:
    for body, code in [
        (b"nope", "bad_request"),
        ({"payloads": 3}, "bad_request"),
        ({"payloads": [{"data": 1}]}, "bad_request"),
        (
            {
                "payloads": [
                    {"encoding": "binary/encrypted", "data": "AAAA", "metadata": {"key_id": "k9"}}
                ]
            },
            "codec_error",
        ),
    ]:
        status, answer, _ = await post(codec_server + "/decode", body)
        assert status in (400, 422) and answer["error"]["code"] == code, answer
        assert answer["error"]["message"]


async def test_codec_server_cors_only_for_its_origin(codec_server: str) -> None:
    _, _, headers = await post(codec_server + "/encode", {"payloads": []}, "http://evil.example")
    assert "Access-Control-Allow-Origin" not in headers
    async with aiohttp.ClientSession() as s:
        preflight = {"Origin": UI, "Access-Control-Request-Method": "POST"}
        async with s.options(codec_server + "/decode", headers=preflight) as r:
            assert r.status == 204
            assert r.headers["Access-Control-Allow-Origin"] == UI
            assert "POST" in r.headers["Access-Control-Allow-Methods"]
        other = {**preflight, "Origin": "http://evil.example"}
        async with s.options(codec_server + "/decode", headers=other) as r:
            assert r.status == 403 and "Access-Control-Allow-Origin" not in r.headers


def test_codec_server_refuses_a_bad_codec_or_an_open_host(server: tuple[str, Path]) -> None:
    assert "cannot import nosuchmod" in one_line_error(
        cli(server, "codec-server", "--codec", "nosuchmod:make")
    )
    assert "--insecure" in one_line_error(
        cli(server, "codec-server", "--codec", "codecmod:make", "--host", "0.0.0.0")
    )


async def test_no_codec_leaves_payloads_as_they_were(clients: dict[str, Client]) -> None:
    """Without a codec nothing changes on the wire: plain JSON envelopes."""
    await run_sealer(clients["plain"], "plain-2", "visible", "x")
    raw = dumps(await clients["plain"].api.workflow_history("plain-2", None)).decode()
    assert '{"encoding":"json","data":{"name":"box","note":"visible"}}' in raw
    await asyncio.sleep(0)
