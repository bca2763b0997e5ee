"""The Grafana dashboard and Prometheus alert rules shipped in ``deploy/``, read the way
their tests check them: every PromQL expression, and the series and labels it names.

This is not a PromQL parser: it finds ``plait_*`` names, label matchers (``{label=...}``)
and grouping lists (``by``, ``without``, ``on``, ``ignoring``), which is all the shipped
expressions use to name what they read.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.core import GaugeMetricFamily

from plait.server import metrics
from plait.server.series import CounterSeries, HistogramSeries

__all__ = [
    "ALERTS",
    "DASHBOARD",
    "NO_NAMESPACE",
    "SCRAPE_LABELS",
    "Expr",
    "alert_rules",
    "check_expression",
    "dashboard",
    "declared",
    "expressions",
    "samples_of",
]

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "deploy" / "grafana" / "plait-dashboard.json"
ALERTS = ROOT / "deploy" / "prometheus" / "plait-alerts.yml"

SCRAPE_LABELS = frozenset({"instance", "job", "le"})
"""Labels an expression may use that no server exports: Prometheus adds the target's
``instance`` and ``job``; ``le`` is every histogram bucket's."""

NO_NAMESPACE = frozenset({"plait_store_transaction_seconds"})
"""The one series without a ``namespace`` label (a transaction may touch several)."""

_NAME = re.compile(r"\bplait_[a-zA-Z0-9_]+\b")
_MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*\"")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)")
_HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


@dataclasses.dataclass(frozen=True)
class Expr:
    where: str
    """Which panel or alert, for a failing test's message."""
    text: str

    @property
    def names(self) -> set[str]:
        """The sample names the expression reads (``plait_x_bucket``, ``plait_y_total``)."""
        return set(_NAME.findall(self.text))

    @property
    def labels(self) -> set[str]:
        found = set(_MATCHER.findall(self.text))
        for group in _GROUPING.findall(self.text):
            found.update(label.strip() for label in group.split(",") if label.strip())
        return found


def samples_of(family: str, kind: str) -> list[str]:
    """The sample names a family of this type is read through: a counter's ``_total``, a
    histogram's buckets, sum and count, a gauge's own name."""
    if kind == "counter":
        return [f"{family}_total"]
    if kind == "histogram":
        return [family + suffix for suffix in _HISTOGRAM_SUFFIXES]
    return [family]


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())  # type: ignore[no-any-return]


def alert_rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(ALERTS.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def _panels(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for p in panels:
        out.append(p)
        out.extend(_panels(p.get("panels", [])))
    return out


def expressions() -> list[Expr]:
    """Every PromQL expression of the dashboard (panels and template queries) and alerts."""
    dash = dashboard()
    out = [
        Expr(f"panel {p['title']!r}", t["expr"])
        for p in _panels(dash["panels"])
        for t in p.get("targets", [])
    ]
    out += [
        Expr(f"variable {v['name']!r}", v["definition"])
        for v in dash["templating"]["list"]
        if v["type"] == "query"
    ]
    out += [Expr(f"alert {r['alert']!r}", r["expr"]) for r in alert_rules()]
    return out


def declared() -> dict[str, set[str]]:
    """Sample name -> label names, from the server's metric objects and its scrape-time
    gauges (whose families are built in ``ScrapeGauges.collect``)."""
    out: dict[str, set[str]] = {}
    for name in metrics.__all__:
        obj = getattr(metrics, name)
        if isinstance(obj, CounterSeries | HistogramSeries):
            for family in obj.describe():
                for sample in samples_of(family.name, family.type):
                    out[sample] = set(obj.labelnames)
    gauges = metrics.ScrapeGauges.__new__(metrics.ScrapeGauges)
    gauges._snapshot = metrics._Snapshot([], [], [])
    for family in gauges.collect():
        assert isinstance(family, GaugeMetricFamily)
        out[family.name] = set(family._labelnames)
    return out


def check_expression(e: Expr, series: dict[str, set[str]]) -> None:
    """Every sample ``e`` reads is one of ``series`` (sample name -> label names), and every
    label it names is on one of them (or is Prometheus's own)."""
    assert e.names, e
    labels: set[str] = set()
    for name in e.names:
        assert name in series, f"{e.where}: {name} is not a series the server exports"
        labels |= series[name]
    unknown = e.labels - labels - SCRAPE_LABELS
    assert not unknown, f"{e.where}: labels {unknown} are on none of {sorted(e.names)}"
