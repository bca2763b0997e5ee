"""Temporal's test style: an awaited time-skipping environment, shut down at the end."""

import asyncio
import uuid
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker


@activity.defn
async def remind(who: str) -> str:
    return f"reminded {who}"


@workflow.defn
class ReminderWorkflow:
    @workflow.run
    async def run(self, who: str) -> str:
        await workflow.sleep(timedelta(days=3))
        if workflow.unsafe.is_replaying():
            workflow.logger.info("replaying")
        return await workflow.execute_activity(remind, who,
                                               start_to_close_timeout=timedelta(seconds=5))


async def main() -> None:
    env = await WorkflowEnvironment.start_time_skipping()
    try:
        before = await env.get_current_time()
        async with Worker(env.client, task_queue="reminders", workflows=[ReminderWorkflow],
                          activities=[remind], debug_mode=True):
            result = await env.client.execute_workflow(
                ReminderWorkflow.run, "ana", id=f"reminder-{uuid.uuid4()}",
                task_queue="reminders")
        assert result == "reminded ana", result
        assert await env.get_current_time() - before >= timedelta(days=3)
    finally:
        await env.shutdown()
    async with await WorkflowEnvironment.start_time_skipping() as env:
        assert env.client is not None
    print("time skipped")


if __name__ == "__main__":
    asyncio.run(main())
