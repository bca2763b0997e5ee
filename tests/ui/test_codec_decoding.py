"""Payloads a codec encrypted, shown decoded through the user's codec server (a real
``plait codec-server`` process with an AES codec) once its URL is set in the settings: in one
request per page load, marked "decoded"; a payload it cannot decode shows why, never the
ciphertext. The codec server is the one origin besides the server's the page may reach."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
import pytest_asyncio
from playwright.async_api import Page, expect

from plait import Client, Worker
from plait.codec import AESGCMCodec
from tests.integration.cli_process import plait_command, stop
from tests.ui.conftest import Console, Recorded
from tests.ui.workload import Greet, greet

pytestmark = pytest.mark.asyncio(loop_scope="session")

KEY = bytes(range(32))
OTHER = bytes(range(50, 82))
CODEC_MODULE = f"""
import base64
from plait.codec import AESGCMCodec

def make():
    return AESGCMCodec(keys={{"k1": base64.b64decode("{base64.b64encode(KEY).decode()}")}},
                       current="k1")
"""


@pytest.fixture(scope="module")
def codec_server(console: Console, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``plait codec-server`` with the key k1, answering the console's origin only."""
    tmp = tmp_path_factory.mktemp("ui-codec")
    (tmp / "uicodec.py").write_text(CODEC_MODULE)
    proc = subprocess.Popen(
        [
            *plait_command(),
            "codec-server",
            "--codec",
            "uicodec:make",
            "--port",
            "0",
            "--cors-origin",
            console.origin,
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


@pytest_asyncio.fixture(loop_scope="session")
async def sealed(console: Console) -> AsyncIterator[tuple[Client, str]]:
    """A client whose payloads are encrypted with k1, and the queue of its worker."""
    client = await Client.connect(console.origin, codec=AESGCMCodec(keys={"k1": KEY}, current="k1"))
    queue = f"ui-codec-{uuid.uuid4().hex[:6]}"
    async with Worker(client, task_queue=queue, workflows=[Greet], activities=[greet]):
        yield client, queue
    await client.close()


async def set_codec_server(page: Page, console: Console, url: str) -> None:
    await page.goto(console.url("/namespaces/default/workflows"))
    await page.get_by_role("button", name="Settings").click()
    dialog = page.locator("dialog.settings")
    await expect(dialog).to_contain_text("except from this one service")
    await dialog.get_by_label("Codec server URL").fill(url)
    async with page.expect_navigation():
        await dialog.get_by_role("button", name="Save").click()


async def test_payloads_shown_decoded(
    console: Console, page: Page, recorded: Recorded, codec_server: str, sealed: tuple[Client, str]
) -> None:
    recorded.allowed.append(codec_server)
    secret = f"secret-{uuid.uuid4().hex[:8]}"
    client, queue = sealed
    await client.execute_workflow(Greet.run, {"name": secret}, id="codec-greet", task_queue=queue)
    # The server holds ciphertext only.
    stored = (await console.client.get_workflow_handle("codec-greet").fetch_history()).to_json()
    assert secret not in stored
    decodes: list[str] = []
    page.on(
        "request",
        lambda r: (
            decodes.append(r.url) if r.method == "POST" and r.url.startswith(codec_server) else None
        ),
    )

    await set_codec_server(page, console, codec_server)
    await page.goto(console.url("/namespaces/default/workflows/codec-greet"))
    await expect(page.locator(".badge").first).to_have_text("COMPLETED")
    await expect(page.locator("pre.json.input")).to_have_text(
        json.dumps({"name": secret}, indent=2)
    )
    await expect(page.locator("pre.json.result")).to_contain_text(f'"hello {secret}"')
    await expect(page.locator("section .tag.decoded")).to_have_count(2)
    events = page.locator("ol.events > li")
    await events.filter(has_text="ACTIVITY_TASK_COMPLETED").locator("summary").click()
    await expect(events.filter(has_text="ACTIVITY_TASK_COMPLETED").locator("pre")).to_contain_text(
        f'"result": "hello {secret}"'
    )
    # Every payload of the page in one request to the codec server.
    assert decodes == [codec_server + "/decode"]


async def test_a_payload_it_cannot_decode_shows_why(
    console: Console, page: Page, recorded: Recorded, codec_server: str
) -> None:
    recorded.allowed.append(codec_server)
    other = await Client.connect(
        console.origin, codec=AESGCMCodec(keys={"k9": OTHER}, current="k9")
    )
    try:
        await other.start_workflow(
            "Idle", {"card": "4000"}, id="codec-k9", task_queue="ui-nobody-codec"
        )
    finally:
        await other.close()
    history = await console.client.get_workflow_handle("codec-k9").fetch_history()
    ciphertext = history.events[0].attributes["input"][0]["data"]

    await set_codec_server(page, console, codec_server)
    await page.goto(console.url("/namespaces/default/workflows/codec-k9"))
    inp = page.locator("pre.json.input")
    await expect(inp).to_contain_text("[not decoded: ")
    await expect(inp).to_contain_text("k9")
    await expect(page.locator("section .tag.not-decoded")).to_have_count(1)
    assert ciphertext not in await page.locator("main").inner_text()

    # Cleared, the page shows the payloads as stored again.
    await page.get_by_role("button", name="Settings").click()
    async with page.expect_navigation():
        await page.locator("dialog.settings").get_by_role("button", name="Clear").click()
    await expect(page.locator("pre.json.input")).to_contain_text(ciphertext)
    await console.client.get_workflow_handle("codec-k9").terminate()


async def test_a_bad_codec_url_is_refused_in_the_dialog(console: Console, page: Page) -> None:
    await page.goto(console.url("/namespaces/default/workflows"))
    await page.get_by_role("button", name="Settings").click()
    dialog = page.locator("dialog.settings")
    await dialog.get_by_label("Codec server URL").fill("javascript:alert(1)")
    await dialog.get_by_role("button", name="Save").click()
    await expect(dialog.locator(".notice.error")).to_contain_text("http:// or https://")
    assert await page.evaluate("localStorage.getItem('plait.codecUrl')") is None


async def test_the_page_csp_names_only_a_well_formed_codec_origin(console: Console) -> None:
    """The codec server's origin (a cookie the settings set) is the one the page's CSP adds
    to connect-src; a cookie that is not a bare http(s) origin adds nothing."""

    async def csp(cookie: str) -> str:
        async with (
            aiohttp.ClientSession() as http,
            http.get(
                console.url("/namespaces/default/workflows"),
                headers={"Cookie": f"plait_codec={cookie}"},
            ) as r,
        ):
            return r.headers["Content-Security-Policy"]

    assert "connect-src 'self' http://127.0.0.1:8081;" in await csp("http://127.0.0.1:8081")
    assert "connect-src 'self' http://[::1]:8081;" in await csp("http://[::1]:8081")
    for bad in (
        "http://a.example%3B%20script-src%20*",
        "javascript:x",
        "*",
        "'unsafe-eval'",
        "http://a.example/path",
    ):
        assert "connect-src 'self';" in await csp(bad), bad
