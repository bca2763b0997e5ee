"""Summarise a py-spy ``--format raw --threads`` profile: where did the CPU time go?

    python -m bench.profile bench/out/profile/server-W1.raw [--top 10]

py-spy samples only threads that are running (idle ones are left out), so the percentages are
shares of busy CPU samples. ``self`` is time in the function itself (including C code it calls
without a Python frame: sqlite3, orjson, uvloop), ``total`` is time with it anywhere on the
stack. Functions are keyed by name and file (line numbers merged).
"""

from __future__ import annotations

import argparse
import collections
import re
import sys
from pathlib import Path
from typing import Any

from bench.procs import in_repo

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")


def _short(file: str) -> str:
    for marker in ("/site-packages/", "/src/", "/lib/python3."):
        i = file.find(marker)
        if i >= 0:
            rest = file[i + len(marker):]
            return rest.split("/", 1)[1] if marker == "/lib/python3." else rest
    return file


def _module(short: str) -> str:
    """A coarse component for a file: plait.server.history, aiohttp, asyncio, sqlite3, ..."""
    parts = short.removesuffix(".py").split("/")
    if parts[0] == "plait":
        return ".".join(parts[:3]) if len(parts) > 2 else ".".join(parts)
    return parts[0]


def _parse(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text(errors="replace").splitlines():
        line = line.rstrip()
        if not line:
            continue
        stack, _, count = line.rpartition(" ")
        try:
            stacks.append((stack.split(";"), int(count)))
        except ValueError:
            continue
    return stacks


LOOP = ("<event loop: uvloop/asyncio internals, C>", "")
# Frames that only wrap everything below them (process entry, thread start, CLI framework).
_WRAPPERS = ("threading.py", "typer/", "click/", "runpy.py", "<frozen runpy>", "plait/cli.py",
             "plait/__main__.py", "bench/worker.py", "uvloop/__init__.py", "asyncio/runners.py",
             "concurrent/futures/thread.py")


def _key(frame: str) -> tuple[str, str]:
    m = _FRAME.match(frame)
    if not m:
        return frame, ""
    func, file = m.group("func"), _short(m.group("file"))
    # Without --native, time in uvloop's C loop (I/O, callbacks, timers) lands on the Python
    # frame that called it: the runner's run().
    if (func, file) in (("Runner.run", "asyncio/runners.py"), ("run", "uvloop/__init__.py"),
                        ("run_until_complete", "asyncio/base_events.py"),
                        ("run_forever", "asyncio/base_events.py")):
        return LOOP
    return func, file


def _thread_label(frames: list[str]) -> str:
    keys = [_key(f) for f in frames[1:]]
    if any(func == "_run_module_as_main" for func, _ in keys[:2]):
        return "main (event loop)"
    for func, file in keys:
        if not file.startswith(("threading.py", "concurrent/futures/thread.py")):
            return f"thread: {func} ({file})"
    if keys and keys[-1][1].startswith("concurrent/futures/thread.py"):
        return "thread pool (idle loop)"
    return "other thread"


def summarize(path: Path, top: int = 10) -> dict[str, Any]:
    stacks = _parse(path)
    total = sum(c for _, c in stacks)
    self_t: collections.Counter[tuple[str, str]] = collections.Counter()
    total_t: collections.Counter[tuple[str, str]] = collections.Counter()
    modules: collections.Counter[str] = collections.Counter()
    thread_of: dict[str, str] = {}
    threads: collections.Counter[str] = collections.Counter()
    thread_modules: dict[str, collections.Counter[str]] = collections.defaultdict(
        collections.Counter)
    for frames, count in stacks:
        if not frames:
            continue
        tid = frames[0]
        label = thread_of.get(tid)
        if label is None or label == "other thread":
            label = thread_of[tid] = _thread_label(frames)
        threads[tid] += count
        body = frames[1:] or frames
        leaf = _key(body[-1])
        self_t[leaf] += count
        module = "event loop (C)" if leaf == LOOP else _module(leaf[1]) if leaf[1] else leaf[0]
        modules[module] += count
        thread_modules[tid][module] += count
        for k in {_key(f) for f in body}:
            total_t[k] += count

    def pct(n: int) -> float:
        return round(100.0 * n / total, 1) if total else 0.0

    by_label: collections.Counter[str] = collections.Counter()
    label_modules: dict[str, collections.Counter[str]] = collections.defaultdict(
        collections.Counter)
    for tid, n in threads.items():
        by_label[thread_of[tid]] += n
        label_modules[thread_of[tid]].update(thread_modules[tid])
    return {
        "file": in_repo(path),
        "samples": total,
        "threads": [{"thread": k, "pct": pct(n),
                     "self_by_module": [{"module": m, "self_pct": pct(c)}
                                        for m, c in label_modules[k].most_common(6)]}
                    for k, n in by_label.most_common()],
        "top_self": [{"function": f, "file": fl, "self_pct": pct(n),
                      "total_pct": pct(total_t[(f, fl)])}
                     for (f, fl), n in self_t.most_common(top)],
        "top_total": [{"function": f, "file": fl, "total_pct": pct(n),
                       "self_pct": pct(self_t[(f, fl)])}
                      for (f, fl), n in total_t.most_common()
                      if (f, fl) != LOOP and not fl.startswith(_WRAPPERS)
                      and f not in ("<module>", "_run_module_as_main", "_run_code")][:top],
        "self_by_module": [{"module": m, "self_pct": pct(n)}
                           for m, n in modules.most_common(top)],
    }


def to_markdown(s: dict[str, Any], title: str) -> str:
    out = [f"### {title}", "", f"{s['samples']} busy samples from `{s['file']}`.", "",
           "Threads (share of samples; self time by module within each):", ""]
    out += [f"- {t['thread']}: {t['pct']}% — "
            + ", ".join(f"{m['module']} {m['self_pct']}%" for m in t["self_by_module"])
            for t in s["threads"]]
    out += ["",
           "| # | function (self time) | file | self % | total % |", "|---|---|---|---|---|"]
    out += [f"| {i} | `{r['function']}` | {r['file']} | {r['self_pct']} | {r['total_pct']} |"
            for i, r in enumerate(s["top_self"], 1)]
    out += ["", "| # | function (total time) | file | total % | self % |", "|---|---|---|---|---|"]
    out += [f"| {i} | `{r['function']}` | {r['file']} | {r['total_pct']} | {r['self_pct']} |"
            for i, r in enumerate(s["top_total"], 1)]
    out += ["", "| module | self % |", "|---|---|"]
    out += [f"| {r['module']} | {r['self_pct']} |" for r in s["self_by_module"]]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--top", type=int, default=10)
    args = p.parse_args(argv)
    for f in args.files:
        sys.stdout.write(to_markdown(summarize(f, args.top), f.name) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
