"""Schedules against a real in-process server: a daily cron for a simulated month (time
skipping), each overlap policy, pause/trigger/backfill/update/delete, limited actions, and
invalid definitions refused before anything is stored."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import pytest

from plait import Client, Worker, workflow
from plait.errors import ScheduleAlreadyExistsError, ScheduleNotFoundError
from plait.testing import WorkflowEnvironment
from tests.waiting import NotYet, eventually

DAY = 86400.0
UTC = dt.UTC


@workflow.defn
class Report:
    @workflow.run
    async def run(self, region: str) -> str:
        return f"report {region} @ {workflow.now():%Y-%m-%d %H:%M}"


@workflow.defn
class Hold:
    """Runs until signalled, so overlap policies have something to overlap with."""

    def __init__(self) -> None:
        self.done = False

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.done)
        return "finished"

    @workflow.signal
    def finish(self) -> None:
        self.done = True


@pytest.fixture
async def local() -> AsyncIterator[WorkflowEnvironment]:
    async with WorkflowEnvironment.start_local() as e:
        yield e


async def scheduled_runs(client: Client, sid: str) -> list[tuple[str, str]]:
    """(workflow id, status) of the runs the schedule started, oldest id first."""
    runs = [(d.workflow_id, d.status) async for d in
            client.list_workflows(search_attributes={"ScheduleId": sid})]
    return sorted(runs)


async def test_a_daily_schedule_runs_a_simulated_month(queue: str) -> None:
    async with WorkflowEnvironment.start_time_skipping() as env:
        client = env.client
        sched = await client.create_schedule("nightly", Report.run, "eu", task_queue=queue,
                                             cron="0 3 * * *", timezone="UTC")
        wall = time.monotonic()
        async with Worker(client, task_queue=queue, workflows=[Report]):
            await env.sleep(timedelta(days=30))
            runs = await eventually(lambda: _count_closed(client, "nightly", 30),
                                    what="30 nightly runs completed")
        assert time.monotonic() - wall < 30.0
        ids = [wid for wid, _ in runs]
        assert len(ids) == 30 and all(wid.endswith("T03:00:00Z") for wid in ids)
        assert all(status == "COMPLETED" for _, status in runs)
        d = await sched.describe()
        assert d.num_actions == 30 and d.num_skipped == 0
        assert len(d.recent_actions) == 10
        assert d.recent_actions[-1].workflow_id == ids[-1]
        assert len(d.next_action_times) == 5
        assert all(t.hour == 3 and t.minute == 0 for t in d.next_action_times)
        result = await client.get_workflow_handle(ids[0]).result()
        assert result.endswith("03:00")  # workflow.now() is the due time, in durable time


async def _count_closed(client: Client, sid: str, n: int) -> list[tuple[str, str]] | NotYet:
    runs = await scheduled_runs(client, sid)
    done = [r for r in runs if r[1] != "RUNNING"]
    return runs if len(runs) == n and len(done) == n else NotYet(runs)


def _three_days_ago() -> tuple[dt.datetime, dt.datetime]:
    today = dt.datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=3), today


async def _hold_schedule(client: Client, sid: str, queue: str, overlap: str) -> None:
    """A daily schedule, paused so only the test's backfill acts."""
    await client.create_schedule(sid, Hold.run, task_queue=queue, interval=timedelta(days=1),
                                 overlap=overlap, paused=True)


async def _finish(client: Client, wid: str) -> None:
    await client.get_workflow_handle(wid).signal(Hold.finish)


async def _statuses(client: Client, sid: str, want: list[str]) -> list[tuple[str, str]]:
    async def check() -> list[tuple[str, str]] | NotYet:
        runs = await scheduled_runs(client, sid)
        return runs if [s for _, s in runs] == want else NotYet(runs)
    return await eventually(check, what=f"runs of {sid} {want}")


@pytest.mark.parametrize(("overlap", "started", "skipped"), [
    ("skip", 1, 2), ("allow_all", 3, 0), ("buffer_one", 1, 1), ("buffer_all", 1, 0),
    ("terminate_other", 3, 0), ("cancel_other", 1, 1)])
