"""W6 for DBOS (dbos venv): fill ``workflow_status`` with copies of real rows, then time
DBOS's own list calls.

Running 100,000 workflows to fill the table would take longer than the rest of the benchmark,
so the three template workflows are real (run by ``dbos_app w6``) and the other rows are
copies of theirs made with one ``INSERT ... SELECT`` (new ``workflow_uuid``, times spread
back in time; every other column as in the template). Only ``workflow_status`` is copied,
which is the table DBOS's ``list_workflows`` reads; the copies' steps are not.

DBOS has no count call: "count" is ``len(DBOS.list_workflows(..., load_input=False,
load_output=False))``, which is how a DBOS application counts (it reads every matching row).
"""

from __future__ import annotations

import time
from typing import Any

from dbos import DBOS

from bench.peers import driver


def _columns(conn: Any, pg: bool) -> list[str]:
    if pg:
        rows = conn.execute("SELECT column_name FROM information_schema.columns WHERE "
                            "table_schema = 'dbos' AND table_name = 'workflow_status' "
                            "ORDER BY ordinal_position").fetchall()
    else:
        rows = [(r[1],) for r in conn.execute("PRAGMA table_info(workflow_status)")]
    return [r[0] for r in rows]


def _fill_sql(cols: list[str], ids: dict[str, str], n: int, pg: bool) -> str:
    table = "dbos.workflow_status" if pg else "workflow_status"
    shifted = {"created_at", "updated_at", "started_at_epoch_ms", "completed_at"}
    exprs = []
    for c in cols:
        if c == "workflow_uuid":
            exprs.append("'w6-' || k")
        elif c in shifted:
            exprs.append(f"t.{c} - ({n} - k) * 10")  # 10 ms apart, older than the templates
        else:
            exprs.append(f"t.{c}")
    seq = (f"(SELECT generate_series(0, {n - 1}) AS k) s" if pg else
           f"(WITH RECURSIVE q(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM q WHERE k < {n - 1})"
           " SELECT k FROM q) s")
    return (f"INSERT INTO {table} ({', '.join(cols)}) SELECT {', '.join(exprs)} FROM {seq} "
            f"JOIN {table} t ON t.workflow_uuid = {driver.w6_template_sql(ids)}")


def fill(url: str, ids: dict[str, str], n: int) -> float:
    """Copy the templates' rows ``n`` times; returns the seconds it took."""
    pg = url.startswith("postgres")
    t = time.perf_counter()
    if pg:
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(_fill_sql(_columns(conn, True), ids, n, True))  # type: ignore[arg-type]
    else:
        import sqlite3

        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        with conn:
            conn.execute(_fill_sql(_columns(conn, False), ids, n, False))
        conn.close()
    return time.perf_counter() - t


def fill_and_time(url: str, ids: dict[str, str], n: int, page: int, repeat: int
                  ) -> dict[str, Any]:
    fill_s = fill(url, ids, n)
    names = {k: v["name"] for k, v in _names(ids).items()}
    exp = driver.w6_expected(n)
    total = n + len(ids)
    ops: dict[str, tuple[Any, Any]] = {
        "list first page": (lambda: DBOS.list_workflows(limit=page, sort_desc=True), page),
        "list first page, type=IdleOnSignal": (lambda: DBOS.list_workflows(
            name=names["IdleOnSignal"], limit=page, sort_desc=True), page),
        "list first page, status=running": (lambda: DBOS.list_workflows(
            status="PENDING", limit=page, sort_desc=True), page),
        "list first page, type=ThreeSteps and status=completed": (lambda: DBOS.list_workflows(
            name=names["ThreeSteps"], status="SUCCESS", limit=page, sort_desc=True), page),
        "count all": (lambda: len(DBOS.list_workflows(load_input=False, load_output=False)),
                      total),
        "count type=IdleOnSignal": (lambda: len(DBOS.list_workflows(
            name=names["IdleOnSignal"], load_input=False, load_output=False)),
            exp["IdleOnSignal"] + 1),
        "count status=running": (lambda: len(DBOS.list_workflows(
            status="PENDING", load_input=False, load_output=False)), exp["IdleOnSignal"] + 1),
    }
    out: dict[str, Any] = {"fill_s": fill_s, "ops": {}, "errors": []}
    for label, (fn, want) in ops.items():
        timing, value = driver.time_op(fn, repeat)
        got = value if isinstance(value, int) else len(value)
        if got != want:
            out["errors"].append(f"{label}: got {got}, expected {want}")
        out["ops"][label] = timing
    return out


def _names(ids: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The templates' recorded workflow names (what ``name=`` filters on)."""
    out = {}
    for kind, wid in ids.items():
        status = DBOS.get_workflow_status(wid)
        assert status is not None
        out[kind] = {"name": status.name}
    return out
