"""The campaign's client side: keeps a mixed workload in flight through every fault and
writes down what the server acknowledged, which is what the checker holds it to.

A call that raised is never repeated blindly (a repeat under a new request id would be a
second signal): its effect is *uncertain* and the checker allows it at most once. Updates
carry an id, so they are repeated until they answer and must land exactly once.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Any

from plait import Client
from plait.errors import PlaitError, WorkflowFailureError
from tests.faults.campaign.rig import QUEUE


@dataclass
class InboxLog:
    acked: list[str] = field(default_factory=list)  # in the order each was acknowledged
    uncertain: set[str] = field(default_factory=set)
    updates: list[str] = field(default_factory=list)  # update ids


@dataclass
class Ledger:
    """What was acknowledged (the checker's expectations) and how the calls fared."""

    mixed: dict[str, dict[str, Any]] = field(default_factory=dict)
    maybe: dict[str, dict[str, Any]] = field(default_factory=dict)  # start outcome unknown
    inboxes: dict[str, InboxLog] = field(default_factory=dict)
    sleepers: set[str] = field(default_factory=set)  # cancel acknowledged
    calls: dict[str, int] = field(default_factory=dict)  # outcome name -> count

    def count(self, what: str) -> None:
        self.calls[what] = self.calls.get(what, 0) + 1


def random_spec(rng: random.Random) -> dict[str, Any]:
    return {"steps": rng.randint(1, 4), "sleep": rng.choice([0, 0, 0.5, 1.5]),
            "flaky": rng.random() < 0.4, "beat": rng.random() < 0.4,
            "stall": rng.random() < 0.3, "limited": rng.choice([0, 0, 1, 3]),
            "child": rng.random() < 0.4, "can": rng.choice([0, 0, 1, 2])}


class Workload:
    def __init__(self, clients: list[Client], rng: random.Random, ledger: Ledger,
                 prefix: str) -> None:
        self.clients, self.rng, self.ledger, self.prefix = clients, rng, ledger, prefix
        self._n = 0
        self.stopping = False

    def _id(self, kind: str) -> str:
        self._n += 1
        return f"{self.prefix}-{kind}-{self._n}"

    def _client(self) -> Client:
        return self.rng.choice(self.clients)

    async def run(self, lanes: int) -> None:
        """``lanes`` loops of scenarios until :attr:`stopping`."""
        await asyncio.gather(*(self._lane() for _ in range(lanes)))

    async def _lane(self) -> None:
        while not self.stopping:
            scenario = self.rng.choices([self.mixed, self.inbox, self.sleeper], [6, 3, 1])[0]
            try:
                await scenario()
            except PlaitError as e:  # an outage outlasted the client's retries: go on
                self.ledger.count(f"gave up: {type(e).__name__}")

    async def mixed(self) -> None:
        wid, spec = self._id("mixed"), random_spec(self.rng)
        try:
            await self._client().start_workflow("Mixed", spec, id=wid, task_queue=QUEUE)
        except PlaitError:
            self.ledger.maybe[wid] = spec
            raise
        self.ledger.mixed[wid] = spec
        await self.settle(wid)

    async def inbox(self) -> None:
        wid = self._id("inbox")
        await self._client().start_workflow("Inbox", id=wid, task_queue=QUEUE)
        log = self.ledger.inboxes[wid] = InboxLog()
        for k in range(self.rng.randint(2, 8)):
            item = f"{wid}/{k}"
            handle = self._client().get_workflow_handle(wid)
            roll = self.rng.random()
            if roll < 0.2:
                await self.query(wid)
            if roll < 0.5:
                try:
                    await handle.signal("put", item)
                except PlaitError:
                    log.uncertain.add(item)
                    continue
                log.acked.append(item)
            else:
                await self.update(wid, item)
                log.acked.append(item)
        await self.close(wid)
        await self.settle(wid)

    async def update(self, wid: str, item: str) -> None:
        """Repeated under its update id until it answers: idempotent, so exactly once."""
        self.ledger.inboxes[wid].updates.append(item)
        deadline = time.monotonic() + 300
        while True:
            try:
                await self._client().get_workflow_handle(wid).execute_update(
                    "put_checked", item, id=item)
                return
            except PlaitError:
                self.ledger.count("update repeated")
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)

    async def query(self, wid: str) -> None:
        try:
            got = await self._client().get_workflow_handle(wid).query("count")
        except PlaitError:
            self.ledger.count("query failed")
            return
        log = self.ledger.inboxes[wid]
        ok = isinstance(got, int) and 0 <= got <= len(log.acked) + len(log.uncertain)
        self.ledger.count("query ok" if ok else "query wrong")

    async def close(self, wid: str) -> None:
        """``close`` twice is harmless, so it is repeated until acknowledged."""
        while True:
            try:
                await self._client().get_workflow_handle(wid).signal("close")
                return
            except PlaitError:
                await asyncio.sleep(0.5)

    async def sleeper(self) -> None:
        wid = self._id("sleeper")
        await self._client().start_workflow("Sleeper", id=wid, task_queue=QUEUE)
        await asyncio.sleep(self.rng.uniform(0.1, 2.0))
        while True:  # a repeated cancel request is harmless
            try:
                await self._client().get_workflow_handle(wid).cancel()
                break
            except PlaitError:
                await asyncio.sleep(0.5)
        self.ledger.sleepers.add(wid)
        await self.settle(wid)

    async def settle(self, wid: str, timeout: float = 600) -> None:
        """Wait for the run to close (its outcome is judged later, from the server)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                await self._client().get_workflow_handle(wid).result()
                return
            except WorkflowFailureError:
                return
            except PlaitError:
                await asyncio.sleep(0.5)
