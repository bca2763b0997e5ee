"""The console on a server started with ``--auth`` (API.md "Web UI"): its page and scripts load
without a key, it asks for one, refuses a wrong one with the server's reason, keeps a right
one for the tab's session and sends it (with the key's CSRF token on actions), shows a
reader's refused action as the 403 it is, and goes back to the form on sign-out or when the
key stops working."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from plait import Client, Worker
from plait.protocol.tenancy import CreateApiKeyRequest
from plait.server.auth import AuthSettings, make_key
from plait.server.config import ServiceConfig
from plait.server.main import Server
from tests.ui.workload import ACTIVITIES, WORKFLOWS, Approval
from tests.waiting import status_is

pytestmark = pytest.mark.asyncio(loop_scope="session")

WRONG = "plait_0123456789abcdef." + "A" * 43


@dataclass
class Guarded:
    server: Server
    admin: Client
    keys: dict[str, str]
    """role -> a key of that role for the default namespace."""
    queue: str

    def url(self, path: str) -> str:
        return self.server.address + path


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def guarded(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Guarded]:
    db = Path(tmp_path_factory.mktemp("auth-ui")) / "plait.db"
    server = Server(
        f"sqlite:///{db}", port=0, config=ServiceConfig(session_expiry=3.0), auth=AuthSettings()
    )
    await server.start()
    assert server.service is not None
    keys: dict[str, str] = {}
    for role in ("admin", "writer", "reader", "worker"):
        made = make_key("default", role, f"ui-{role}", now=time.time())
        await server.service.store.write(lambda t, row=made.row: t.insert_api_key(row))
        keys[role] = made.key
    admin = await Client.connect(server.address, api_key=keys["admin"])
    worker_client = await Client.connect(server.address, api_key=keys["worker"])
    queue = f"ui-auth-{uuid.uuid4().hex[:6]}"
    try:
        async with Worker(
            worker_client, task_queue=queue, workflows=WORKFLOWS, activities=ACTIVITIES
        ):
            yield Guarded(server, admin, keys, queue)
    finally:
        await admin.close()
        await worker_client.close()
        await server.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser: Browser, guarded: Guarded) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1200, "height": 900})
    p = await context.new_page()
    errors: list[str] = []
    outside: list[str] = []
    p.on("pageerror", lambda e: errors.append(str(e)))
    p.on(
        "request",
        lambda r: (
            outside.append(r.url)
            if not r.url.startswith((guarded.server.address + "/", "data:"))
            else None
        ),
    )
    yield p
    await context.close()
    assert errors == [], "the page raised script errors"
    assert outside == [], "requests left the server's origin"


async def sign_in(page: Page, key: str) -> None:
    await page.get_by_label("API key").fill(key)
    await page.get_by_role("button", name="Sign in").click()


async def test_sign_in_list_act_and_sign_out(guarded: Guarded, page: Page) -> None:
    sa = quote("suite=login")
    handle = await guarded.admin.start_workflow(
        Approval.run,
        "o-1",
        id="login-1",
        task_queue=guarded.queue,
        search_attributes={"suite": "login"},
    )
    list_url = guarded.url(f"/namespaces/default/workflows?search_attribute={sa}")

    await page.goto(list_url)
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await expect(page.locator("table.list")).to_have_count(0)  # no data without a key

    await sign_in(page, WRONG)
    await expect(page.locator("#login-message")).to_contain_text("unknown API key")
    await sign_in(page, "not a key at all")
    await expect(page.locator("#login-message")).to_contain_text("does not hold a plait API key")

    await sign_in(page, guarded.keys["writer"])
    rows = page.locator("table.list tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("login-1")
    assert page.url == list_url  # the page that was asked for
    await expect(page.locator("#who")).to_contain_text("writer")

    # kept for the tab's session: a reload needs no second sign-in
    await page.reload()
    await expect(rows).to_have_count(1)

    # an action: the key and its CSRF token go with it
    await page.get_by_label("Select every run on this page").check()
    await page.get_by_role("button", name="Terminate selected…").click()
    dialog = page.locator("dialog.confirm")
    await dialog.get_by_label("Reason").fill("done from the console")
    await dialog.get_by_role("button", name="Terminate", exact=True).click()
    await expect(page.locator(".notice.ok")).to_contain_text("Terminated 1 of 1")
    await status_is(handle, "TERMINATED")

    await page.get_by_role("link", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await expect(page.locator("#who")).to_be_hidden()
    await page.reload()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


async def test_a_readers_action_shows_the_403(guarded: Guarded, page: Page) -> None:
    handle = await guarded.admin.start_workflow(
        Approval.run,
        "o-2",
        id="login-reader",
        task_queue=guarded.queue,
        search_attributes={"suite": "reader"},
    )
    await page.goto(
        guarded.url(f"/namespaces/default/workflows?search_attribute={quote('suite=reader')}")
    )
    await sign_in(page, guarded.keys["reader"])
    await expect(page.locator("table.list tbody tr")).to_have_count(1)
    await page.get_by_label("Select every run on this page").check()
    await page.get_by_role("button", name="Terminate selected…").click()
    dialog = page.locator("dialog.confirm")
    await dialog.get_by_role("button", name="Terminate", exact=True).click()
    refused = page.locator(".notice.error")
    await expect(refused).to_contain_text("Terminated 0 of 1")
    await expect(refused).to_contain_text("may not call")
    await expect(refused).to_contain_text("permission_denied")
    assert (await handle.describe()).status == "RUNNING"


async def test_a_key_revoked_mid_session_sends_the_console_back_to_the_form(
    guarded: Guarded, page: Page
) -> None:
    made = await guarded.admin.api.create_api_key(
        CreateApiKeyRequest(namespace="default", role="reader", name="short-lived")
    )
    await page.goto(guarded.url("/namespaces/default/workflows"))
    await sign_in(page, made.key)
    await expect(page.locator("table.list")).to_be_visible()
    await guarded.admin.api.revoke_api_key(made.key_id)
    # the list's next live refresh (every 3 s) is refused: the form says why
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await expect(page.locator("main")).to_contain_text("was revoked")
    await expect(page.locator("#who")).to_be_hidden()
    await page.reload()  # the refused key is not kept
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
