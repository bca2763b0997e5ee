"""The pieces of batch jobs: which status a job really filters on, how big a page is, and
the client's keywords as the wire's request."""

from __future__ import annotations

import datetime as dt

import pytest

from plait._batches import start_request
from plait.protocol.batches import ResetOptions, acted_on_status
from plait.protocol.enums import BatchOperation
from plait.server.batches import MAX_PAGE, page_size


def test_running_only_operations_filter_on_running() -> None:
    for op in (BatchOperation.TERMINATE, BatchOperation.CANCEL, BatchOperation.SIGNAL):
        assert acted_on_status(op, None) == "RUNNING"
        assert acted_on_status(op, "RUNNING") == "RUNNING"
        with pytest.raises(ValueError, match="RUNNING runs only"):
            acted_on_status(op, "COMPLETED")
    assert acted_on_status(BatchOperation.RESET, None) is None
    assert acted_on_status(BatchOperation.RESET, "FAILED") == "FAILED"


def test_a_page_is_a_quarter_second_of_the_rate() -> None:
    assert page_size(0.01) == 1
    assert page_size(50) == 12
    assert page_size(10_000) == MAX_PAGE


def _request(**kw: object) -> object:
    args: dict[str, object] = dict(
        workflow_type=None,
        status=None,
        search_attributes=None,
        started_after=None,
        started_before=None,
        reason="",
        signal=None,
        args=(),
        reset_to=None,
        reapply_signals=True,
        rate_per_second=None,
    )
    args.update(kw)
    return start_request("reset", **args)  # type: ignore[arg-type]


def test_client_keywords_on_the_wire() -> None:
    after = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    req = start_request(
        "signal",
        workflow_type="Order",
        status="RUNNING",
        search_attributes={"tier": 3},
        started_after=after,
        started_before=None,
        reason="r",
        signal="approve",
        args=["ops", 2],
        reset_to=None,
        reapply_signals=True,
        rate_per_second=5.0,
    )
    assert req.operation is BatchOperation.SIGNAL and req.signal_name == "approve"
    assert req.filter.workflow_type == "Order" and req.filter.status == "RUNNING"
    assert req.filter.search_attributes == {"tier": 3}
    assert req.filter.started_after == after.timestamp() and req.filter.started_before is None
    assert req.input == [{"encoding": "json", "data": "ops"}, {"encoding": "json", "data": 2}]
    assert req.rate_per_second == 5.0 and req.request_id
    assert _request(reset_to=7).reset == ResetOptions(event_id=7)  # type: ignore[attr-defined]
    assert _request(reset_to="last_workflow_task", reapply_signals=False).reset == ResetOptions(
        to="last_workflow_task", reapply_signals=False
    )  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="reset_to"):
        _request(reset_to="middle")
    with pytest.raises(ValueError, match="aware"):
        _request(started_before=dt.datetime(2026, 1, 1))
