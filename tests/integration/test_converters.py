"""Custom payload converters end to end, against a real ``plait server`` process: a value of
a user type (``Money`` with a ``Decimal`` amount) crosses every path a payload takes (workflow
input and result, activity and local activity arguments and results, signal, query, update,
child workflow, continue-as-new) and comes back exact, with a payload codec on top; a client
without the converter is told which encoding it lacks."""

from __future__ import annotations

import dataclasses
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from plait import Client, Worker, activity, errors, workflow
from plait.codec import AESGCMCodec
from plait.converter import (
    CompositePayloadConverter,
    DataConverter,
    EncodingPayloadConverter,
    JSONPlainPayloadConverter,
    JSONTypeConverter,
)
from plait.protocol.jsoncodec import dumps
from plait.protocol.payload import Payload
from plait.testing import Replayer
from tests.integration.cli_process import plait_command, stop


@dataclasses.dataclass(frozen=True)
class Money:
    amount: Decimal
    currency: str


class MoneyEncoding(EncodingPayloadConverter):
    """A ``Money`` on its own travels as ``"12.34 EUR"`` under an encoding of its own."""

    @property
    def encoding(self) -> str:
        return "text/money"

    def to_payload(self, value: Any) -> Payload | None:
        if not isinstance(value, Money):
            return None
        return {"encoding": self.encoding, "data": f"{value.amount} {value.currency}"}

    def from_payload(self, payload: Payload, type_hint: Any = Any) -> Any:
        amount, currency = payload["data"].split()
        return Money(Decimal(amount), currency)


class DecimalJSON(JSONTypeConverter):
    """A ``Decimal`` anywhere inside a JSON value is its exact string."""

    def to_json(self, value: Any) -> Any:
        return str(value) if isinstance(value, Decimal) else self.Unhandled

    def from_json(self, data: Any, hint: Any) -> Any:
        return Decimal(data) if hint is Decimal else self.Unhandled


class MoneyConverter(CompositePayloadConverter):
    def __init__(self) -> None:
        super().__init__(
            MoneyEncoding(), JSONPlainPayloadConverter(custom_type_converters=[DecimalJSON()])
        )


MONEY = DataConverter(payload_converter_class=MoneyConverter)


@dataclasses.dataclass
class Summary:
    total: Money
    converted: Money
    local: Money
    fee: Decimal


@activity.defn
async def exchange(amount: Money, rate: Decimal) -> Money:
    assert isinstance(amount.amount, Decimal) and isinstance(rate, Decimal)
    return Money((amount.amount * rate).quantize(Decimal("0.0001")), "EUR")


@workflow.defn
class Total:
    @workflow.run
    async def run(self, items: list[Money], rounds: int) -> Money:
        assert all(isinstance(m.amount, Decimal) for m in items)
        if rounds > 0:  # the next run's arguments go through the converter too
            workflow.continue_as_new([*items, Money(Decimal("0.01"), "USD")], rounds - 1)
        return Money(sum((m.amount for m in items), Decimal(0)), items[0].currency)


