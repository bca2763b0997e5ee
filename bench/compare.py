"""plait side by side with Temporal, DBOS and Restate: W1-W4 on the same machine, in one run.

    .venv/bin/python -m bench compare [--quick] [--repeat N] [--engines plait,temporal,...]

Engines: ``plait`` (the core harness's run: ``plait server`` + one worker process + the client,
SQLite), ``temporal`` (dev server on SQLite, Python SDK, sandboxed workflows),
``temporal-nosandbox`` (the same with ``UnsandboxedWorkflowRunner``), ``dbos-sqlite`` and
``dbos-pg`` (DBOS with a SQLite file or a fresh PostgreSQL database as system database) and
``restate`` (restate-server + the Python SDK service under hypercorn + an aiohttp client).

Every repetition of every workload of every engine runs on fresh processes and fresh storage;
engines alternate (W1: A B C ..., then W2: A B C ..., then the next repetition), so slow drifts
of the machine hit every engine alike. A repetition counts only if every workflow returned its
expected value. Runs with hypervisor steal of 5 % or more are reported but left out of the
medians and ratios. plait's ratio to each peer is computed pair by pair (repetition i of plait
against repetition i of the peer) with a bootstrap 95 % confidence interval. A separate short
pass counts fsync/fdatasync calls per workflow with strace on each engine's server process(es).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import compare_stats, core, workloads
from bench.compare_report import to_markdown
from bench.compare_stats import HEADLINE, STEAL_LIMIT_PCT, ratio, summarize
from bench.engines import ENGINES
from bench.peer_run import PeerRun
from bench.peers import install
from bench.procs import ROOT, BenchError, Run, machine_cpu_seconds
from bench.proctree import tree_cpu_s, tree_rss_mib
from bench.progress import log
from bench.quiet import wait_quiet
from bench.strace import Strace
from plait import Client


@dataclass(frozen=True)
class Extras:
    """What ``--only`` may name beyond W1-W4 (R, W5-W7 run in their own loop and report) and
    what ``--docs`` writes: passed in by the command dispatcher (``bench/__main__.py``), so
    that this module knows W1-W4 only and the bench package has no import cycle."""

    names: tuple[str, ...]
    run: Callable[[list[str], list[str], argparse.Namespace, dict[str, Any]], Awaitable[bool]]
    write_docs: Callable[[dict[str, Any], Path], None]


FSYNC_SIZES = {"full": {"W1": 100, "W2": 20}, "quick": {"W1": 50, "W2": 10}}


# -- one repetition -------------------------------------------------------------------------------
def _outcomes(raw: list[list[Any]]) -> list[workloads.Outcome]:
    return [workloads.Outcome(wid, t0, t1, t2, err) for wid, t0, t1, t2, err in raw]


def _steal_pct(steal_s: float | None, wall_s: float | None) -> float | None:
    if steal_s is None or not wall_s:
        return None
    return 100.0 * steal_s / (wall_s * (os.cpu_count() or 1))


async def run_peer(engine: str, name: str, n: int, args: argparse.Namespace,
                   strace_dir: Path | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"ok": False, "metrics": {}, "errors": [], "n_errors": 0,
                              "log_problems": {}, "unclean_exit": []}
    run = PeerRun(engine, name, n, args.timeout, keep=args.keep)
    tracer: Strace | None = None
    try:
        await run.start()
        if strace_dir is not None:
            tracer = Strace(run.fsync_pids(), strace_dir / f"{engine}-{name}.strace")
            await tracer.attached()
        pids = run.pids()
        cpu0 = {r: tree_cpu_s(p) for r, p in pids.items()}
        machine0 = machine_cpu_seconds()
        t0 = time.perf_counter()
        out = await run.go()
        elapsed = time.perf_counter() - t0
        machine1 = machine_cpu_seconds()
        cpu1 = {r: tree_cpu_s(p) for r, p in pids.items()}
        if tracer is not None:
            result["fsyncs"] = tracer.stop()
        outcomes = _outcomes(out["outcomes"])
        m = core._metrics(name, n, outcomes)
        own = 0.0
        for role, pid in pids.items():
            rss = tree_rss_mib(pid)
            if rss is not None:
                m[f"{role}_rss_mib"] = rss
            a, b = cpu0.get(role, {}), cpu1.get(role, {})
            if b:
                used = sum(v - a.get(p, 0.0) for p, v in b.items())
                m[f"{role}_cpu_s"] = used
                own += used
        if machine0 is not None and machine1 is not None:
            m["steal_s"] = machine1[1] - machine0[1]
            m["other_cpu_s"] = max(0.0, machine1[0] - machine0[0] - own)
            m["steal_pct"] = _steal_pct(m["steal_s"], elapsed) or 0.0
            m["other_cpu_pct"] = _steal_pct(m["other_cpu_s"], elapsed) or 0.0
        result["metrics"] = m
        errs = [f"{o.workflow_id}: {o.error}" for o in outcomes if o.error]
        expected = 1 if name == "W3" else n
        if len(outcomes) != expected:
            errs.append(f"expected {expected} workflows, the workload ran {len(outcomes)}")
        result["n_errors"] = len(errs)
        result["errors"] = errs[:core.MAX_LISTED_ERRORS]
        result["ok"] = not errs
    except BenchError as e:
        result["n_errors"] = 1
        result["errors"] = [f"setup failed: {e}"]
    finally:
        if tracer is not None and "fsyncs" not in result:
            tracer.stop()
        run.stop()
        problems = run.log_problems()
        result["log_problems"] = {k: v[:5] for k, v in problems.items()}
        result["log_problem_counts"] = {k: len(v) for k, v in problems.items()}
        result["unclean_exit"] = run.unclean_exit
        run.cleanup()
    return result


async def run_plait(name: str, rep: int, n: int, args: argparse.Namespace) -> dict[str, Any]:
    """One repetition through the core harness (``bench.core.run_once``): same processes,
    same checks; its client runs in this process (so no client RSS of its own)."""
    r = await core.run_once(name, rep, n, args)
    m = r["metrics"]
    for k_old, k_new in (("harness_cpu_s", "client_cpu_s"),):
        if k_old in m:
            m[k_new] = m[k_old]
    if "steal_s" in m and "wall_s" in m:
        m["steal_pct"] = _steal_pct(m["steal_s"], m["wall_s"]) or 0.0
    if "other_cpu_s" in m and "wall_s" in m:
        m["other_cpu_pct"] = _steal_pct(m["other_cpu_s"], m["wall_s"]) or 0.0
    r.pop("phases", None)
    r.pop("server_counters", None)
    return r


async def fsync_plait(name: str, n: int, args: argparse.Namespace,
                      strace_dir: Path) -> dict[str, Any]:
    """A short plait run with strace on the server, for fsyncs per workflow."""
    run = Run(f"fsync-{name}", worker_slots=args.worker_slots)
    result: dict[str, Any] = {"ok": False, "errors": []}
    tracer = None
    try:
        await run.start()
        assert run.server is not None
        tracer = Strace([run.server.pid], strace_dir / f"plait-{name}.strace")
        await tracer.attached()
        client = await Client.connect(run.address)
        try:
            outcomes = await core.WORKLOADS[name][1](client, n, run.task_queue, args.timeout)
        finally:
            await client.close()
        result["fsyncs"] = tracer.stop()
        errs = [f"{o.workflow_id}: {o.error}" for o in outcomes if o.error]
        result["errors"] = errs[:core.MAX_LISTED_ERRORS]
        result["ok"] = not errs
    except BenchError as e:
        result["errors"] = [f"setup failed: {e}"]
    finally:
        if tracer is not None and "fsyncs" not in result:
            tracer.stop()
        run.stop()
        run.cleanup()
    return result


# -- main -----------------------------------------------------------------------------------------
def finish(doc: dict[str, Any], ok: bool, stem: Path, final: bool) -> None:
    """Summaries and ratios of what ran so far, written out (after every repetition, so an
    interrupted run still leaves its results; ``in_progress`` says so)."""
    engines = doc["engines"]
    for wd in doc["workloads"].values():
        for ed in wd["engines"].values():
            ed["summary"] = summarize(ed["reps"])
            ed["summary_all"] = summarize(ed["reps"], counted_only=False)
    doc["ratios"], doc["ratios_all"] = {}, {}
    for w, metric, higher in HEADLINE:
        if w not in doc["workloads"]:
            continue
        eng = doc["workloads"][w]["engines"]
        for key, only in (("ratios", True), ("ratios_all", False)):
            doc[key][f"{w}.{metric}"] = {
                e: ratio(eng["plait"]["reps"], eng[e]["reps"], metric, higher,
                         counted_only=only)
                for e in engines if e != "plait"}
    doc["finished_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    doc["source_digest_at_end"] = core.source_digest()
    # an exported snapshot cannot change; the work tree can
    doc["source_changed"] = (doc["source_digest_at_end"] != doc["source_digest"]
                             and not os.environ.get("PLAIT_COMPARE_SNAPSHOT"))
    doc["ok"] = ok
    doc["in_progress"] = not final
    stem.with_suffix(".json").write_text(json.dumps(doc, indent=2) + "\n")
    stem.with_suffix(".md").write_text(to_markdown(doc))


async def main_async(args: argparse.Namespace, extras: Extras) -> int:
    engines = [e.strip() for e in args.engines.split(",")]
    unknown = set(engines) - set(ENGINES)
    if unknown:
        raise SystemExit(f"unknown engine(s): {', '.join(sorted(unknown))}; "
                         f"known: {', '.join(ENGINES)}")
    if "plait" not in engines:
        engines.insert(0, "plait")
    if any(e != "plait" for e in engines):
        await asyncio.to_thread(install.install_all)
    sizes = dict(core.QUICK_SIZES if args.quick else core.FULL_SIZES)
    for spec in args.size or []:
        k, _, v = spec.partition("=")
        sizes[k.upper()] = int(v)
    names = [n.strip().upper() for n in args.only.split(",")] if args.only else list(sizes)
    unknown = set(names) - set(sizes) - set(extras.names)
    if unknown:
        raise SystemExit(f"unknown workload(s): {', '.join(sorted(unknown))}")
    more, names = [n for n in names if n in extras.names], [n for n in names
                                                            if n not in extras.names]
    more_ok = True
    if more:
        base = {"command": core.command_line(), "quick": args.quick, "repeat": args.repeat,
                "engines": engines, "machine": core.machine_info(),
                "plait_source": _plait_source(args),
                "plait_env": {k: v for k, v in os.environ.items()
                              if k.startswith("PLAIT_") and k != "PLAIT_COMPARE_SNAPSHOT"},
                "peer_versions": await asyncio.to_thread(install.versions)}
        more_ok = await extras.run(more, engines, args, base)
        if not names:
            return 0 if more_ok else 1
    doc: dict[str, Any] = {
        "benchmark": "compare", "command": core.command_line(), "quick": args.quick,
        "repeat": args.repeat, "engines": engines, "sizes": {k: sizes[k] for k in names},
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": core.machine_info(), "source_digest": core.source_digest(),
        "plait_source": _plait_source(args),
        "steal_limit_pct": STEAL_LIMIT_PCT, "noise_limit_pct": compare_stats.NOISE_LIMIT_PCT,
        "quiet_below_pct": args.quiet_below, "quiet_wait_s": args.quiet_wait,
        "peer_versions": await asyncio.to_thread(install.versions),
        "workloads": {w: {"description": core.WORKLOADS[w][0].format(n=sizes[w]),
                          "size": sizes[w], "engines": {e: {"reps": []} for e in engines}}
                      for w in names},
    }
    full = not (args.quick or args.only or args.size) and set(engines) == set(ENGINES)
    stem = Path(args.out) if args.out else (
        ROOT / "bench" / "results" / "compare" if full
        else ROOT / "bench" / "out" / ("compare-quick" if args.quick else "compare-partial"))
    stem.parent.mkdir(parents=True, exist_ok=True)
    ok = True
    if args.fsync:
        strace_dir = Path(tempfile.mkdtemp(prefix="plait-compare-strace-"))
        fsizes = FSYNC_SIZES["quick" if args.quick else "full"]
        doc["fsync_sizes"] = fsizes
        doc["fsync"] = {}
        for e in engines:
            for w, n in fsizes.items():
                log(f"fsync pass: {w} (n={n}) {e} under strace ...")
                if e == "plait":
                    r = await fsync_plait(w, n, args, strace_dir)
                else:
                    r = await run_peer(e, w, n, args, strace_dir=strace_dir)
                    r = {"ok": r["ok"], "errors": r["errors"], **(
                        {"fsyncs": r["fsyncs"]} if "fsyncs" in r else {})}
                ok &= bool(r["ok"])
                doc["fsync"].setdefault(e, {})[w] = r
                log(f"  {'ok' if r['ok'] else 'FAILED'}: {r.get('fsyncs')}")
        shutil.rmtree(strace_dir, ignore_errors=True)
        finish(doc, ok, stem, final=False)
    for rep in range(args.repeat):
        for w in names:
            for e in engines:
                quiet = await wait_quiet(args.quiet_below, args.quiet_wait)
                log(f"rep {rep + 1}/{args.repeat} {w} (n={sizes[w]}) {e} (machine busy "
                    f"{quiet:.0f} % before) ...")
                t0 = time.perf_counter()
                if e == "plait":
                    r = await run_plait(w, rep, sizes[w], args)
                else:
                    r = await run_peer(e, w, sizes[w], args)
                r["rep"] = rep + 1
                r["busy_before_pct"] = quiet
                ok &= bool(r["ok"])
                doc["workloads"][w]["engines"][e]["reps"].append(r)
                shown = ", ".join(f"{k}={core._fmt(r['metrics'].get(k))}" for ww, k, _ in HEADLINE
                                  if ww == w)
                log(f"  {'ok' if r['ok'] else 'FAILED'} in {time.perf_counter() - t0:.1f}s: "
                    f"{shown}, steal {core._fmt(r['metrics'].get('steal_pct'))} %, other processes "
                    f"{core._fmt(r['metrics'].get('other_cpu_pct'))} % of the machine")
                for x in r["errors"][:3]:
                    log(f"  error: {x[:300]}")
        doc["completed_repetitions"] = rep + 1
        finish(doc, ok, stem, final=rep + 1 == args.repeat)
    ok &= not more or more_ok
    log(f"{'PASSED' if ok else 'FAILED'}; results in "
        f"{os.path.relpath(stem.with_suffix('.md'))} and .json")
    if args.docs:
        extras.write_docs(doc, stem.with_suffix(".json"))
    return 0 if ok else 1


def _plait_source(args: argparse.Namespace) -> str:
    snap = os.environ.get("PLAIT_COMPARE_SNAPSHOT")
    return f"git {snap} (--plait-ref {args.plait_ref}, exported)" if snap else "work tree"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true",
                   help="smoke test: 1 repetition, small sizes (W1=200, W2=50, W3=100, W4=100)")
    p.add_argument("--repeat", type=int, default=None,
                   help="repetitions (default 7; 1 with --quick)")
    p.add_argument("--engines", default=",".join(ENGINES),
                   help=f"comma-separated engines (default all: {','.join(ENGINES)}); "
                        "plait is always included")
    p.add_argument("--only", help="comma-separated workloads, e.g. W1,W3; R (recovery), W5 "
                                  "(long history), W6 (list/count), W7 (idle cache) run only "
                                  "when named here")
    p.add_argument("--size", action="append", metavar="W=N",
                   help="override a workload's size, e.g. --size W1=500 (repeatable)")
    p.add_argument("--timeout", type=float, default=300.0,
                   help="seconds one run of one workload may take (default 300)")
    p.add_argument("--noise-limit", type=float, default=compare_stats.NOISE_LIMIT_PCT,
                   help="leave out of medians and ratios the runs during which processes "
                        "outside the run used this %% of the machine's CPU or more (default 10)")
    p.add_argument("--quiet-below", type=float, default=5.0,
                   help="before each run, wait until the machine's CPU use is under this %% "
                        "(default 5) ...")
    p.add_argument("--quiet-wait", type=float, default=60.0,
                   help="... for at most this many seconds (default 60)")
    p.add_argument("--no-fsync", dest="fsync", action="store_false",
                   help="skip the strace pass that counts fsyncs per workflow")
    p.add_argument("--docs", action="store_true",
                   help="also write docs/benchmarks.md and its chart from this run")
    p.add_argument("--worker-slots", type=int, default=300,
                   help="plait worker's max_concurrent_activities/workflow_tasks (default 300, "
                        "as in the core benchmark; Temporal's worker gets the same)")
    p.add_argument("--out", help="path stem of the result files (default bench/results/compare "
                                 "for a full run of every engine, bench/out/compare-* otherwise)")
    p.add_argument("--keep", action="store_true", help="keep the runs' temporary directories")
    p.add_argument("--plait-ref", default="HEAD",
                   help="git ref of the plait measured (default HEAD: src/ exported to "
                        "bench/out/ so that edits during the run change nothing); 'worktree' "
                        "runs the work tree as it is")
    # The core harness reads options a comparison does not offer: they keep the harness's
    # own defaults (plait on its embedded SQLite store, no API keys, no profiler), so a new
    # core option cannot break the comparison (tests/unit/test_bench_compare_args.py).
    ours = vars(p.parse_args([]))
    harness = argparse.ArgumentParser(add_help=False)
    core.add_arguments(harness)
    p.set_defaults(**{k: v for k, v in vars(harness.parse_args([])).items() if k not in ours})


def snapshot_plait(ref: str) -> tuple[Path, str]:
    """Export ``src/`` at git ``ref`` into ``bench/out/`` (git-ignored), so that every plait
    run measures the same code even while the work tree is being edited."""
    sha = subprocess.run(["git", "rev-parse", "--short=12", ref], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.strip()
    dest = ROOT / "bench" / "out" / f"plait-src-{sha}"
    if not (dest / "src" / "plait" / "__init__.py").exists():
        dest.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", sha, "src"], cwd=ROOT, check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest / "src", sha


def main(args: argparse.Namespace, extras: Extras) -> int:
    if args.plait_ref != "worktree" and not os.environ.get("PLAIT_COMPARE_SNAPSHOT"):
        # Re-run this command with plait imported from a snapshot of the ref, in this process
        # (the client) and in the server and worker processes (PYTHONPATH comes before the
        # editable install's path entry).
        src, sha = snapshot_plait(args.plait_ref)
        env = {**os.environ, "PLAIT_COMPARE_SNAPSHOT": sha,
               "PYTHONPATH": os.pathsep.join([str(src), str(ROOT)])}
        log(f"plait from {args.plait_ref} = {sha}, exported to {os.path.relpath(src)}")
        os.execve(sys.executable, [sys.executable, "-m", "bench", *sys.argv[1:]], env)
    if args.repeat is None:
        args.repeat = 1 if args.quick else 7
    if args.repeat < 1:
        raise SystemExit("--repeat must be at least 1")
    compare_stats.set_noise_limit(args.noise_limit)
    # what bench.core.run_once expects
    args.histories, args.profile, args.profile_workloads = 0, False, set()
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main_async(args, extras))
    return uvloop.run(main_async(args, extras))
