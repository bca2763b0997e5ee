"""``plait server``'s limit options (docs/operations.md "Limits"): the types of its
parameters, and the settings they make."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer

from plait._cli.runner import fail
from plait.server.config import RunLimits

__all__ = [
    "KeyRateLimit",
    "MaxHistoryBytes",
    "MaxHistoryEvents",
    "MaxPayload",
    "MaxPendingActivities",
    "MaxPendingChildren",
    "MaxSignals",
    "run_limits",
]

_DEFAULTS = RunLimits()

MaxPayload = Annotated[
    int | None,
    typer.Option(
        "--max-payload",
        envvar="PLAIT_MAX_PAYLOAD",
        metavar="BYTES",
        show_default=False,
        help="The largest request body (a start, signal, update, activity result): larger is "
        "refused with 413 payload_too_large (env PLAIT_MAX_PAYLOAD; default 2 MiB).",
    ),
]
MaxHistoryEvents = Annotated[
    int,
    typer.Option(
        "--max-history-events",
        metavar="N",
        help="A run whose history passes this many events is terminated (history_size_exceeded).",
    ),
]
MaxHistoryBytes = Annotated[
    int,
    typer.Option(
        "--max-history-bytes",
        metavar="BYTES",
        help="A run whose history passes this many bytes is terminated "
        "(history_size_exceeded; default 50 MiB).",
    ),
]
MaxPendingActivities = Annotated[
    int,
    typer.Option(
        "--max-pending-activities",
        metavar="N",
        help="A workflow task that would leave more activities pending in its run fails "
        "(PendingActivitiesLimitExceeded) and is retried.",
    ),
]
MaxPendingChildren = Annotated[
    int,
    typer.Option(
        "--max-pending-children",
        metavar="N",
        help="A workflow task that would leave more child workflows running fails "
        "(PendingChildWorkflowsLimitExceeded) and is retried.",
    ),
]
MaxSignals = Annotated[
    int,
    typer.Option(
        "--max-signals-per-run",
        metavar="N",
        help="Signals one run accepts; more are refused (429 limit_exceeded).",
    ),
]
KeyRateLimit = Annotated[
    float | None,
    typer.Option(
        "--key-rate-limit",
        metavar="N",
        show_default=False,
        help="With --auth: at most N requests per second per API key on this server (a token "
        "bucket holding N); more are refused with 429 rate_limited and Retry-After. "
        "Off by default.",
    ),
]


def run_limits(**values: int) -> RunLimits:
    """The limits the options set; one ``error:`` line for a value below 1."""
    for name, value in values.items():
        if value < 1:
            option = (
                "--max-signals-per-run" if name == "max_signals" else "--" + name.replace("_", "-")
            )
            fail(f"{option} {value} must be at least 1")
    return dataclasses.replace(_DEFAULTS, **values)