@workflow.defn
class Ledger:
    def __init__(self) -> None:
        self.entries: list[Money] = []
        self.fee = Decimal(0)

    @workflow.signal
    def add(self, entry: Money) -> None:
        self.entries.append(entry)

    @workflow.query
    def balance(self) -> Money:
        return Money(sum((m.amount for m in self.entries), Decimal(0)), "USD")

    @workflow.update
    def charge(self, fee: Decimal) -> Decimal:
        self.fee += fee
        return self.fee

    @workflow.run
    async def run(self, opening: Money, rate: Decimal) -> Summary:
        await workflow.wait_condition(lambda: len(self.entries) >= 2 and self.fee > 0)
        me = workflow.info().workflow_id
        total = await workflow.execute_child_workflow(
            Total.run, args=[[opening, *self.entries], 1], id=f"{me}-total"
        )
        converted = await workflow.execute_activity(
            exchange, args=[total, rate], start_to_close_timeout=timedelta(seconds=10)
        )
        local = await workflow.execute_local_activity(
            exchange, args=[total, Decimal(1)], start_to_close_timeout=timedelta(seconds=10)
        )
        return Summary(total, converted, local, self.fee)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("converters")
    proc = subprocess.Popen(
        [*plait_command(), "server", "--db", f"sqlite:///{tmp / 'plait.db'}", "--port", "0"],
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


@pytest.fixture
async def clients(server: str) -> AsyncIterator[dict[str, Client]]:
    made = {
        "money": await Client.connect(server, data_converter=MONEY),
        "sealed": await Client.connect(
            server,
            data_converter=dataclasses.replace(
                MONEY, payload_codec=AESGCMCodec(keys={"k": bytes(range(32))}, current="k")
            ),
        ),
        "plain": await Client.connect(server),
    }
    yield made
    for c in made.values():
        await c.close()


async def feed(handle: Any) -> None:
    await handle.signal(Ledger.add, Money(Decimal("0.20"), "USD"))
    await handle.signal(Ledger.add, Money(Decimal("1E+1"), "USD"))
    assert await handle.execute_update(Ledger.charge, Decimal("0.05")) == Decimal("0.05")
    # After the update, whose task came after both signals: a cached run has seen them too.
    assert await handle.query(Ledger.balance) == Money(Decimal("10.20"), "USD")


@pytest.mark.parametrize("which", ["money", "sealed"])
async def test_a_user_type_crosses_every_path_exactly(
    clients: dict[str, Client], which: str
) -> None:
    client, wid, queue = clients[which], f"ledger-{uuid.uuid4().hex[:8]}", f"q-{uuid.uuid4()}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[Ledger, Total],
        activities=[exchange],
        max_cached_workflows=0,
    ):  # every task replays
        handle = await client.start_workflow(
            Ledger.run,
            args=[Money(Decimal("0.10"), "USD"), Decimal("0.9")],
            id=wid,
            task_queue=queue,
        )
        await feed(handle)
        summary = await handle.result()
    total = Money(Decimal("10.31"), "USD")  # 0.10 + 0.20 + 10, + 0.01 by continue-as-new
    assert summary == Summary(
        total, Money(Decimal("9.2790"), "EUR"), Money(Decimal("10.3100"), "EUR"), Decimal("0.05")
    )
    assert isinstance(summary.total.amount, Decimal)
    raw = dumps(await clients["plain"].api.workflow_history(wid, None)).decode()
    if which == "money":  # the converter's own encoding is what the server stores
        assert "text/money" in raw and "0.20 USD" in raw
        assert '"amount":"10.31"' in raw  # a Decimal inside a dataclass: its exact string
        history = await handle.fetch_history()
        await Replayer(workflows=[Ledger], data_converter=MONEY).replay(history)
        with pytest.raises(errors.PayloadCodecError, match="'text/money'"):
            await Replayer(workflows=[Ledger]).replay(history)
    else:  # the codec runs after the converter: nothing of it is left readable
        assert "text/money" not in raw and "0.20 USD" not in raw
        assert "10.31" not in raw


async def test_a_client_without_the_converter_names_the_encoding(
    clients: dict[str, Client],
) -> None:
    money, plain = clients["money"], clients["plain"]
    wid, queue = f"ledger-{uuid.uuid4().hex[:8]}", f"q-{uuid.uuid4()}"
    async with Worker(money, task_queue=queue, workflows=[Ledger, Total], activities=[exchange]):
        handle = await money.start_workflow(
            Ledger.run,
            args=[Money(Decimal("0.10"), "USD"), Decimal("0.9")],
            id=wid,
            task_queue=queue,
        )
        await feed(handle)
        with pytest.raises(
            errors.PayloadCodecError, match=r"encoding 'text/money'.*payload converter"
        ):
            await plain.get_workflow_handle(wid).query(Ledger.balance)
        summary = await plain.get_workflow_handle(wid).result()
    # The result is plain JSON (a dataclass): readable without the converter, as JSON.
    assert summary["total"] == {"amount": "10.31", "currency": "USD"}