async def test_overlap_policies(local: WorkflowEnvironment, queue: str, overlap: str,
                                started: int, skipped: int) -> None:
    """Three due times come at once (a backfill) while the first run holds."""
    client, sid = local.client, f"ov-{overlap}"
    await _hold_schedule(client, sid, queue, overlap)
    start, end = _three_days_ago()
    async with Worker(client, task_queue=queue, workflows=[Hold]):
        actions = await client.get_schedule_handle(sid).backfill(start, end)
        assert len(actions) == started
        d = await client.get_schedule_handle(sid).describe()
        assert d.num_skipped == skipped
        first = f"{sid}-{start:%Y-%m-%dT%H:%M:%SZ}"
        if overlap == "skip":
            await _statuses(client, sid, ["RUNNING"])
        elif overlap == "allow_all":
            await _statuses(client, sid, ["RUNNING"] * 3)
        elif overlap == "terminate_other":
            await _statuses(client, sid, ["TERMINATED", "TERMINATED", "RUNNING"])
        elif overlap == "buffer_one":
            assert d.buffered == 1
            await _finish(client, first)
            runs = await _statuses(client, sid, ["COMPLETED", "RUNNING"])
            assert runs[1][0].endswith(f"{start + timedelta(days=1):%dT%H:%M:%SZ}")
        elif overlap == "buffer_all":
            assert d.buffered == 2
            await _finish(client, first)
            runs = await _statuses(client, sid, ["COMPLETED", "RUNNING"])
            await _finish(client, runs[1][0])
            await _statuses(client, sid, ["COMPLETED", "COMPLETED", "RUNNING"])
        else:  # cancel_other: the first is cancelled, the newest due time starts after it
            runs = await _statuses(client, sid, ["CANCELED", "RUNNING"])
            assert runs[1][0].endswith(f"{start + timedelta(days=2):%dT%H:%M:%SZ}")
        d = await client.get_schedule_handle(sid).describe()
        assert len(d.running_workflow_ids) == (3 if overlap == "allow_all" else 1)


async def test_pause_trigger_unpause_update_delete(local: WorkflowEnvironment,
                                                  queue: str) -> None:
    client = local.client
    sched = await client.create_schedule("ops", Report.run, "us", task_queue=queue,
                                         interval=timedelta(hours=1),
                                         offset=timedelta(minutes=15), paused=True,
                                         note="not yet")
    d = await sched.describe()
    assert d.paused and d.note == "not yet" and d.interval == timedelta(hours=1)
    assert [(t.minute, t.second) for t in d.next_action_times] == [(15, 0)] * 5
    assert [(s.schedule_id, s.paused) async for s in client.list_schedules()] == [("ops", True)]
    async with Worker(client, task_queue=queue, workflows=[Report]):
        started = await sched.trigger()  # works while paused
        assert len(started) == 1 and started[0].workflow_id.startswith("ops-")
        assert (await client.get_workflow_handle(started[0].workflow_id).result()) \
            .startswith("report us")
    await sched.unpause(note="go")
    d = await sched.describe()
    assert not d.paused and d.note == "go" and d.num_actions == 1
    await sched.update(cron="30 2 * * *", timezone="Europe/Berlin")
    d = await sched.describe()
    assert d.cron == "30 2 * * *" and d.interval is None and d.timezone == "Europe/Berlin"
    assert d.next_action_times[0].astimezone(dt.UTC).minute == 30
    with pytest.raises(ValueError, match="minute"):
        await sched.update(cron="99 * * * *")
    assert (await sched.describe()).cron == "30 2 * * *"  # unchanged
    await sched.pause()
    assert [s.next_action_time async for s in client.list_schedules()] == [None]
    await sched.delete()
    with pytest.raises(ScheduleNotFoundError):
        await sched.describe()
    with pytest.raises(ScheduleNotFoundError):
        await sched.delete()


async def test_ids_are_unique_and_invalid_definitions_are_refused(
        local: WorkflowEnvironment, queue: str) -> None:
    client = local.client
    await client.create_schedule("once", "Report", task_queue=queue, cron="0 3 * * *")
    with pytest.raises(ScheduleAlreadyExistsError):
        await client.create_schedule("once", "Report", task_queue=queue, cron="0 4 * * *")
    for kwargs, named in [({"cron": "0 3 * *"}, "fields"), ({"cron": "0 25 * * *"}, "hour"),
                          ({"cron": "0 3 * * *", "timezone": "Europe/Atlantis"}, "timezone"),
                          ({"cron": "0 3 * * *", "overlap": "sometimes"}, "overlap"),
                          ({"interval": 0.1}, "interval"), ({}, "exactly one")]:
        with pytest.raises(ValueError, match=named):
            await client.create_schedule("bad", "Report", task_queue=queue, **kwargs)
    assert [s.schedule_id async for s in client.list_schedules()] == ["once"]


