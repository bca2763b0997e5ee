"""Wake-ups between servers go out only while another server listens
(:mod:`plait.store.pgwake`): a server alone on its database sends none, and one that joins
is heard of, and hears of the others, within a round trip."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import psycopg
import pytest

from plait.store.pgwake import HELLO, HERE, WakeUps, _pack
from plait.store.postgres import PostgresStore


class Tap:
    """A plain LISTEN on the servers' channel, as no server: it hears every NOTIFY and
    says nothing, so the servers do not count it."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []  # (sender, line)
        self.task: asyncio.Task[None] | None = None

    async def start(self, url: str, channel: str) -> None:
        conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
        await conn.execute(f'LISTEN "{channel}"')

        async def hear() -> None:
            try:
                async for n in conn.notifies():
                    sender, *lines = n.payload.split("\n")
                    self.lines += [(sender, line) for line in lines]
            finally:
                await conn.close()
        self.task = asyncio.ensure_future(hear())

    async def until(self, sender: str, line: str) -> list[str]:
        """What ``sender`` sent, up to and including ``line``."""
        deadline = time.monotonic() + 10
        while (sender, line) not in self.lines:
            assert time.monotonic() < deadline, self.lines
            await asyncio.sleep(0.01)
        sent = [x for s, x in self.lines if s == sender]
        return sent[:sent.index(line) + 1]

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


@pytest.fixture
async def tap() -> AsyncIterator[Tap]:
    t = Tap()
    yield t
    await t.stop()


async def listening(store: PostgresStore, got: list[str | None]) -> None:
    store.listen(got.append)
    deadline = time.monotonic() + 10
    while not got:  # None once it listens
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)


async def test_a_server_alone_sends_no_wake_ups_until_another_listens(
        pg_url: str, tap: Tap) -> None:
    one = PostgresStore(pg_url)
    two: PostgresStore | None = None
    try:
        await tap.start(pg_url, one.channel)
        got_one: list[str | None] = []
        await listening(one, got_one)
        assert await tap.until(one.server_id, HELLO) == [HELLO]
        assert not one.wake_ups.peers
        assert one.sees_every_commit()  # so its polls may trust an empty claim
        one.publish([json.dumps(["q", "ns", "alone", "workflow"])])  # nobody to wake

        got_two: list[str | None] = []
        two = PostgresStore(pg_url)
        await listening(two, got_two)
        # one answers two's hello: had it sent the first wake-up, it would come before that.
        assert await tap.until(one.server_id, HERE) == [HELLO, HERE]
        deadline = time.monotonic() + 10
        while not (one.wake_ups.peers and two.wake_ups.peers):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        woken = json.dumps(["q", "ns", "together", "workflow"])
        one.publish([woken])
        while woken not in got_two:
            assert time.monotonic() < deadline, got_two
            await asyncio.sleep(0.01)
        # Presence lines never reach the server. Each says None when it starts listening,
        # and again when it first hears the other: what the other committed before it knew
        # of this one was never announced.
        assert got_two == [None, None, woken]
        assert got_one == [None, None]
        assert not one.sees_every_commit() and not two.sees_every_commit()
    finally:
        await one.close()
        if two is not None:
            await two.close()


async def test_a_server_that_cannot_hear_sends_everything(pg_url: str) -> None:
    """Until its listener is connected it cannot know who listens: it notifies."""
    wake = WakeUps(pg_url, 5, "plait_test_deaf", "deaf")
    assert wake.peers


def test_presence_lines_are_json_the_server_ignores() -> None:
    """Servers of an earlier version take every line for JSON and ignore kinds they do not
    know: the presence lines must be both."""
    for line in (HELLO, HERE):
        kind, *_ = json.loads(line)
        assert kind not in {"q", "c", "t"}


def test_long_batches_split_under_the_notify_limit() -> None:
    lines = ["x" * 3000, "y" * 3000, "z" * 3000]
    payloads = _pack("me", lines)
    assert len(payloads) == 2
    assert all(len(p.encode()) < 8000 and p.startswith("me\n") for p in payloads)
    assert [line for p in payloads for line in p.split("\n")[1:]] == lines
