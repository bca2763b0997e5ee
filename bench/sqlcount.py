"""``python -m bench.sqlcount COUNT_FILE server ARGS...``: ``plait server`` with every SQL
statement counted.

plait's ``/metrics`` has no query counter, and W7 wants to show that an idle server makes
about 0 queries per second. This shim installs a ``sqlite3`` trace callback on every
connection the server opens (``sqlite3.connect`` is wrapped before plait imports its store),
then runs plait's own command line unchanged. A thread writes the running total to
COUNT_FILE every 0.2 s (write to a temporary name, then rename: a reader never sees half a
number). The callback costs a Python call and a regex per statement; only W7 uses it.
"""

from __future__ import annotations

import collections
import json
import os
import re
import sqlite3
import sys
import threading
import time
from typing import Any

_total = [0]
_kinds: collections.Counter[str] = collections.Counter()
_lock = threading.Lock()
_connect = sqlite3.connect
# The callback gets the statement with its parameters filled in: literals go, so that one
# statement is one key (else the counter would grow with every row and bloat the server).
_LITERALS = re.compile(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?(?:e[-+]?\d+)?\b|X'[0-9A-F]*'", re.I)


def _trace(statement: str) -> None:
    key = " ".join(_LITERALS.sub("?", statement[:300]).split())[:90]
    with _lock:
        _total[0] += 1
        _kinds[key] += 1


def _counting_connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
    conn: sqlite3.Connection = _connect(*args, **kwargs)
    conn.set_trace_callback(_trace)
    return conn


def _writer(path: str) -> None:
    """The total every 0.2 s; beside it (``.top``) the most frequent statements so far, by
    their first 90 characters, to say which queries an idle server still makes."""
    tmp = path + ".tmp"
    while True:
        with _lock:
            total, kinds = _total[0], _kinds.most_common(300)
        with open(tmp, "w") as f:
            f.write(str(total))
        os.replace(tmp, path)
        with open(tmp, "w") as f:
            json.dump(kinds, f)
        os.replace(tmp, path + ".top")
        time.sleep(0.2)


def read_top(path: str) -> list[tuple[str, int]]:
    try:
        with open(path + ".top") as f:
            return [(s, int(n)) for s, n in json.load(f)]
    except (OSError, ValueError):
        return []


def read_count(path: str) -> int | None:
    try:
        with open(path) as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


def main() -> None:
    path = sys.argv[1]
    sqlite3.connect = _counting_connect  # type: ignore[assignment]
    threading.Thread(target=_writer, args=(path,), daemon=True, name="sqlcount").start()
    sys.argv = ["plait", *sys.argv[2:]]
    from plait.cli import main as plait_main

    plait_main()


if __name__ == "__main__":
    main()
