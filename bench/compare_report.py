"""The Markdown report of a comparison (``bench/results/compare.md``), from its JSON document."""

from __future__ import annotations

from typing import Any

from bench import compare_stats, core
from bench.compare_stats import HEADLINE, STEAL_LIMIT_PCT
from bench.engines import LABELS


def _f(v: float | None, unit: str = "") -> str:
    return core._fmt(v, unit)


def cell(s: dict[str, Any] | None, unit: str) -> str:
    if not s:
        return "—"
    return f"{_f(s['median'], unit)} ({_f(s['min'], unit)}-{_f(s['max'], unit)})"


def _ratio_cell(r: dict[str, Any] | None) -> str:
    if not r:
        return "—"
    return f"{r['ratio']:.2f}x [{r['ci_low']:.2f}-{r['ci_high']:.2f}]"


def to_markdown(doc: dict[str, Any], title: str = "# plait vs Temporal, DBOS and Restate") -> str:
    mi = doc["machine"]
    engines = doc["engines"]
    status = "PASSED" if doc["ok"] else "FAILED (see Problems)"
    if doc.get("in_progress"):
        status = (f"IN PROGRESS or INTERRUPTED: {doc.get('completed_repetitions', 0)} of "
                  f"{doc['repeat']} repetition(s) done; " + status.lower())
    out = [
        title, "",
        f"**{status}** — {doc['finished_at']}", "",
        f"- command: `{doc['command']}`",
        f"- mode: {'quick' if doc['quick'] else 'full'}; {doc['repeat']} repetition(s) of each "
        "workload per engine, engines alternating within each repetition; every run on fresh "
        "processes and fresh storage; numbers are median (min-max) over the repetitions that "
        f"passed and had hypervisor steal under {STEAL_LIMIT_PCT:.0f} %",
        f"- machine: {mi['cpu_count']} CPUs ({mi['cpu_model']}), {mi['memory']} RAM, "
        f"{mi['platform']}; {mi['python_version']}",
        f"- plait: {doc.get('plait_source', 'work tree')} (work tree at {mi['git_commit']}"
        f"{', src/ modified' if mi['git_dirty'] else ''}); " + ", ".join(
            f"{k} {v}" for k, v in mi["versions"].items()),
        "- peers: " + ", ".join(f"{k} {v}" for k, v in doc["peer_versions"].items()),
        f"- started {doc['started_at']}, finished {doc['finished_at']}",
        "",
        "## plait's ratio to each peer", "",
        "Ratio > 1: plait better (throughput plait/peer; times peer/plait). Geometric mean of "
        "the per-repetition pairs, [bootstrap 95 % CI].", "",
        "| workload | metric | " + " | ".join(LABELS[e] for e in engines if e != "plait")
        + " |", "|---|---|" + "---|" * (len(engines) - 1),
    ]
    for w, metric, _ in HEADLINE:
        if w not in doc["workloads"]:
            continue
        label, unit = core.METRICS[metric]
        cells = [_ratio_cell(doc["ratios"].get(f"{w}.{metric}", {}).get(e))
                 for e in engines if e != "plait"]
        out.append(f"| {w} | {label} ({unit}) | " + " | ".join(cells) + " |")
    if doc.get("ratios_all"):
        out += ["", "The same over every passing repetition, disturbed ones included (steal or "
                "other processes; see *Steal and noise*):", "",
                "| workload | metric | " + " | ".join(LABELS[e] for e in engines
                                                     if e != "plait") + " |",
                "|---|---|" + "---|" * (len(engines) - 1)]
        for w, metric, _ in HEADLINE:
            if w not in doc["workloads"]:
                continue
            label, unit = core.METRICS[metric]
            cells = [_ratio_cell(doc["ratios_all"].get(f"{w}.{metric}", {}).get(e))
                     for e in engines if e != "plait"]
            out.append(f"| {w} | {label} ({unit}) | " + " | ".join(cells) + " |")
    for w, wd in doc["workloads"].items():
        out += ["", f"## {w} — {wd['description']}", "",
                "| engine | " + " | ".join(
                    f"{core.METRICS[m][0]} ({core.METRICS[m][1]})" for m in SHOWN[w])
                + " | runs counted |", "|---|" + "---|" * (len(SHOWN[w]) + 1)]
        for e in engines:
            ed = wd["engines"].get(e)
            if not ed:
                continue
            s = ed["summary"]
            reps = ed["reps"]
            counted = sum(1 for r in reps if compare_stats.counted(r))
            failed = sum(1 for r in reps if not r["ok"])
            stolen = sum(1 for r in reps if r["ok"] and compare_stats.stolen(r))
            noisy = sum(1 for r in reps
                        if r["ok"] and not compare_stats.stolen(r) and compare_stats.noisy(r))
            note = f"{counted}/{len(reps)}" + (f", {failed} failed" if failed else "") + (
                f", {stolen} with steal" if stolen else "") + (
                f", {noisy} noisy" if noisy else "")
            out.append(f"| {LABELS[e]} | " + " | ".join(
                cell(s.get(m), core.METRICS[m][1]) for m in SHOWN[w]) + f" | {note} |")
            if counted < sum(1 for r in reps if r["ok"]):
                sa = ed.get("summary_all", {})
                out.append(f"| {LABELS[e]}, every passing run | " + " | ".join(
                    cell(sa.get(m), core.METRICS[m][1]) for m in SHOWN[w])
                    + f" | {sum(1 for r in reps if r['ok'])}/{len(reps)} |")
        out += ["", "Resources (median): peak RSS (VmHWM) in MiB and CPU seconds during the "
                "workload, by process; `—`: no such process (plait's client runs in the "
                "harness; DBOS runs everything in its one application process).", "",
                "| engine | server RSS | worker RSS | client RSS | server CPU | worker CPU "
                "| client CPU | other processes' CPU | steal % (max) | other processes % (max) |",
                "|---|---|---|---|---|---|---|---|---|---|"]
        for e in engines:
            ed = wd["engines"].get(e)
            if not ed:
                continue
            s = ed["summary"]

            def med(k: str, unit: str = "", s: dict[str, Any] = s) -> str:
                return _f(s[k]["median"], unit) if k in s else "—"

            steal = [r["metrics"].get("steal_pct") for r in ed["reps"]
                     if r["metrics"].get("steal_pct") is not None]
            other = [r["metrics"].get("other_cpu_pct", 0.0) for r in ed["reps"]] or [0.0]
            out.append(f"| {LABELS[e]} | {med('server_rss_mib', 'MiB')} | "
                       f"{med('worker_rss_mib', 'MiB')} | {med('client_rss_mib', 'MiB')} | "
                       f"{med('server_cpu_s')} | {med('worker_cpu_s')} | {med('client_cpu_s')} "
                       f"| {med('other_cpu_s')} | {max(steal):.1f} | {max(other):.0f} |"
                       if steal else f"| {LABELS[e]} |" + " — |" * 9)
    if doc.get("fsync"):
        out += ["", "## fsyncs per workflow", "",
                "A separate short pass: `strace -f -c -e trace=fsync,fdatasync` attached to the "
                "engine's storage process(es) — plait's server, Temporal's dev server, DBOS's "
                "application process (SQLite) or every PostgreSQL process (dbos-pg: other "
                "clients of that PostgreSQL server count too), restate-server — while W1 and W2 "
                "run at the sizes shown. Tracing slows the engines; only the counts are used.",
                "", "| engine | " + " | ".join(
                    f"{w} (n={n})" for w, n in doc["fsync_sizes"].items()) + " |",
                "|---|" + "---|" * len(doc["fsync_sizes"])]
        for e in engines:
            row = doc["fsync"].get(e, {})
            cells = []
            for w, n in doc["fsync_sizes"].items():
                r = row.get(w)
                if not r or "fsyncs" not in r:
                    cells.append("failed" if r else "—")
                    continue
                per = sum(r["fsyncs"].values()) / (1 if w == "W3" else n)
                detail = ", ".join(f"{k} {v}" for k, v in r["fsyncs"].items() if v)
                cells.append(f"{per:.2f} ({detail or 'none'})"
                             + ("" if r["ok"] else " — run FAILED"))
            out.append(f"| {LABELS[e]} | " + " | ".join(cells) + " |")
    out += ["", "## Steal and noise", "",
            f"Runs with hypervisor steal ≥ {doc.get('steal_limit_pct', 5.0):.0f} % of the "
            "machine's CPU time during the workload (from `/proc/stat`), and runs during "
            "which processes outside the run used ≥ "
            f"{doc.get('noise_limit_pct', 10.0):.0f} % of the machine's CPU (\"noisy\": this "
            "machine is shared), passed but are left out of medians and ratios. Before each "
            "run the harness waits (at most "
            f"{doc.get('quiet_wait_s', 0.0):.0f} s) for the machine to be under "
            f"{doc.get('quiet_below_pct', 100.0):.0f} % busy.", ""]
    flagged = [f"- {w} {LABELS[e]} rep {r['rep']}: steal {r['metrics'].get('steal_pct', 0):.1f} "
               f"%, other processes {r['metrics'].get('other_cpu_pct', 0):.0f} % of the machine"
               for w, wd in doc["workloads"].items() for e, ed in wd["engines"].items()
               for r in ed["reps"] if r["ok"] and not compare_stats.counted(r)]
    out += flagged or ["None."]
    if doc.get("notes"):
        out += ["", "## Notes on this run", "", *[f"- {n}" for n in doc["notes"]]]
    out += ["", "## Problems", ""]
    problems = []
    if doc.get("source_changed"):
        problems.append("- **src/plait changed during the run**: plait's repetitions may have "
                        "measured different code")
    for w, wd in doc["workloads"].items():
        for e, ed in wd["engines"].items():
            for r in ed["reps"]:
                tag = f"{w} {LABELS[e]} rep {r['rep']}"
                if r["errors"]:
                    problems.append(f"- **{tag} FAILED: {r['n_errors']} error(s)**")
                    problems += [f"  - `{x[:300]}`" for x in r["errors"][:5]]
                for what, lines in r.get("log_problems", {}).items():
                    n = r.get("log_problem_counts", {}).get(what, len(lines))
                    problems.append(f"- {tag}: {n} warning/error line(s) in the {what} log, "
                                    f"first: `{lines[0][:240]}`")
                problems += [f"- {tag}: {u}" for u in r.get("unclean_exit", [])]
    for e, row in doc.get("fsync", {}).items():
        for w, r in row.items():
            if not r.get("ok"):
                problems.append(f"- fsync pass {LABELS[e]} {w} FAILED: "
                                + "; ".join(x[:200] for x in r.get("errors", [])[:3]))
    out += problems or ["None."]
    out.append("")
    return "\n".join(out)


SHOWN = {"W1": ["throughput", "p50_ms", "p99_ms", "start_p50_ms"],
         "W2": ["p50_ms", "p99_ms", "start_p50_ms"],
         "W3": ["wall_s", "activities_per_s"],
         "W4": ["overhead_p50_ms", "overhead_p99_ms", "wall_s"]}
