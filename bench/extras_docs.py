"""The R, W5, W6 and W7 part of ``docs/benchmarks.md``, from the committed results.

``bench.compare_docs`` renders W1-W4 from one comparison; these workloads run separately
(``compare --only R,W5,W6,W7``), so their part is rendered from whichever of their result
files are in ``bench/results/`` (a full run of every engine first, then quick and plait-only
runs), each table labelled with the run it comes from, and regenerated with the rest.
"""

from __future__ import annotations

import json
import statistics
from typing import Any

from bench import core, extras, recovery
from bench.engines import LABELS
from bench.procs import ROOT

RESULTS = ROOT / "bench" / "results"
RECOVERY_FILES = ["recovery.json", "plait-recovery.json", "quick-recovery.json"]
GROWTH_FILES = ["plait-growth.json", "w7-growth.json", "growth.json", "full-growth.json",
                "full-temporal-growth.json", "plait-w5-20k-growth.json", "quick-growth.json"]


def _load(names: list[str]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for name in names:
        path = RESULTS / name
        if path.exists():
            out.append((name, json.loads(path.read_text())))
    return out


def _source(name: str, doc: dict[str, Any]) -> str:
    env = "".join(f"{k}={v} " for k, v in doc.get("plait_env", {}).items())
    machine = doc.get("machine") or {}
    cpu = f"{machine.get('cpu_count', '?')} CPUs, {machine.get('cpu_model', '?')}"
    return (f"From `bench/results/{name}` ({'quick' if doc['quick'] else 'full'}, "
            f"{doc['repeat']} repetition(s), {doc.get('finished_at', '?')}, {cpu}, plait "
            f"{doc.get('plait_source', '?').split(' (')[0]}): "
            f"`{env}{doc['command']}`; every run in `{name[:-5]}.md`."
            + (" **Not plait's defaults** (a diagnostic run)." if env else ""))


def _med(vals: list[float]) -> str:
    return core._fmt(statistics.median(vals)) if vals else "—"


def recovery_section() -> list[str]:
    docs = _load(RECOVERY_FILES)
    if not docs:
        return []
    out = ["## R: recovery after kill -9", "",
           "One workflow of 10 sequential 0.3 s steps (start_to_close 60 s); 0.1 s into step "
           "5 the process running it is killed with SIGKILL. `restart`: a new worker starts at "
           "once; `second`: a second worker was already running. Target: 0 re-runs of completed "
           f"steps and the result at most {recovery.TARGET_BEYOND_S} s after the "
           f"{recovery.REMAINING_S:.1f} s of work left, whatever start_to_close is. After a "
           "restart, \"ready\" is when the new process said so (plait and Temporal workers "
           "print READY once connected; DBOS once `launch()` returned; Restate's service once "
           "its port accepts).", ""]
    for name, doc in docs:
        out += [_source(name, doc), ""]
        out += recovery.to_markdown(doc["R"])[4:]
        out += _r_verdict(doc["R"])
    out += ["How to read it: after a restart, the time to the result includes starting a new "
            "Python process (imports, connecting), which the `ready` columns separate; on a "
            "loaded machine that alone can take 0.5-1.5 s (0.2 s in the runs above). plait "
            "notices the dead worker at once "
            "(the server's session watch sees the worker's connection drop, rather than "
            "waiting for the 5 s session expiry), so step 5 starts again as soon as a worker "
            "can take it: right after the new worker is ready, or about 0.3 s after the kill "
            "when a second worker is already running. Temporal, with no activity heartbeat "
            "timeout, waits for the 60 s start_to_close before it retries step 5. DBOS "
            "recovers a process's pending workflows when a process of the same executor "
            "launches (its recovery starts shortly after `launch()` returns). Restate's server "
            "notices the dropped HTTP/2 stream and retries the invocation with backoff; its "
            "`ready` is only hypercorn's port accepting, before the app is loaded.", ""]
    return out


def _r_verdict(r: dict[str, Any]) -> list[str]:
    parts = []
    for variant, vd in r["variants"].items():
        reps = [x for x in vd["engines"].get("plait", []) if x["ok"]]
        beyond = [x["metrics"]["beyond_remaining_s"] for x in reps]
        reruns = sum(x["metrics"].get("reruns", 0) for x in reps)
        if beyond:
            b = statistics.median(beyond)
            parts.append(f"{variant}: {b:.2f} s beyond the work left (target ≤ "
                         f"{recovery.TARGET_BEYOND_S} s: "
                         f"{'met' if b <= recovery.TARGET_BEYOND_S else '**missed**'}), "
                         f"{reruns} re-runs")
    return [f"plait — {'; '.join(parts)}.", ""] if parts else []


def growth_section() -> list[str]:
    docs = _load(GROWTH_FILES)
    out: list[str] = []
    for w, title in (("W5", "W5: one long history"), ("W6", "W6: list and count"),
                     ("W7", "W7: many idle workflows in the worker's cache")):
        have = [(n, d) for n, d in docs if w in d.get("workloads", {})]
        if not have:
            continue
        out += [f"## {title}", "", f"Target: {extras.TARGETS[w]}.", ""]
        for name, doc in have:
            out += [_source(name, doc), ""]
            out += _growth_table(w, doc)
    return out


def _growth_table(w: str, doc: dict[str, Any]) -> list[str]:
    wd = doc["workloads"][w]
    runs = [r for r in wd["runs"] if r["ok"]]
    failed = len(wd["runs"]) - len(runs)
    note = [f"{failed} run(s) FAILED (see the .md).", ""] if failed else []
    if w == "W6":
        return [*extras._w6_markdown(wd)[2:], *note]
    keys = extras.W5_KEYS[:7] if w == "W5" else extras.W7_KEYS[:9]
    engines = list(dict.fromkeys(r["engine"] for r in runs))
    out = [f"n = {wd['size']:,}; median over passing runs.", "",
           "| engine | " + " | ".join(lbl for _, lbl in keys) + " | machine busy % |",
           "|---|" + "---|" * (len(keys) + 1)]
    for e in engines:
        mine = [r["metrics"] for r in runs if r["engine"] == e]
        out.append(f"| {LABELS[e]} | " + " | ".join(
            _med([m[k] for m in mine if k in m]) for k, _ in keys)
            + f" | {_med([m.get('machine_busy_pct', 0.0) for m in mine])} |")
    return [*out, "", *_verdict(w, [r for r in runs if r["engine"] == "plait"]), *note]


def _verdict(w: str, runs: list[dict[str, Any]]) -> list[str]:
    """plait against the target, from the medians of these runs."""
    def med(k: str) -> float | None:
        vals = [r["metrics"][k] for r in runs if k in r["metrics"]]
        return statistics.median(vals) if vals else None

    if w == "W5" and (x := med("last_over_first")) is not None:
        ok = x <= 1.2
        return [f"plait: last tenth / first tenth = {x:.2f} — target ≤ 1.2 "
                f"{'met' if ok else '**missed**'}.", ""]
    if w == "W7" and (kb := med("worker_kb_per_workflow")) is not None:
        cpu, sql = med("idle_server_cpu_pct") or 0.0, med("idle_sql_per_s") or 0.0
        return [f"plait: {kb:.1f} KB of worker memory per cached idle workflow — target "
                f"≤ 10 KB {'met' if kb <= 10 else '**missed**'}; idle server {cpu:.2f} % CPU "
                f"(target < 1 %: {'met' if cpu < 1 else '**missed**'}) and {sql:.0f} SQL "
                f"statements/s (target about 0: {'met' if sql < 1 else '**missed**'}"
                + ("" if sql < 1 else "; the rate does not grow with the number of idle "
                   "workflows: it is the server's housekeeping every second and the worker's "
                   "session heartbeat, see the statements in the .md") + ").", ""]
    return []


def sections() -> list[str]:
    """Everything this module renders, or nothing when no result file is there."""
    body = recovery_section() + growth_section()
    if not body:
        return []
    return ["# Recovery and growth (R, W5, W6, W7)", "",
            "Run separately from W1-W4 (`python -m bench compare --only R,W5,W6,W7`; see "
            "`bench/README.md`). The machine has 2 cores shared with other work: each run's "
            "machine busy % (its own processes included) is recorded; numbers are noisy.", "",
            *body]
