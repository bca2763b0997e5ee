"""Workflows whose recorded histories live in ``histories/``; replaying them guards the
runtime against changes that would break running workflows."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from plait import RetryPolicy, activity, workflow

T5 = timedelta(seconds=5)


@activity.defn
async def register(kind: str, name: str) -> str:
    return f"{kind}:{name}"


@activity.defn
async def flaky_once(name: str) -> str:
    if activity.info().attempt == 1:
        raise RuntimeError("first attempt fails")
    return name


@workflow.defn
class Onboarding:
    @workflow.run
    async def run(self, brand: str, numbers: list[str]) -> dict[str, object]:
        brand_id = await workflow.execute_activity(register, "brand", brand,
                                                   start_to_close_timeout=T5)
        await workflow.sleep(0.1)
        campaign = await workflow.execute_activity(
            register, "campaign", brand_id, start_to_close_timeout=T5,
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=20)))
        phones = await asyncio.gather(*(workflow.execute_activity(
            register, "number", n, start_to_close_timeout=T5) for n in numbers))
        retried = await workflow.execute_activity(
            flaky_once, "again", start_to_close_timeout=T5,
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=20)))
        return {"campaign": campaign, "phones": list(phones), "retried": retried,
                "token": str(workflow.uuid4()), "lucky": workflow.random().randint(1, 100)}


@workflow.defn(name="Onboarding")
class OnboardingReordered:
    """The same workflow with two steps swapped: replay must refuse it."""

    @workflow.run
    async def run(self, brand: str, numbers: list[str]) -> dict[str, object]:
        await workflow.sleep(0.1)
        brand_id = await workflow.execute_activity(register, "brand", brand,
                                                   start_to_close_timeout=T5)
        return {"brand": brand_id}


@workflow.defn(name="Onboarding")
class OnboardingNewArguments:
    """Changed arguments to the same steps replay fine (matching ignores arguments)."""

    @workflow.run
    async def run(self, brand: str, numbers: list[str]) -> dict[str, object]:
        brand_id = await workflow.execute_activity(register, "brand", brand.upper(),
                                                   start_to_close_timeout=T5)
        await workflow.sleep(0.1)
        campaign = await workflow.execute_activity(register, "campaign", brand_id,
                                                   start_to_close_timeout=T5)
        phones = await asyncio.gather(*(workflow.execute_activity(
            register, "number", n + "!", start_to_close_timeout=T5) for n in numbers))
        retried = await workflow.execute_activity(flaky_once, "x", start_to_close_timeout=T5)
        return {"campaign": campaign, "phones": list(phones), "retried": retried}


async def record(path: str) -> None:
    """Regenerate the recorded history: ``python -m tests.replay.workflows``."""
    from plait import Worker
    from plait.testing import WorkflowEnvironment

    async with WorkflowEnvironment.start_local() as env, Worker(
            env.client, task_queue="replay", workflows=[Onboarding],
            activities=[register, flaky_once]):
        handle = await env.client.start_workflow(Onboarding.run, "acme", ["+1555", "+1666"],
                                                 id="onboarding-1", task_queue="replay")
        await handle.result()
        history = await handle.fetch_history()
    with open(path, "w") as f:
        f.write(history.to_json())


if __name__ == "__main__":
    import os

    asyncio.run(record(os.path.join(os.path.dirname(__file__), "histories",
                                    "onboarding.json")))
