"""Browser tests of the web console: one in-process server with a real worker for the whole
directory, Debian's chromium driven by Playwright, one fresh browser context per test.

Every test's page records each request it makes; the ``page`` fixture fails the test if any
left the server's origin or if the page raised a script error."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright, expect

from plait import Client, Worker
from plait.testing import WorkflowEnvironment
from tests.ui.workload import ACTIVITIES, WORKFLOWS

# Browsers are never downloaded: the system's chromium (`.ci/run` installs Debian's).
CHROMIUM = os.environ.get("PLAIT_CHROMIUM", "/usr/bin/chromium")

expect.set_options(timeout=10_000)


@dataclass
class Console:
    """The server under test, its client, and the task queue its worker polls."""

    env: WorkflowEnvironment
    queue: str

    @property
    def client(self) -> Client:
        return self.env.client

    @property
    def origin(self) -> str:
        return self.env.address.rstrip("/")

    def url(self, path: str) -> str:
        return self.origin + path


@dataclass
class Recorded:
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)
    """Origins besides the server's a test allows: the codec server a test sets in the
    console's settings (the one service the user may name)."""


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def console() -> AsyncIterator[Console]:
    async with WorkflowEnvironment.start_local(session_expiry=3.0) as env:
        queue = f"ui-{uuid.uuid4().hex[:6]}"
        async with Worker(env.client, task_queue=queue, workflows=WORKFLOWS,
                          activities=ACTIVITIES):
            yield Console(env, queue)


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no chromium at {CHROMIUM}: install Debian's chromium (.ci/run does)")
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM)
        yield b
        await b.close()


@pytest_asyncio.fixture(loop_scope="session")
async def recorded() -> Recorded:
    return Recorded()


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser: Browser, console: Console, recorded: Recorded) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1200, "height": 900})
    p = await context.new_page()
    p.on("request", lambda r: recorded.requests.append(r.url))
    p.on("pageerror", lambda e: recorded.errors.append(str(e)))
    yield p
    await context.close()
    assert recorded.errors == [], "the page raised script errors"
    allowed = tuple(o + "/" for o in [console.origin, *recorded.allowed])
    outside = [u for u in recorded.requests
               if not (u.startswith(allowed) or u.startswith(("data:", "blob:")))]
    assert outside == [], "requests left the server's origin"
