"""A payload converter for classes JSON cannot carry, in the shape of Temporal's
custom_converter sample: an EncodingPayloadConverter of its own encoding, put in front of
the default ones, given to the client as a DataConverter's payload_converter_class."""

import asyncio
import dataclasses
import os
import uuid
from datetime import timedelta
from typing import Any

import temporalio.converter
from temporalio import activity, workflow
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.converter import (
    CompositePayloadConverter,
    DefaultPayloadConverter,
    EncodingPayloadConverter,
)
from temporalio.worker import Worker


class GreetingRequest:
    """Not a dataclass: no JSON converter knows how to rebuild it."""

    def __init__(self, name: str) -> None:
        self.name = name


class GreetingReply:
    def __init__(self, text: str) -> None:
        self.text = text


class GreetingPayloadEncoder(EncodingPayloadConverter):
    @property
    def encoding(self) -> str:
        return "text/greeting"

    def to_payload(self, value: Any) -> Payload | None:
        if isinstance(value, GreetingRequest):
            return Payload(
                metadata={"encoding": self.encoding.encode(), "kind": b"request"},
                data=value.name.encode(),
            )
        if isinstance(value, GreetingReply):
            return Payload(metadata={"encoding": self.encoding.encode()}, data=value.text.encode())
        return None

    def from_payload(self, payload: Payload, type_hint: type | None = None) -> Any:
        if payload.metadata.get("kind") == b"request":
            return GreetingRequest(payload.data.decode())
        return GreetingReply(payload.data.decode())


class GreetingPayloadConverter(CompositePayloadConverter):
    def __init__(self) -> None:
        super().__init__(
            GreetingPayloadEncoder(), *DefaultPayloadConverter.default_encoding_payload_converters
        )


greeting_data_converter = dataclasses.replace(
    temporalio.converter.default(), payload_converter_class=GreetingPayloadConverter
)


@activity.defn
async def compose(request: GreetingRequest, punctuation: str) -> GreetingReply:
    assert isinstance(request, GreetingRequest), request
    return GreetingReply(f"Hello, {request.name}{punctuation}")


@workflow.defn
class GreetingWorkflow:
    @workflow.run
    async def run(self, request: GreetingRequest) -> GreetingReply:
        return await workflow.execute_activity(
            compose, args=[request, "!"], start_to_close_timeout=timedelta(seconds=5)
        )


async def main() -> None:
    client = await Client.connect(
        os.environ.get("TEMPORAL_ADDRESS", "localhost:7233"), data_converter=greeting_data_converter
    )
    task_queue = f"custom-converter-{uuid.uuid4()}"
    async with Worker(
        client, task_queue=task_queue, workflows=[GreetingWorkflow], activities=[compose]
    ):
        reply = await client.execute_workflow(
            GreetingWorkflow.run,
            GreetingRequest("Temporal"),
            id=f"greeting-{uuid.uuid4()}",
            task_queue=task_queue,
        )
    assert isinstance(reply, GreetingReply), reply
    assert reply.text == "Hello, Temporal!", reply.text
    print(reply.text)


if __name__ == "__main__":
    asyncio.run(main())
