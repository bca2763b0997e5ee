"""The filters of ``plait workflow list`` and ``count``, from their command-line spelling."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from typing import Annotated, Any, TypedDict

import typer

from plait._cli.runner import fail
from plait.protocol.common import SearchAttributes

__all__ = ["STATUSES", "AfterFilter", "BeforeFilter", "FilterArgs", "Filters", "SearchFilter",
           "StatusFilter", "TypeFilter", "parse_filters", "parse_search_attribute",
           "parse_time"]

STATUSES = ("RUNNING", "COMPLETED", "FAILED", "CANCELED", "TERMINATED", "CONTINUED_AS_NEW",
            "TIMED_OUT")
_AGO = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}

# The filter options of `workflow list`, `count` and the batch commands.
TypeFilter = Annotated[str | None, typer.Option("--type", help="Only this workflow type.")]
StatusFilter = Annotated[str | None, typer.Option(
    help="Only this status: " + ", ".join(STATUSES) + ".")]
SearchFilter = Annotated[list[str] | None, typer.Option(
    "--search-attribute", "-a", metavar="KEY=VALUE",
    help="Only runs whose search attribute KEY equals VALUE (JSON if it parses, else text: "
         "customer=c-42, tier=3); repeat to require several.")]
AfterFilter = Annotated[str | None, typer.Option(
    metavar="WHEN", help="Only runs started at or after WHEN: 2026-11-22T10:00 (local time "
                         "unless it has an offset) or an age: 15m, 2h, 3d.")]
BeforeFilter = Annotated[str | None, typer.Option(
    metavar="WHEN", help="Only runs started before WHEN (as --started-after).")]


class FilterArgs(TypedDict):
    """The filter keywords of ``Client.list_workflows`` and ``count_workflows``."""

    workflow_type: str | None
    status: str | None
    search_attributes: SearchAttributes | None
    started_after: dt.datetime | None
    started_before: dt.datetime | None


@dataclasses.dataclass(frozen=True)
class Filters:
    workflow_type: str | None = None
    status: str | None = None
    search_attributes: SearchAttributes | None = None
    """What the user gave with ``--search-attribute KEY=VALUE``."""
    started_after: dt.datetime | None = None
    started_before: dt.datetime | None = None

    def as_kwargs(self) -> FilterArgs:
        return FilterArgs(workflow_type=self.workflow_type, status=self.status,
                          search_attributes=self.search_attributes,
                          started_after=self.started_after, started_before=self.started_before)


def parse_time(text: str, option: str, *, now: dt.datetime | None = None) -> dt.datetime:
    """``2026-11-22``, ``2026-11-22T10:00`` (local time unless it says otherwise, as the
    tables show times), or an age: ``90s``, ``15m``, ``2h``, ``3d``, ``1w`` ago."""
    now = now or dt.datetime.now(dt.UTC)
    m = _AGO.match(text.strip())
    if m:
        return now - dt.timedelta(seconds=float(m.group(1)) * _UNIT[m.group(2)])
    try:
        t = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        fail(f"{option} {text!r} is neither a date/time (2026-11-22T10:00, 2026-11-22) nor an "
             "age (90s, 15m, 2h, 3d, 1w)")
    return t.astimezone(dt.UTC) if t.tzinfo else t.astimezone().astimezone(dt.UTC)


def parse_search_attribute(text: str) -> tuple[str, Any]:
    """``KEY=VALUE``; the value is JSON when it parses as JSON (``tier=3`` is the number 3,
    ``tier='"3"'`` the string), else the text itself (``customer=c-42``)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        fail(f"--search-attribute {text!r} is not KEY=VALUE")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return key.strip(), value


def parse_filters(workflow_type: str | None, status: str | None,
                  search_attributes: list[str] | None, started_after: str | None,
                  started_before: str | None) -> Filters:
    if status is not None and status.upper() not in STATUSES:
        fail(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
    after = parse_time(started_after, "--started-after") if started_after else None
    before = parse_time(started_before, "--started-before") if started_before else None
    if after and before and after >= before:
        fail("--started-after must be earlier than --started-before")
    sa = dict(parse_search_attribute(a) for a in search_attributes or []) or None
    return Filters(workflow_type or None, status.upper() if status else None, sa, after, before)
