"""The Grafana dashboard and Prometheus alerts in ``deploy/``: well formed, and built only on
series the server declares (``tests/integration/test_deploy_rules_scrape.py`` checks them
against a real server's ``/metrics``)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from prometheus_client import REGISTRY

from tests.deploy_rules import (
    ALERTS,
    NO_NAMESPACE,
    Expr,
    alert_rules,
    check_expression,
    dashboard,
    declared,
    expressions,
)


def test_the_dashboard_is_grafana_json_with_a_namespace_variable() -> None:
    dash = dashboard()
    assert dash["title"] and dash["uid"] and dash["schemaVersion"] >= 30
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["namespace"]["type"] == "query"
    assert variables["namespace"]["multi"] and variables["namespace"]["includeAll"]
    assert variables["datasource"]["type"] == "datasource"
    graphs = [p for p in dash["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in dash["panels"]}) == len(dash["panels"])
    for p in graphs:
        assert p["title"] and p["description"] and p["targets"], p["title"]
        assert p["datasource"]["uid"] == "${datasource}"
        assert {"h", "w", "x", "y"} <= set(p["gridPos"]) and p["gridPos"]["x"] + p["gridPos"][
            "w"
        ] <= 24


@pytest.mark.parametrize(
    "series",
    [
        "plait_workflows_started_total",
        "plait_workflows_closed_total",
        "plait_workflows_open",
        "plait_workflow_duration_seconds_bucket",
        "plait_activity_attempts_total",
        "plait_activity_retries_total",
        "plait_activity_schedule_to_start_seconds_bucket",
        "plait_activity_execution_seconds_bucket",
        "plait_task_queue_backlog",
        "plait_task_queue_pollers",
        "plait_workflow_task_failures_total",
        "plait_rate_limit_waits_total",
        "plait_timer_lateness_seconds_bucket",
        "plait_store_transaction_seconds_bucket",
    ],
)
def test_the_dashboard_has_a_panel_on_each_series(series: str) -> None:
    assert any(series in e.names for e in expressions() if e.where.startswith("panel"))


def test_every_panel_follows_the_namespace_variable() -> None:
    for e in expressions():
        if e.where.startswith("panel") and not e.names <= {f"{s}_bucket" for s in NO_NAMESPACE}:
            assert e.text.count('namespace=~"$namespace"') == len(
                re.findall(r"\bplait_\w+\{", e.text)
            ), e


def test_the_alerts_parse_as_prometheus_rules() -> None:
    rules = alert_rules()
    names = [r["alert"] for r in rules]
    assert len(set(names)) == len(names)
    assert {
        "PlaitNoPollersOnBacklog",
        "PlaitTaskQueueBacklogGrowing",
        "PlaitWorkflowTaskFailures",
        "PlaitScheduleToStartLatencyHigh",
        "PlaitStoreTransactionSlow",
        "PlaitActivityFailureRatioHigh",
    } <= set(names)
    for r in rules:
        assert set(r) == {"alert", "expr", "for", "labels", "annotations"}, r["alert"]
        assert re.fullmatch(r"\d+[smh]", r["for"]), r["alert"]
        assert r["labels"]["severity"] in ("page", "warning")
        assert r["annotations"]["summary"] and r["annotations"]["description"]
        assert r["expr"].count("(") == r["expr"].count(")"), r["alert"]


def test_every_expression_reads_only_declared_series_and_labels() -> None:
    series = declared()
    for e in expressions():
        check_expression(e, series)


def test_check_expression_refuses_unknown_series_and_labels() -> None:
    series = {"plait_a_bucket": {"x", "namespace"}, "plait_a": {"x"}}
    check_expression(Expr("ok", 'sum by (x, le) (rate(plait_a_bucket{namespace="n"}[5m]))'), series)
    with pytest.raises(AssertionError, match="not a series"):
        check_expression(Expr("bad", "rate(plait_b_total[5m])"), series)
    with pytest.raises(AssertionError, match="not a series"):
        check_expression(Expr("bad", "rate(plait_a_total[5m])"), series)
    with pytest.raises(AssertionError, match="labels"):
        check_expression(Expr("bad", "sum by (y) (plait_a)"), series)
    with pytest.raises(AssertionError, match="labels"):
        check_expression(Expr("bad", 'plait_a{z="1"}'), series)


def test_the_global_registry_holds_the_server_counters() -> None:
    """``declared()`` reads the objects ``/metrics`` serves from the default registry."""
    names = {m.name for m in REGISTRY.collect()}
    assert {"plait_workflows_started", "plait_store_transaction_seconds"} <= names


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_accepts_the_alert_rules() -> None:
    proc = subprocess.run(
        ["promtool", "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