async def test_limited_actions_and_metrics(queue: str) -> None:
    async with WorkflowEnvironment.start_time_skipping() as env:
        client = env.client
        sched = await client.create_schedule("twice", Report.run, "x", task_queue=queue,
                                             interval=timedelta(minutes=1), limited_actions=2)
        async with Worker(client, task_queue=queue, workflows=[Report]):
            await env.sleep(timedelta(minutes=10))
            await eventually(lambda: _count_closed(client, "twice", 2), what="two runs")
        d = await sched.describe()
        assert d.num_actions == 2 and d.remaining_actions == 0 and d.next_action_times == []
        async with aiohttp.ClientSession() as http, \
                http.get(f"{client.address}/metrics") as resp:
            text = await resp.text()
        assert 'plait_schedule_actions_total{namespace="default",outcome="started"}' in text


async def test_a_buffered_due_time_is_one_of_the_limited_actions(queue: str) -> None:
    async with WorkflowEnvironment.start_time_skipping() as env:
        client = env.client
        sched = await client.create_schedule("held", Hold.run, task_queue=queue,
                                             interval=timedelta(minutes=1),
                                             overlap="buffer_all", limited_actions=2)
        async with Worker(client, task_queue=queue, workflows=[Hold]):
            await env.sleep(timedelta(minutes=10))
            d = await sched.describe()
            assert d.remaining_actions == 0 and d.buffered == 1 and d.next_action_times == []
            [(first, _)] = await scheduled_runs(client, "held")
            await client.get_workflow_handle(first).signal(Hold.finish)
            runs = await eventually(lambda: _started(client, "held", 2), what="two runs")
        assert len(runs) == 2


async def _started(client: Client, sid: str, n: int) -> list[tuple[str, str]] | None:
    runs = await scheduled_runs(client, sid)
    return runs if len(runs) >= n else None


async def test_cron_across_a_dst_change_with_time_skipping(queue: str) -> None:
    """02:30 Berlin time daily, across the next spring night when 02:00-03:00 does not exist
    (the last Sunday of March): that day's run starts at 03:00 CEST, the others at 02:30."""
    async with WorkflowEnvironment.start_time_skipping() as env:
        client = env.client
        sched = await client.create_schedule("berlin", Report.run, "de", task_queue=queue,
                                             cron="30 2 * * *", timezone="Europe/Berlin",
                                             paused=True)
        now = env.get_current_time()
        year = now.year if now < dt.datetime(now.year, 3, 20, tzinfo=UTC) else now.year + 1
        change = max(dt.date(year, 3, d) for d in range(25, 32)
                     if dt.date(year, 3, d).weekday() == 6)
        eve = dt.datetime.combine(change - timedelta(days=2), dt.time(12), UTC)
        await env.sleep(eve - now)  # no due time on the way: paused
        await sched.unpause()
        async with Worker(client, task_queue=queue, workflows=[Report]):
            await env.sleep(timedelta(days=3))
            runs = await eventually(lambda: _count_closed(client, "berlin", 3),
                                    what="three runs around the DST change")
        day = [change + timedelta(days=k) for k in (-1, 0, 1)]
        assert [wid for wid, _ in runs] == [
            f"berlin-{day[0]}T01:30:00Z",  # 02:30 CET
            f"berlin-{day[1]}T01:00:00Z",  # 03:00 CEST: 02:30 does not exist that night
            f"berlin-{day[2]}T00:30:00Z",  # 02:30 CEST
        ]


async def test_due_times_while_paused_are_counted_as_skipped(queue: str) -> None:
    async with WorkflowEnvironment.start_time_skipping() as env:
        client = env.client
        sched = await client.create_schedule("hourly", Report.run, "eu", task_queue=queue,
                                             interval=timedelta(hours=1))
        first = (await sched.describe()).next_action_times[0]
        await sched.pause(note="maintenance")
        await env.sleep(timedelta(hours=5, minutes=30))
        await sched.unpause()
        d = await sched.describe()
        passed = (d.next_action_times[0] - first) // timedelta(hours=1)
        assert passed in (5, 6)  # whole hours in 5.5 h, wherever in the hour it began
        assert d.num_skipped == passed and d.num_actions == 0
        assert [w async for w in client.list_workflows()] == []  # none of them ran


async def test_two_triggers_in_one_second_start_two_runs(local: WorkflowEnvironment,
                                                         queue: str) -> None:
    client = local.client
    sched = await client.create_schedule("twice", Report.run, "us", task_queue=queue,
                                         cron="0 3 * * *", overlap="allow_all")
    first, second = await sched.trigger(), await sched.trigger()
    assert len(first) == len(second) == 1
    assert first[0].workflow_id != second[0].workflow_id
    assert first[0].workflow_id.startswith("twice-") and first[0].workflow_id.endswith("Z")
    assert (await sched.describe()).num_actions == 2
