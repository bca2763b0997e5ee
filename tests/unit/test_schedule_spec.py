"""Schedule due times: cron in DST zones, intervals with an offset, bounds, jitter, errors."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from plait.server.schedule_spec import Spec, SpecError, jitter_of, workflow_id_for


def ts(text: str) -> float:
    return dt.datetime.fromisoformat(text).timestamp()


def utc(values: list[float]) -> list[str]:
    return [dt.datetime.fromtimestamp(v, dt.UTC).strftime("%m-%dT%H:%M:%S") for v in values]


def test_daily_cron_in_utc() -> None:
    spec = Spec(cron="0 3 * * *")
    assert utc(spec.times(ts("2026-01-01T03:00:00+00:00"), 3)) == [
        "01-02T03:00:00", "01-03T03:00:00", "01-04T03:00:00"]


def test_cron_in_the_skipped_hour_runs_once_right_after_the_jump() -> None:
    # Berlin skips 02:00-03:00 on 2026-03-29: 02:30 does not exist that day
    spec = Spec(cron="30 2 * * *", timezone="Europe/Berlin")
    assert utc(spec.times(ts("2026-03-28T00:00:00+00:00"), 3)) == [
        "03-28T01:30:00",  # 02:30 CET
        "03-29T01:00:00",  # 03:00 CEST, the first minute after the gap
        "03-30T00:30:00",  # 02:30 CEST
    ]


def test_cron_in_the_repeated_hour_runs_once() -> None:
    # Berlin repeats 02:00-03:00 on 2026-10-25: 02:30 CEST, then 02:30 CET
    spec = Spec(cron="30 2 * * *", timezone="Europe/Berlin")
    assert utc(spec.times(ts("2026-10-24T12:00:00+00:00"), 2)) == [
        "10-25T00:30:00", "10-26T01:30:00"]


def test_frequent_cron_keeps_real_time_spacing_across_fall_back() -> None:
    spec = Spec(cron="0,30 * * * *", timezone="America/New_York")
    got = spec.times(ts("2026-11-01T04:45:00+00:00"), 5)
    assert [b - a for a, b in itertools.pairwise(got)] == [1800.0] * 4


def test_six_fields_have_seconds_first() -> None:
    spec = Spec(cron="*/20 * * * * *")
    assert utc(spec.times(ts("2026-01-01T00:00:05+00:00"), 3)) == [
        "01-01T00:00:20", "01-01T00:00:40", "01-01T00:01:00"]


def test_interval_is_aligned_to_the_epoch_plus_offset() -> None:
    spec = Spec(interval=3600, offset=900)
    assert utc(spec.times(ts("2026-01-01T10:20:00+00:00"), 2)) == [
        "01-01T11:15:00", "01-01T12:15:00"]
    assert spec.next_after(ts("2026-01-01T11:14:59.5+00:00")) == ts("2026-01-01T11:15:00+00:00")


def test_bounds() -> None:
    spec = Spec(interval=60, start_at=ts("2026-01-01T00:10:00+00:00"),
                end_at=ts("2026-01-01T00:12:00+00:00"))
    assert utc(spec.times(ts("2026-01-01T00:00:00+00:00"), 10)) == [
        "01-01T00:10:00", "01-01T00:11:00", "01-01T00:12:00"]
    assert spec.next_after(ts("2026-01-01T00:12:00+00:00")) is None


def test_between_is_half_open_and_limited() -> None:
    spec = Spec(interval=60)
    start, end = ts("2026-01-01T00:00:00+00:00"), ts("2026-01-01T00:05:00+00:00")
    assert utc(spec.between(start, end, 100)) == [
        "01-01T00:00:00", "01-01T00:01:00", "01-01T00:02:00", "01-01T00:03:00",
        "01-01T00:04:00"]
    assert len(spec.between(start, end, 2)) == 2


@pytest.mark.parametrize(("kwargs", "named"), [
    ({"cron": "61 * * * *"}, "minute"),
    ({"cron": "* 24 * * *"}, "hour"),
    ({"cron": "* * 32 * *"}, "day-of-month"),
    ({"cron": "* * * 13 *"}, "month"),
    ({"cron": "* * * * 8"}, "day-of-week"),
    ({"cron": "* * * *"}, "fields"),
    ({"cron": "0 3 * * *", "timezone": "Mars/Olympus"}, "timezone"),
    ({"interval": 0.5}, "interval"),
    ({"interval": 1e300}, "interval"),
    ({"interval": 60, "start_at": 1e20}, "start_at"),
    ({"cron": "* * * * *", "end_at": -1.0}, "end_at"),
    ({"interval": 60, "offset": 60}, "offset"),
    ({}, "exactly one"),
    ({"cron": "* * * * *", "interval": 60}, "exactly one"),
    ({"interval": 60, "start_at": 10.0, "end_at": 5.0}, "end_at"),
])
def test_invalid_specs_name_the_bad_field(kwargs: dict[str, object], named: str) -> None:
    with pytest.raises(SpecError, match=named):
        Spec(**kwargs)  # type: ignore[arg-type]


def test_jitter_is_the_same_everywhere_and_within_bounds() -> None:
    a = jitter_of("s", 1000.0, 30.0)
    assert a == jitter_of("s", 1000.0, 30.0)
    assert 0 <= a < 30
    assert jitter_of("s", 1000.0, 0.0) == 0.0
    assert len({jitter_of("s", float(t), 30.0) for t in range(50)}) > 40


def test_workflow_id_carries_the_scheduled_time_in_utc() -> None:
    assert workflow_id_for("nightly", ts("2026-03-01T03:00:00+01:00")) == \
        "nightly-2026-03-01T02:00:00Z"
