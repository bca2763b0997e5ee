"""R, W5, W6 and W7 inside ``python -m bench compare --only R,W5,W6,W7``.

These run one workflow (R, W5) or fill and probe one store (W6, W7) per engine and
repetition, so they have their own loop and report, beside W1-W4's: engines alternate within
each repetition (R: plait, Temporal, ..., then the next variant), every run starts fresh
processes and storage, and a run with a wrong result is failed and left out of the medians.
Results go to ``bench/results/recovery.{md,json}`` (R) and ``growth.{md,json}`` (W5-W7) for
a full run, or ``bench/out/`` for quick and partial ones.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
from pathlib import Path
from typing import Any

from bench import core, growth, listing, recovery
from bench.engines import ENGINES, LABELS
from bench.procs import ROOT
from bench.progress import log
from bench.quiet import wait_quiet

NAMES = ("R", "W5", "W6", "W7")
APPLIES = {"R": set(ENGINES), "W5": set(ENGINES),
           "W6": {"plait", "dbos-sqlite", "dbos-pg"}, "W7": {"plait"}}
TARGETS = {
    "R": "0 re-runs; result at most 0.5 s beyond the work left, whatever start_to_close is",
    "W5": "flat: per-step time of the last tenth at most 1.2x the first tenth",
    "W6": "none set; list and count should not read every row",
    "W7": "at most 10 KB of worker memory per cached idle workflow; idle server < 1 % CPU, "
          "about 0 queries/s",
}


def _header(doc: dict[str, Any], title: str) -> list[str]:
    mi = doc["machine"]
    return [f"# {title}", "", f"**{'PASSED' if doc['ok'] else 'FAILED (see Problems)'}** — "
            f"{doc['finished_at']}", "",
            f"- command: `{doc['command']}`",
            f"- mode: {'quick' if doc['quick'] else 'full'}; {doc['repeat']} repetition(s), "
            "engines alternating; fresh processes and storage per run",
            f"- machine: {mi['cpu_count']} CPUs ({mi['cpu_model']}), {mi['memory']} RAM; "
            f"{mi['python_version']}; plait {doc.get('plait_source', 'work tree')} at "
            f"{mi['git_commit']}" + "".join(f"; **{k}={v}**" for k, v in doc.get(
                "plait_env", {}).items()),
            "- peers: " + ", ".join(f"{k} {v}" for k, v in doc.get("peer_versions", {}).items()),
            "- noise: this machine has 2 cores shared with other work; every run records the "
            "machine's busy % and hypervisor steal % over the run (its own processes "
            "included), listed per run below", ""]


def _runs_table(runs: list[dict[str, Any]], keys: list[tuple[str, str]]) -> list[str]:
    out = ["| engine | rep | ok | " + " | ".join(lbl for _, lbl in keys)
           + " | machine busy % | steal % |", "|---|---|---|" + "---|" * (len(keys) + 2)]
    for r in runs:
        m = r["metrics"]
        out.append(f"| {LABELS[r['engine']]} | {r['rep']} | "
                   f"{'yes' if r['ok'] else '**FAILED**'} | "
                   + " | ".join(core._fmt(m.get(k)) for k, _ in keys)
                   + f" | {core._fmt(m.get('machine_busy_pct'))} | "
                   f"{core._fmt(m.get('steal_pct'))} |")
    return out


def _median_row(runs: list[dict[str, Any]], engine: str, key: str) -> str:
    vals = [r["metrics"][key] for r in runs
            if r["engine"] == engine and r["ok"] and key in r["metrics"]]
    if not vals:
        return "—"
    return f"{core._fmt(statistics.median(vals))} ({core._fmt(min(vals))}-{core._fmt(max(vals))})"


W5_KEYS = [("first_step_ms", "first tenth, mean ms/step"),
           ("last_step_ms", "last tenth, mean ms/step"), ("last_over_first", "last / first"),
           ("first_step_p50_ms", "first tenth p50 ms"), ("last_step_p50_ms", "last tenth p50 ms"),
           ("wall_s", "wall s"), ("cold_replay_s", "cold replay s"),
           ("history_events", "history events"), ("history_fetch_s", "history fetch s"),
           ("worker_rss_mib", "worker peak RSS MiB"), ("server_rss_mib", "server peak RSS MiB")]
W7_KEYS = [("worker_kb_per_workflow", "worker KB per workflow"),
           ("server_kb_per_workflow", "server KB per workflow"),
           ("replayed_instance_kb", "tracemalloc KB per instance"),
           ("worker_rss_mib", "worker RSS MiB"), ("server_rss_mib", "server RSS MiB"),
           ("idle_server_cpu_pct", "idle server CPU %"),
           ("idle_worker_cpu_pct", "idle worker CPU %"),
           ("idle_sql_per_s", "idle SQL statements/s"), ("idle_http_per_s", "idle HTTP req/s"),
           ("sql_per_started_workflow", "SQL statements per start (to idle)"),
           ("start_all_s", "start all s"), ("to_idle_s", "start to all idle s"),
           ("signal_all_to_done_s", "signal all to all done s")]


def growth_markdown(doc: dict[str, Any]) -> str:
    out = _header(doc, "plait: how cost grows (W5, W6, W7)")
    w = doc["workloads"]
    if "W5" in w:
        runs = w["W5"]["runs"]
        out += [f"## W5 — one workflow of {w['W5']['size']:,} sequential activities", "",
                f"Target: {TARGETS['W5']}. Per-step time = gap between consecutive activities' "
                "own wall-clock stamps; cold replay = `plait.testing.Replayer` over the fetched "
                "history, in the harness process.", ""]
        out += ["| engine | last / first (median, min-max) |", "|---|---|"]
        out += [f"| {LABELS[e]} | {_median_row(runs, e, 'last_over_first')} |"
                for e in doc["engines"] if e in APPLIES["W5"]]
        out += ["", *_runs_table(runs, W5_KEYS), ""]
    if "W6" in w:
        out += _w6_markdown(w["W6"])
    if "W7" in w:
        runs = w["W7"]["runs"]
        out += [f"## W7 — {w['W7']['size']:,} workflows idle on a signal, all cached in one "
                "worker", "", f"Target: {TARGETS['W7']}. RSS is VmRSS (current) after all are "
                "idle minus before the first start, divided by the number of workflows; idle "
                f"numbers over {growth.IDLE_S:.0f} s with nothing going on; SQL statements "
                "counted by a sqlite3 trace callback in the server (`bench.sqlcount`).", "",
                *_runs_table(runs, W7_KEYS), ""]
        last = next((r for r in reversed(runs) if r.get("cache_breakdown")), None)
        if last:
            b = last["cache_breakdown"]
            out += [f"Where a cached instance's memory goes (`bench/cachemem.py`: "
                    f"{b['instances']:,} instances rebuilt in the harness from a real "
                    f"{b['history_events']}-event history, tracemalloc, Python allocations "
                    f"only): {b['kb_per_instance']:.1f} KB per instance; largest sites:", "",
                    "| allocation site | KB per instance |", "|---|---|"]
            out += [f"| `{site}` | {kb:.2f} |" for site, kb in b["top_sites_kb_per_instance"]]
            out.append("")
        last = next((r for r in reversed(runs) if r.get("idle_sql_per_s_by_statement")), None)
        if last:
            out += ["SQL statements per second while idle, by statement (last run):", "",
                    "| statement (first 90 characters) | per s |", "|---|---|"]
            out += [f"| `{k}` | {v:.2f} |"
                    for k, v in list(last["idle_sql_per_s_by_statement"].items())[:15]]
            out.append("")
    out += _problems(doc)
    return "\n".join(out)


def _w6_markdown(wd: dict[str, Any]) -> list[str]:
    runs = wd["runs"]
    engines = list(dict.fromkeys(r["engine"] for r in runs))
    labels = list(dict.fromkeys(k for r in runs for k in r.get("ops", {})))
    out = [f"## W6 — list and count over {wd['size']:,} stored workflows", "",
           "Filled by copying the rows of three real workflows (see `bench/listing.py`): 60 % "
           "OneStep, 30 % ThreeSteps (completed), 10 % IdleOnSignal (running). Pages of 100, "
           "newest first; plait through `Client` over HTTP, DBOS through `DBOS.list_workflows` "
           "in its process (DBOS has no count call: counting lists every match). Median of "
           "the warm calls in ms (first call in brackets), median over repetitions.", "",
           "| operation | " + " | ".join(LABELS[e] for e in engines) + " |",
           "|---|" + "---|" * len(engines)]
    for label in labels:
        cells = []
        for e in engines:
            med = [r["ops"][label]["median_ms"] for r in runs
                   if r["engine"] == e and r["ok"] and label in r["ops"]]
            first = [r["ops"][label]["first_ms"] for r in runs
                     if r["engine"] == e and r["ok"] and label in r["ops"]]
            cells.append(f"{statistics.median(med):.1f} ({statistics.median(first):.1f})"
                         if med else "—")
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    out += ["", "Fill (bulk copy) seconds: " + ", ".join(
        f"{LABELS[r['engine']]} {r['metrics'].get('fill_s', 0):.1f}" for r in runs), ""]
    return out


def _problems(doc: dict[str, Any]) -> list[str]:
    out = ["## Problems", ""]
    for name, wd in doc["workloads"].items():
        for r in wd.get("runs", []):
            tag = f"{name} {LABELS[r['engine']]} rep {r['rep']}"
            if r["errors"]:
                out.append(f"- **{tag} FAILED**: " + "; ".join(f"`{x[:240]}`"
                                                                for x in r["errors"][:5]))
            for what, lines in r.get("log_problems", {}).items():
                if lines:
                    out.append(f"- {tag}: {len(lines)}+ warning/error line(s) in the {what} "
                               f"log, first: `{lines[0][:200]}`")
    return out if len(out) > 2 else [*out, "None."]


def recovery_markdown(doc: dict[str, Any]) -> str:
    out = _header(doc, "Recovery after kill -9 (R)")
    out += recovery.to_markdown(doc["R"])
    out += ["Per run:", "", "| variant | engine | rep | ok | to result s | beyond work left s "
            "| step 5 again s | re-runs | machine busy % | steal % |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for variant, vd in doc["R"]["variants"].items():
        for e, reps in vd["engines"].items():
            for r in reps:
                m = r["metrics"]
                out.append(f"| {variant} | {LABELS[e]} | {r['rep']} | "
                           f"{'yes' if r['ok'] else '**FAILED**'} | "
                           + " | ".join(core._fmt(m.get(k)) for k in (
                               "to_result_s", "beyond_remaining_s", "step5_again_s", "reruns",
                               "machine_busy_pct", "steal_pct")) + " |")
    runs = [dict(r, engine=e) for vd in doc["R"]["variants"].values()
            for e, reps in vd["engines"].items() for r in reps]
    out += ["", *_problems({"workloads": {"R": {"runs": runs}}})]
    return "\n".join(out)


# -- running --------------------------------------------------------------------------------------
async def _one(name: str, engine: str, n: int, args: argparse.Namespace) -> dict[str, Any]:
    if name == "W5":
        timeout = max(args.timeout, 1200.0)
        if engine == "plait":
            return await growth.w5_plait(n, timeout, args.keep)
        return await growth.w5_peer(engine, n, timeout, args.keep)
    if name == "W6":
        if engine == "plait":
            return await listing.w6_plait(n, 5, args.keep)
        return await listing.w6_dbos(engine, n, 5, args.keep)
    return await growth.w7_plait(n, args.timeout, args.keep)


def _stem(args: argparse.Namespace, engines: list[str], what: str) -> Path:
    if args.out:
        return Path(f"{args.out}-{what}")
    full = not (args.quick or args.size) and set(engines) == set(ENGINES)
    if full:
        return ROOT / "bench" / "results" / what
    return ROOT / "bench" / "out" / f"{what}-{'quick' if args.quick else 'partial'}"


def _write(doc: dict[str, Any], stem: Path, markdown: str) -> None:
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(doc, indent=2) + "\n")
    stem.with_suffix(".md").write_text(markdown + "\n")
    log(f"results in {os.path.relpath(stem.with_suffix('.md'))} and .json")


async def run(names: list[str], engines: list[str], args: argparse.Namespace,
              base: dict[str, Any]) -> bool:
    """Run the selected workloads of NAMES; True if every run passed."""
    sizes = dict(growth.SIZES["quick" if args.quick else "full"])
    for spec in args.size or []:
        k, _, v = spec.partition("=")
        if k.upper() in sizes:
            sizes[k.upper()] = int(v)
    ok = True
    if "R" in names:
        doc = {**base, "started_at": _now()}
        doc["R"] = await recovery.run_all(engines, args.repeat, args.keep,
                                          max(args.timeout, 180.0), args.quiet_below,
                                          args.quiet_wait)
        doc["ok"] = all(r["ok"] for vd in doc["R"]["variants"].values()
                        for reps in vd["engines"].values() for r in reps)
        doc["finished_at"] = _now()
        ok &= doc["ok"]
        _write(doc, _stem(args, engines, "recovery"), recovery_markdown(doc))
    rest = [n for n in names if n != "R"]
    if not rest:
        return ok
    doc = {**base, "started_at": _now(), "ok": True,
           "workloads": {w: {"size": sizes[w], "runs": []} for w in rest}}
    for rep in range(args.repeat):
        for w in rest:
            for e in [e for e in engines if e in APPLIES[w]]:
                busy = await wait_quiet(args.quiet_below, args.quiet_wait)
                log(f"rep {rep + 1}/{args.repeat} {w} (n={sizes[w]:,}) {e} (machine "
                    f"busy {busy:.0f} % before) ...")
                r = await _one(w, e, sizes[w], args)
                r.update(engine=e, rep=rep + 1, busy_before_pct=busy)
                doc["workloads"][w]["runs"].append(r)
                doc["ok"] &= r["ok"]
                shown = {k: round(v, 3) for k, v in r["metrics"].items()
                         if isinstance(v, float | int)}
                log(f"  {'ok' if r['ok'] else 'FAILED'}: {shown} "
                    + "; ".join(x[:200] for x in r["errors"][:3]))
        doc["finished_at"] = _now()
        _write(doc, _stem(args, engines, "growth"), growth_markdown(doc))
    return ok and bool(doc["ok"])


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
