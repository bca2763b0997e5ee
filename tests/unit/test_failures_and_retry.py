"""Failures cross the wire with their cause chain; retry policies compute backoff."""

from __future__ import annotations

from datetime import timedelta

import pytest

from plait import RetryPolicy
from plait.errors import ActivityError, ApplicationError, TimeoutError
from plait.protocol.failure import from_exception, to_exception


def test_activity_error_chain_roundtrip() -> None:
    inner = ApplicationError("rate limited", {"retry_after": 3}, type="RateLimited")
    err = ActivityError(cause=TimeoutError("slow", timeout_type="start_to_close",
                                           last_failure=inner),
                        activity_type="send", activity_id="7", retry_state="maximum_attempts")
    back = to_exception(from_exception(err))
    assert isinstance(back, ActivityError) and back.activity_type == "send"
    assert back.retry_state == "maximum_attempts"
    assert isinstance(back.cause, TimeoutError) and back.cause.timeout_type == "start_to_close"
    last = back.cause.last_failure
    assert isinstance(last, ApplicationError) and last.type == "RateLimited"
    assert last.details == ({"retry_after": 3},)


def test_plain_exception_becomes_application_error_named_by_class() -> None:
    back = to_exception(from_exception(KeyError("x")))
    assert isinstance(back, ApplicationError) and back.type == "KeyError"
    assert "KeyError" in back.stack_trace


def test_str_is_readable() -> None:
    assert str(ApplicationError("boom", type="Payment")) == "Payment: boom"
    assert "send" in str(ActivityError(cause=ApplicationError("x"), activity_type="send"))


def test_backoff() -> None:
    p = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                    maximum_interval=timedelta(seconds=5))
    assert [p.backoff(a) for a in (1, 2, 3, 4, 5)] == [1, 2, 4, 5, 5]
    assert RetryPolicy().backoff(20) == 100.0  # default cap: 100 x initial


def test_allows_another() -> None:
    p = RetryPolicy(maximum_attempts=3, non_retryable_error_types=["Invalid"])
    assert p.allows_another(1, "Boom", False)
    assert not p.allows_another(3, "Boom", False)
    assert not p.allows_another(1, "Invalid", False)
    assert not p.allows_another(1, "Boom", True)
    assert RetryPolicy().allows_another(10_000, "Boom", False)


def test_policy_validation_and_dict_roundtrip() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(backoff_coefficient=0.5)
    p = RetryPolicy(maximum_attempts=4, maximum_interval=timedelta(seconds=9),
                    non_retryable_error_types=("A",))
    assert RetryPolicy.from_dict(p.to_dict()) == p
