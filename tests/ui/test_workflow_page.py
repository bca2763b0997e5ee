"""A run's page: input and result pretty-printed (as text, whatever they hold), a failure
with its cause chain and stack trace lines, the attempt log, the history, the warning when no
worker polls its queue, and the actions (query, signal, terminate) reaching the server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from plait.errors import WorkflowNotFoundError
from tests.ui.conftest import Console
from tests.ui.workload import HOSTILE, Approval, Charge, Family, Greet, Retrying
from tests.waiting import pending_activity, status_is

pytestmark = pytest.mark.asyncio(loop_scope="session")


def run_page(console: Console, wid: str, rid: str | None = None) -> str:
    return console.url(f"/namespaces/default/workflows/{wid}" + (f"/{rid}" if rid else ""))


async def test_input_and_result_are_pretty_printed_text(console: Console, page: Page) -> None:
    who = {"name": HOSTILE, "tags": ["a", "b"]}
    await console.client.execute_workflow(Greet.run, who, id="page-greet",
                                          task_queue=console.queue)
    await page.goto(run_page(console, "page-greet"))
    await expect(page.locator(".badge").first).to_have_text("COMPLETED")
    inp = page.locator("pre.json.input")
    await expect(inp).to_have_text(json.dumps(who, indent=2))
    result = page.locator("pre.json.result")
    await expect(result).to_contain_text(f'"greeting": {json.dumps("hello " + HOSTILE)}')
    assert await page.locator("main img, main script").count() == 0
    assert await page.evaluate("window.__pwned") is None

    # The history: one line per event; a click shows its attributes.
    events = page.locator("ol.events > li")
    await expect(events.last).to_contain_text("WORKFLOW_EXECUTION_COMPLETED")
    await events.first.locator("summary").click()
    await expect(events.first.locator("pre")).to_contain_text('"workflow_type": "Greet"')
    await page.locator("#h-kind").select_option("activity")
    await expect(events).to_have_count(3)  # scheduled, started, completed

    # The download is the history in `plait replay`'s format.
    async with page.expect_download() as info:
        await page.get_by_role("button", name="Download JSON").click()
    saved = json.loads(Path(await (await info.value).path()).read_text())
    history = await console.client.get_workflow_handle("page-greet").fetch_history()
    assert saved == json.loads(history.to_json())


async def test_failure_shows_cause_chain_and_stack_trace_lines(console: Console,
                                                               page: Page) -> None:
    handle = await console.client.start_workflow(Charge.run, "4000-0000", id="page-charge",
                                                 task_queue=console.queue)
    await status_is(handle, "FAILED")
    await page.goto(run_page(console, "page-charge", handle.run_id))
    chain = page.locator("section .chain > .failure")
    await expect(chain).to_have_count(2)
    await expect(chain.nth(0)).to_contain_text("ActivityError")
    await expect(chain.nth(1)).to_contain_text("CardDeclined: card 4000-0000 declined")
    await expect(chain.nth(1)).to_contain_text("non-retryable")
    trace = chain.nth(1).locator("pre.trace")
    await expect(trace).to_be_visible()
    lines = (await trace.inner_text()).splitlines()
    assert len(lines) > 3, lines
    assert any(line.strip().startswith("File ") and line.endswith("in charge") for line in lines)
    assert "\\n" not in await trace.inner_text()
    attempts = page.locator("table.attempts tbody tr")
    await expect(attempts).to_have_count(1)
    await expect(attempts.first).to_contain_text("failed")
    await expect(attempts.first).to_contain_text("CardDeclined")
    # The timeline: a row for the activity, its one attempt a failed bar.
    row = page.locator(".timeline li", has_text="charge #1")
    await expect(row.locator(".bar.out-failed")).to_have_count(1)


async def test_query_update_and_signal_from_the_page(console: Console, page: Page) -> None:
    handle = await console.client.start_workflow(Approval.run, "o-7", id="page-signal",
                                                 task_queue=console.queue)
    await page.goto(run_page(console, "page-signal"))
    await expect(page.locator(".badge").first).to_have_text("RUNNING")
    await page.get_by_placeholder("query name").fill("status")
    await page.get_by_role("button", name="Query").click()
    await expect(page.locator(".query-result pre")).to_have_text('"waiting for approval"')

    await page.get_by_placeholder("update name").fill("note")
    await page.locator("#update-args").fill('"rush"')
    await page.get_by_role("button", name="Update", exact=True).click()
    await expect(page.locator(".query-result h3")).to_have_text("Update note: completed")
    await expect(page.locator(".query-result pre")).to_have_text('"noted: rush"')
    await page.locator("#update-args").fill('[""]')
    await page.get_by_role("button", name="Update", exact=True).click()
    await expect(page.locator(".query-result")).to_contain_text("EmptyNote: a note needs text")

    await page.get_by_placeholder("signal name").fill("approve")
    await page.locator("#signal-args").fill('["dana"]')
    await page.get_by_role("button", name="Signal", exact=True).click()
    # The page follows the run by itself until it closes.
    await expect(page.locator(".badge").first).to_have_text("COMPLETED")
    await expect(page.locator("pre.json.result")).to_have_text('"o-7 approved by dana"')
    assert await handle.result() == "o-7 approved by dana"


async def test_terminate_from_the_page_reaches_the_server(console: Console,
                                                          page: Page) -> None:
    handle = await console.client.start_workflow(Approval.run, "o-8", id="page-terminate",
                                                 task_queue=console.queue)
    await page.goto(run_page(console, "page-terminate"))
    await expect(page.locator(".badge").first).to_have_text("RUNNING")
    await page.get_by_role("button", name="Terminate…").click()
    dialog = page.locator("dialog.confirm")
    await expect(dialog).to_contain_text("Terminate page-terminate?")
    # Dismissing does nothing.
    await dialog.get_by_role("button", name="Back").click()
    await expect(dialog).to_have_count(0)
    assert (await handle.describe()).status == "RUNNING"

    await page.get_by_role("button", name="Terminate…").click()
    await dialog.get_by_label("Reason").fill("stuck in a test")
    await dialog.get_by_role("button", name="Terminate", exact=True).click()
    await expect(page.locator(".badge").first).to_have_text("TERMINATED")
    await expect(page.locator("p.reason")).to_have_text("Reason: stuck in a test")
    desc = await handle.describe()
    assert desc.status == "TERMINATED"
    last = (await handle.fetch_history()).events[-1]
    assert last.event_type == "WORKFLOW_EXECUTION_TERMINATED"
    assert last.attributes["reason"] == "stuck in a test"
    await expect(page.get_by_role("button", name="Terminate…")).to_be_disabled()


async def test_warning_when_no_worker_polls_the_queue(console: Console, page: Page) -> None:
    await console.client.start_workflow("Idle", id="page-idle", task_queue="ui-unpolled")
    await page.goto(run_page(console, "page-idle"))
    warning = page.locator(".notice.warn")
    await expect(warning).to_contain_text("No worker is polling task queue ui-unpolled")
    await warning.get_by_role("link", name="ui-unpolled").click()
    await expect(page.locator("h1")).to_have_text("ui-unpolled")
    await expect(page.locator(".notice.warn")).to_contain_text("No worker is polling")
    # Its backlog by kind: the run's first workflow task, which no worker holds.
    await expect(page.locator("dl.summary dt:text-is('workflow') + dd")).to_have_text("1")

    await page.goto(console.url(f"/namespaces/default/task-queues/{console.queue}"))
    await expect(page.locator(".notice.ok")).to_contain_text("1 worker session polling")
    # Each poller by identity, session and the types it runs.
    [poller] = (await console.client.describe_task_queue(console.queue)).pollers
    row = page.locator("table.list tbody tr").filter(has_text=poller.session_id)
    await expect(row).to_contain_text(poller.identity)


async def test_pending_activity_backing_off(console: Console, page: Page) -> None:
    handle = await console.client.start_workflow(Retrying.run, "o-9", id="page-retrying",
                                                 task_queue=console.queue)
    await pending_activity(handle, "backing_off")
    await page.goto(run_page(console, "page-retrying"))
    row = page.locator("section", has=page.locator("h2", has_text="Pending activities"))
    row = row.locator("tbody tr")
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text("flaky")
    await expect(row.locator("td").nth(1)).to_have_text("2")  # the next attempt's number
    await expect(row).to_contain_text("backing off")
    await expect(row).to_contain_text("Busy: registry busy for o-9")
    await expect(row).to_contain_text("(in ")  # when the next attempt starts
    await expect(row.locator("pre")).to_contain_text('"step": 3')  # heartbeat details
    await handle.terminate(reason="test over")
    await expect(page.locator(".badge").first).to_have_text("TERMINATED")


async def test_parent_child_and_continue_as_new_links(console: Console, page: Page) -> None:
    first = await console.client.start_workflow(Family.run, 1, id="page-family",
                                                task_queue=console.queue)
    assert await console.client.get_workflow_handle("page-family").result() == "round 2"
    await page.goto(run_page(console, "page-family", first.run_id))
    await expect(page.locator(".badge").first).to_have_text("CONTINUED_AS_NEW")
    summary = page.locator("dl.summary")
    await summary.get_by_role("link", name="page-family-child").click()
    await expect(page.locator("h1")).to_have_text("page-family-child")
    await page.locator("dl.summary").get_by_role("link", name="page-family").click()
    await expect(page.locator("h1")).to_have_text("page-family")
    assert page.url.endswith(first.run_id)
    await summary.locator("dt:text-is('Next run') + dd a").click()
    await expect(page.locator(".badge").first).to_have_text("COMPLETED")
    await expect(page.locator("pre.json.result")).to_have_text('"round 2"')
    await summary.locator("dt:text-is('Previous run') + dd a").click()
    await expect(page.locator(".badge").first).to_have_text("CONTINUED_AS_NEW")
    assert page.url.endswith(first.run_id)


async def test_pause_and_unpause_from_the_page_reach_the_server(console: Console,
                                                                page: Page) -> None:
    handle = await console.client.start_workflow(Approval.run, "o-9", id="page-pause",
                                                 task_queue=console.queue)
    await page.goto(run_page(console, "page-pause"))
    await expect(page.locator(".badge").first).to_have_text("RUNNING")
    await page.get_by_role("button", name="Pause…").click()
    dialog = page.locator("dialog.confirm")
    await expect(dialog).to_contain_text("Pause page-pause?")
    await dialog.get_by_label("Reason").fill("registry down")
    await dialog.get_by_role("button", name="Pause", exact=True).click()
    await expect(page.locator("span.paused")).to_contain_text(": registry down")
    desc = await handle.describe()
    assert desc.paused and desc.pause_reason == "registry down"

    await page.get_by_role("button", name="Unpause").click()
    await expect(page.get_by_role("button", name="Pause…")).to_be_enabled()
    await expect(page.locator("span.paused")).to_have_count(0)
    assert not (await handle.describe()).paused


async def test_reset_from_the_page_makes_a_new_run_and_links_both(console: Console,
                                                                  page: Page) -> None:
    handle = await console.client.start_workflow(Greet.run, {"name": "ren"}, id="page-reset",
                                                 task_queue=console.queue)
    await handle.result()
    old = (await handle.describe()).run_id
    await page.goto(run_page(console, "page-reset", old))
    await expect(page.locator(".badge").first).to_have_text("COMPLETED")
    await page.get_by_role("button", name="Reset…").click()
    dialog = page.locator("dialog.confirm")
    await expect(dialog).to_contain_text("Reset page-reset?")
    # The default point is the last task that left the run open: the one that scheduled
    # the activity (event 4), not the one that completed the workflow.
    await expect(dialog.get_by_label("Reset to event")).to_have_value("4")
    await expect(dialog.locator("#reset-event option")).to_have_count(3)
    await dialog.get_by_label("Reason").fill("greet again")
    await dialog.get_by_role("button", name="Reset", exact=True).click()

    await expect(page.locator(".reset-from")).to_contain_text(f"{old} at event 4: greet again")
    new = page.url.rsplit("/", 1)[-1]
    assert new != old
    desc = await console.client.get_workflow_handle("page-reset", run_id=new).describe()
    assert desc.reset_from_run_id == old and desc.reset_reason == "greet again"
    await expect(page.locator(".badge").first).to_have_text("COMPLETED")
    await page.locator(".reset-from a").click()
    summary = page.locator("dl.summary")
    await expect(summary.locator("dt:text-is('Reset to') + dd a")).to_have_text(new)


async def test_a_refused_reset_point_shows_the_servers_reason(console: Console,
                                                               page: Page) -> None:
    handle = await console.client.start_workflow(Approval.run, "o-10", id="page-reset-bad",
                                                 task_queue=console.queue)
    await page.goto(run_page(console, "page-reset-bad"))
    await expect(page.locator("ol.events > li")).to_have_count(4)
    # The point's options come from the history; one that is not a reset point is refused.
    await page.get_by_role("button", name="Reset…").click()
    dialog = page.locator("dialog.confirm")
    await dialog.locator("#reset-event").evaluate(
        "s => { s.add(new Option('3', '3')); s.value = '3'; }")
    await dialog.get_by_role("button", name="Reset", exact=True).click()
    await expect(page.locator(".notice.error").first).to_contain_text(
        "cannot reset to event 3")
    assert (await handle.describe()).status == "RUNNING"
    await handle.terminate()


async def test_delete_from_the_page_removes_the_run(console: Console, page: Page) -> None:
    handle = await console.client.start_workflow(Approval.run, "o-11", id="page-delete",
                                                 task_queue=console.queue)
    await page.goto(run_page(console, "page-delete"))
    await expect(page.locator(".badge").first).to_have_text("RUNNING")
    await page.get_by_role("button", name="Delete…").click()
    dialog = page.locator("dialog.confirm")
    await expect(dialog).to_contain_text("cannot be undone")
    await dialog.get_by_role("button", name="Delete", exact=True).click()
    await page.wait_for_url("**/namespaces/default/workflows")
    with pytest.raises(WorkflowNotFoundError):
        await handle.describe()
