"""Pin the public names, so nothing leaks into (or out of) the API by accident."""

from __future__ import annotations

import enum
import subprocess
import sys

import pytest

import plait
from plait import (
    activity,
    client,
    codec,
    common,
    converter,
    errors,
    history,
    interceptor,
    retry,
    testing,
    worker,
    workflow,
)
from plait.contrib import pydantic


def test_package_exports() -> None:
    assert sorted(plait.__all__) == ["Client", "History", "RetryPolicy", "Worker", "activity",
                                     "workflow"]


def test_module_exports() -> None:
    assert set(errors.__all__) == {
        "PlaitError", "ApplicationError", "ActivityError", "ChildWorkflowError",
        "WorkflowFailureError", "WorkflowAlreadyStartedError", "WorkflowNotFoundError",
        "NonDeterminismError", "TimeoutError", "CancelledError", "TerminatedError",
        "UpdateFailedError", "ScheduleAlreadyExistsError", "ScheduleNotFoundError",
        "RPCError", "FailureError", "ApplicationErrorCategory", "NamespaceNotFoundError",
        "UnauthenticatedError", "PermissionDeniedError", "PayloadCodecError",
        "PayloadTooLargeError"}
    assert set(workflow.__all__) == {
        "defn", "run", "signal", "query", "update", "info", "now", "random", "uuid4", "sleep",
        "wait_condition", "logger", "execute_activity", "start_activity",
        "set_signal_handler", "set_dynamic_signal_handler", "start_child_workflow",
        "execute_child_workflow", "get_external_workflow_handle", "continue_as_new",
        "patched", "deprecate_patch", "upsert_search_attributes",
        "ChildWorkflowHandle", "ExternalWorkflowHandle",
        # Temporal's spellings (issue 18, docs/from-temporal.md)
        "ActivityCancellationType", "HandlerUnfinishedPolicy", "ParentClosePolicy",
        "all_handlers_finished", "execute_activity_method", "start_activity_method", "time",
        "unsafe", "wait",
        # local activities (issue 18)
        "execute_local_activity", "start_local_activity", "execute_local_activity_method",
        "start_local_activity_method"}
    assert set(activity.__all__) == {"ActivityInfo", "CompleteAsync", "defn", "heartbeat",
                                     "info", "is_cancelled", "logger", "raise_complete_async"}
    assert set(testing.__all__) == {"ActivityEnvironment", "Replayer", "WorkflowEnvironment"}
    assert worker.__all__ == ["UnsandboxedWorkflowRunner", "Worker"]
    assert set(client.__all__) == {
        "ActivityAttempt", "AsyncActivityHandle", "Client", "PendingActivity", "TaskFailure",
        "NamespaceDescription", "BatchDescription", "BatchHandle",
        "WorkflowExecution", "WorkflowExecutionDescription", "WorkflowHandle",
        "ScheduleAction", "ScheduleDescription", "ScheduleHandle", "ScheduleListEntry",
        # Temporal's spellings (issue 18, docs/from-temporal.md)
        "WorkflowExecutionStatus", "WorkflowFailureError", "WorkflowUpdateFailedError",
        "WorkflowUpdateHandle", "WorkflowUpdateStage"}
    assert history.__all__ == ["History", "HistoryEvent"]
    assert set(codec.__all__) == {"AESGCMCodec", "PayloadCodec", "ZlibCodec", "chain",
                                  "payload_bytes", "payload_from_bytes"}
    assert set(interceptor.__all__) == {
        "Interceptor", "ClientInterceptor", "WorkerInterceptor",
        "ClientOutboundInterceptor", "StartWorkflowInput", "SignalWorkflowInput",
        "QueryWorkflowInput", "StartWorkflowUpdateInput",
        "ActivityInboundInterceptor", "ExecuteActivityInput",
        "WorkflowInboundInterceptor", "WorkflowOutboundInterceptor",
        "WorkflowInterceptorClassInput", "ExecuteWorkflowInput", "HandleSignalInput",
        "HandleUpdateInput", "HandleQueryInput", "StartActivityInput", "StartChildWorkflowInput",
        "StartLocalActivityInput"}
    assert retry.__all__ == ["RetryPolicy"]
    assert pydantic.__all__ == ["pydantic_data_converter"]
    assert common.__all__ == ["RetryPolicy", "WorkflowIDConflictPolicy", "WorkflowIDReusePolicy"]
    assert set(converter.__all__) == {
        "DataConverter", "DefaultPayloadConverter", "check_data_converter", "default",
        "PayloadConverter", "EncodingPayloadConverter", "CompositePayloadConverter",
        "JSONPlainPayloadConverter", "JSONTypeConverter"}
    from plait.api.common import v1

    assert v1.__all__ == ["Payload"]
    for module in (errors, workflow, activity, testing, worker, client, common, converter,
                   history, retry, pydantic, interceptor):
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"


def test_every_error_is_a_plait_error() -> None:
    # ApplicationErrorCategory is the one name that is not an error: Temporal keeps its
    # enum beside the errors (temporalio.exceptions), and so code imports it from here.
    for name in errors.__all__:
        if name == "ApplicationErrorCategory":
            assert issubclass(errors.ApplicationErrorCategory, enum.Enum)
            continue
        assert issubclass(getattr(errors, name), errors.PlaitError)


def test_the_server_imports_no_client_worker_or_workflow_runtime() -> None:
    """``plait``'s public names are imported on first use, so the server (which needs none
    of them) starts without them: about 0.35 s less from launch to ready."""
    code = ("import sys, plait.server.app; print(sorted(m for m in ('plait.client', "
            "'plait.worker', 'plait.workflow', 'plait.runtime.instance') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_public_names_are_there_on_first_use() -> None:
    assert plait.Client is client.Client and plait.Worker is worker.Worker
    assert plait.workflow is workflow and plait.activity is activity
    assert {"Client", "Worker", "workflow"} <= set(dir(plait))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = plait.nope  # type: ignore[attr-defined]
