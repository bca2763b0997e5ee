"""Progress lines of a comparison run, on stderr (stdout stays free for results)."""

from __future__ import annotations

import sys


def log(msg: str) -> None:
    print(f"[compare] {msg}", file=sys.stderr, flush=True)
