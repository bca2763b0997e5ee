"""Temporal's spellings that plait accepts (each means what plait's own does), and the
clear errors where plait is deliberately different."""

from __future__ import annotations

import dataclasses
import datetime as dt
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import pytest

from plait import activity, errors, workflow
from plait.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowUpdateFailedError,
    WorkflowUpdateStage,
    _id_policies,
)
from plait.common import RetryPolicy, WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from plait.contrib.pydantic import pydantic_data_converter
from plait.converter import DataConverter, check_data_converter
from plait.protocol.transport import MockTransport
from plait.testing import ActivityEnvironment, WorkflowEnvironment
from plait.worker import UnsandboxedWorkflowRunner, Worker


@workflow.defn(sandboxed=False)
class Noop:
    @workflow.run
    async def run(self) -> None: ...


def test_policy_enums_are_plaits_strings() -> None:
    assert WorkflowIDReusePolicy.REJECT_DUPLICATE == "reject_duplicate"
    assert WorkflowIDConflictPolicy.USE_EXISTING == "use_existing"
    assert workflow.ParentClosePolicy.REQUEST_CANCEL == "request_cancel"
    assert workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED == (
        "wait_cancellation_completed")
    assert WorkflowExecutionStatus.CONTINUED_AS_NEW == "CONTINUED_AS_NEW"
    assert WorkflowUpdateStage("accepted") is WorkflowUpdateStage.ACCEPTED
    assert RetryPolicy is __import__("plait").RetryPolicy


def test_terminate_if_running_is_the_terminate_existing_conflict_policy() -> None:
    assert _id_policies("terminate_if_running", "fail") == ("allow_duplicate",
                                                            "terminate_existing")
    assert _id_policies("reject_duplicate", "use_existing") == ("reject_duplicate",
                                                                "use_existing")


def test_error_names_where_temporal_imports_them() -> None:
    assert WorkflowFailureError is errors.WorkflowFailureError
    assert WorkflowUpdateFailedError is errors.UpdateFailedError
    err = errors.ApplicationError("busy", category=errors.ApplicationErrorCategory.BENIGN)
    assert err.category == "benign"
    assert errors.ApplicationError("x").category is errors.ApplicationErrorCategory.UNSPECIFIED
    with pytest.raises(ValueError):
        errors.ApplicationError("x", category="loud")


def test_unsafe_is_a_set_of_no_ops() -> None:
    with workflow.unsafe.imports_passed_through():
        import json  # noqa: F401
    with workflow.unsafe.sandbox_unrestricted():
        pass
    assert not workflow.unsafe.in_sandbox() and not workflow.unsafe.is_replaying()


def test_local_activities_are_there_and_unknown_names_still_fail() -> None:
    # Local activities exist now (tests/integration/test_local_activities.py).
    for name in ("execute_local_activity", "start_local_activity",
                 "execute_local_activity_method", "start_local_activity_method"):
        assert callable(getattr(workflow, name))
    with pytest.raises(AttributeError, match="has no attribute 'no_such_thing'"):
        workflow.no_such_thing  # noqa: B018


def test_handler_policies_are_accepted_and_checked() -> None:
    @workflow.update(unfinished_policy=workflow.HandlerUnfinishedPolicy.ABANDON)
    def u(self: object) -> None: ...

    @workflow.signal(unfinished_policy="warn_and_abandon")
    def s(self: object) -> None: ...

    with pytest.raises(ValueError):
        workflow.signal(unfinished_policy="ignore")


def test_data_converters_that_mean_plaits_json_are_accepted() -> None:
    check_data_converter(DataConverter.default)
    check_data_converter(pydantic_data_converter)
    check_data_converter(DataConverter())


@pytest.mark.parametrize(("converter", "says"), [
    (dataclasses.replace(DataConverter.default, payload_codec=object()),
     "not a plait.codec.PayloadCodec"),
    (DataConverter(payload_converter_class=dict), "remove data_converter="),
    (DataConverter(failure_converter_class=dict), "failure_converter_class"),
    ("json", "not a plait.converter.DataConverter"),
])
async def test_other_data_converters_say_what_to_write_instead(converter: object,
                                                               says: str) -> None:
    with pytest.raises(ValueError, match=says):
        await Client.connect("http://127.0.0.1:1", data_converter=converter)


def test_worker_options_from_temporal() -> None:
    client = Client(MockTransport(lambda request: None))  # type: ignore[arg-type,return-value]
    with ThreadPoolExecutor(1) as pool:
        Worker(client, task_queue="q", workflows=[Noop], activity_executor=pool,
               workflow_runner=UnsandboxedWorkflowRunner(), debug_mode=True)
    with ProcessPoolExecutor(1) as procs, pytest.raises(ValueError, match="ThreadPoolExecutor"):
        Worker(client, task_queue="q", workflows=[Noop], activity_executor=procs)
    with pytest.raises(ValueError, match="no sandbox"):
        Worker(client, task_queue="q", workflows=[Noop],
               workflow_runner=object())  # type: ignore[arg-type]


async def test_a_cancelled_sync_activity_hears_it_at_its_heartbeat() -> None:
    beats: list[int] = []

    @activity.defn
    def work() -> str:
        for i in range(1000):
            activity.heartbeat(i)
            beats.append(i)
            if i == 2:
                env.cancel()
        return "never"

    env = ActivityEnvironment()
    with pytest.raises(errors.CancelledError):
        await env.run(work)
    assert beats == [0, 1, 2]


async def test_an_async_activitys_heartbeat_does_not_raise() -> None:
    @activity.defn
    async def work() -> bool:
        env.cancel()
        activity.heartbeat()
        return activity.is_cancelled()

    env = ActivityEnvironment()
    assert await env.run(work) is True


async def test_environment_awaited_and_its_time_awaited() -> None:
    env = await WorkflowEnvironment.start_time_skipping()
    try:
        now = await env.get_current_time()
        assert isinstance(now, dt.datetime) and now.tzinfo is not None
        assert env.get_current_time() >= now  # the plain call still works
    finally:
        await env.shutdown()
    async with await WorkflowEnvironment.start_local() as again:
        assert await again.client.count_workflows() == 0
