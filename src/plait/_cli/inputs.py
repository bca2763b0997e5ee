"""Arguments for workflows, signals and queries: ``--input JSON`` and ``--input-file FILE``.

``--input`` alone cannot carry a large value: one command-line argument is limited to
128 KiB on Linux ("Argument list too long"). ``--input-file`` reads one JSON value from a file
(``-``: standard input). Both may be repeated and mixed; the arguments keep the order in
which they were given on the command line.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand

from plait._cli.runner import fail

__all__ = ["InputFiles", "OrderedCommand", "read_inputs"]

_ORDER = "plait.option_order"
_INPUT, _FILE = "inputs", "input_files"  # the command's parameter names

InputFiles = Annotated[list[str] | None, typer.Option(
    "--input-file", metavar="FILE",
    help="One argument as JSON, read from FILE (- for standard input), for values too large "
         "for --input; repeat for each. Mixed with --input, arguments keep the order given.")]


class OrderedCommand(TyperCommand):
    """A command that remembers the order of its options as given.

    click collects each repeated option into a list of its own, which loses how ``--input``
    and ``--input-file`` were interleaved; its parser does report every occurrence in order,
    so the arguments are parsed once more to keep that order (in ``ctx.meta``)."""

    # ctx is Any: typer >= 0.20 vendors click, so its Context class depends on the version.
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        given = list(args)  # the parser consumes the list it is given
        rest = super().parse_args(ctx, args)
        _, _, order = self.make_parser(ctx).parse_args(args=given)
        ctx.meta[_ORDER] = [param.name for param in order]
        return rest


def read_inputs(ctx: typer.Context, inputs: list[str] | None,
                files: list[str] | None) -> list[Any]:
    """The arguments, one JSON value per ``--input`` and per ``--input-file``, in the order
    given (``ctx`` of an :class:`OrderedCommand`); a bad one becomes one ``error:`` line."""
    inputs, files = list(inputs or []), list(files or [])
    order = _given_order(ctx, len(inputs), len(files))
    if files.count("-") > 1:
        fail("--input-file - (standard input) can be given only once")
    values: list[Any] = []
    n_input = n_file = 0
    for kind in order:
        if kind == _INPUT:
            n_input += 1
            values.append(_parse_input(n_input, inputs[n_input - 1]))
        else:
            n_file += 1
            values.append(_read_file(files[n_file - 1]))
    return values


def _given_order(ctx: typer.Context, n_inputs: int, n_files: int) -> list[str]:
    """Which option each argument came from, in command-line order; ``--input`` ones first
    when the order is unknown (a command not made with :class:`OrderedCommand`)."""
    order = [n for n in ctx.meta.get(_ORDER, []) if n in (_INPUT, _FILE)]
    if order.count(_INPUT) != n_inputs or order.count(_FILE) != n_files:
        order = [_INPUT] * n_inputs + [_FILE] * n_files
    return order


def _parse_input(position: int, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        fail(f"--input #{position} is not valid JSON ({e.msg} at column {e.colno}): {text!r}; "
             'strings need JSON quotes, e.g. --input \'"alice"\'')


def _read_file(name: str) -> Any:
    label = "--input-file - (standard input)" if name == "-" else f"--input-file {name}"
    try:
        text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
    except OSError as e:
        fail(f"{label}: {e.strerror or e}")
    except UnicodeDecodeError:
        fail(f"{label} is not UTF-8 text")
    if not text.strip():
        fail(f"{label} is empty; it must hold one JSON value")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        fail(f"{label} is not one JSON value ({e.msg} at line {e.lineno} column {e.colno})")
