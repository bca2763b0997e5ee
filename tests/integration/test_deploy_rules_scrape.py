"""The shipped dashboard and alert rules (``deploy/``) read only series a real server serves:
every name and label in their PromQL is checked against ``/metrics`` scraped after a workload
that fills the series (starts and closes, retries, a timer, a rate-limit wait, a failing
workflow task, a backlog and a poller)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from plait import RetryPolicy, Worker, activity, workflow
from plait.testing import WorkflowEnvironment
from tests.deploy_rules import check_expression, declared, expressions, samples_of
from tests.waiting import NotYet, eventually

NOT_EXERCISED = {"plait_schedule_actions", "plait_history_size_limit", "plait_run_limit_exceeded"}
"""Families this workload leaves without samples (a schedule would have to come due, a run
pass a limit): their label names are taken from the server's declaration instead."""

attempts: dict[str, int] = {}


@activity.defn(name="deploy_flaky")
async def flaky(key: str) -> str:
    attempts[key] = attempts.get(key, 0) + 1
    if attempts[key] == 1:
        raise RuntimeError("the first attempt fails")
    return key


@workflow.defn(name="DeployFlow")
class Flow:
    @workflow.run
    async def run(self, key: str) -> list[str]:
        await workflow.sleep(0.01)
        return list(
            await asyncio.gather(
                *(
                    workflow.execute_activity(
                        flaky,
                        f"{key}-{i}",
                        start_to_close_timeout=timedelta(seconds=5),
                        retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=20)),
                    )
                    for i in range(3)
                )
            )
        )


@workflow.defn(name="DeployBug")
class Bug:
    @workflow.run
    async def run(self) -> None:
        raise RuntimeError("a bug: fails the workflow task")


async def scrape(address: str, ns: str) -> tuple[dict[str, str], dict[str, set[str]]]:
    """The plait families served (name -> type) and, per sample name, the label names of
    this namespace's samples (and of the series without a namespace)."""
    async with aiohttp.ClientSession() as http, http.get(address + "/metrics") as r:
        assert r.status == 200
        text = await r.text()
    families: dict[str, str] = {}
    labels: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        if not family.name.startswith("plait_"):
            continue
        families[family.name] = family.type
        for s in family.samples:
            if s.labels.get("namespace", ns) == ns:
                labels.setdefault(s.name, set()).update(s.labels)
    return families, labels


@pytest.fixture
async def menv() -> AsyncIterator[tuple[WorkflowEnvironment, str]]:
    ns = f"deploy-{uuid.uuid4().hex[:8]}"
    async with WorkflowEnvironment.start_local(
        namespace=ns, namespaces=[ns], session_expiry=3.0
    ) as e:
        yield e, ns


async def test_dashboard_and_alerts_read_served_series(
    menv: tuple[WorkflowEnvironment, str], queue: str
) -> None:
    env, ns = menv
    client = env.client
    await client.set_rate_limit(queue, "deploy_flaky", per_second=20, burst=1)
    async with Worker(client, task_queue=queue, workflows=[Flow, Bug], activities=[flaky]):
        key = uuid.uuid4().hex
        assert len(await client.execute_workflow(Flow.run, key, id="flow", task_queue=queue)) == 3
        bug = await client.start_workflow(Bug.run, id="bug", task_queue=queue)
        stuck = await client.start_workflow(
            "DeployNobodyRuns", id="stuck", task_queue=f"{queue}-unpolled"
        )

        async def filled() -> dict[str, set[str]] | NotYet:
            _, labels = await scrape(env.address, ns)
            want = {
                "plait_workflow_task_failures_total",
                "plait_task_queue_pollers",
                "plait_task_queue_backlog",
                "plait_workflows_open",
                "plait_rate_limit_waits_total",
                "plait_timer_lateness_seconds_bucket",
            }
            return labels if want <= set(labels) else NotYet(sorted(want - set(labels)))

        await eventually(filled, what="the failing task, the poller, the backlog")
        await bug.terminate("done")
        await stuck.terminate("done")
    families, labels = await scrape(env.address, ns)

    served: dict[str, set[str]] = {}
    fallback = declared()
    for family, kind in families.items():
        names = samples_of(family, kind)
        seen = set().union(*(labels.get(n, set()) for n in names))
        if not seen and family in NOT_EXERCISED:
            seen = fallback[names[0]]
        for n in names:
            served[n] = seen
    for e in expressions():
        for name in e.names & set(served):
            assert served[name], f"{e.where}: the workload left {name} without samples"
        check_expression(e, served)
