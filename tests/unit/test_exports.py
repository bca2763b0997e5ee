"""Pin the public names, so nothing leaks into (or out of) the API by accident."""

from __future__ import annotations

import enum

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
