"""The typed signatures catch a wrong argument or a wrong use of a result in the user's editor:
``signatures.py`` must pass ``mypy --strict --warn-unused-ignores``, so each of its
``# type: ignore[...]`` lines is an error mypy really reports."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

api = pytest.importorskip("mypy.api")

HERE = Path(__file__).parent
IGNORE = re.compile(r"  # type: ignore\[[a-z, -]+\]$")


def mypy(*args: str) -> tuple[str, int]:
    out, err, status = api.run(["--strict", "--warn-unused-ignores", "--no-error-summary",
                                "--config-file", "", *args])
    return out + err, status


def test_signatures_flag_every_mistake_and_nothing_else() -> None:
    out, status = mypy(str(HERE / "signatures.py"))
    assert status == 0, out


def test_a_mistake_without_its_ignore_is_reported() -> None:
    """The check has teeth: the same file with its ignores removed fails, line by line."""
    lines = (HERE / "signatures.py").read_text().splitlines()
    marked = {n for n, line in enumerate(lines, 1) if IGNORE.search(line)}
    assert len(marked) >= 10
    bare = "\n".join(IGNORE.sub("", line) for line in lines)
    out, status = mypy("-c", bare)
    assert status == 1
    reported = {int(line.split(":")[1]) for line in out.splitlines() if ": error:" in line}
    assert reported == marked, out
