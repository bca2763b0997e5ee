"""How ``plait server`` writes its log: ``--log-format text`` (the default) or ``json``.

``json`` writes one object a line, for log pipelines: ``time`` (ISO 8601, UTC), ``level``,
``logger``, ``message``, then every attribute a record carries beyond the standard ones (the
``workflow_id``, ``run_id``, ``workflow_type``, ``activity_id``, ``attempt``... that
``workflow.logger`` and ``activity.logger`` add, anything passed as ``extra=``). A record
logged with an exception adds ``exc_type`` (the exception's qualified name) and ``exc_info``
(the traceback as text). ``text`` is a line per record, with the same extra attributes as
``key=value`` after the message.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import logging
import sys
from typing import Any, TextIO

__all__ = ["JsonFormatter", "LogFormat", "TextFormatter", "configure", "extras_of"]


class LogFormat(enum.StrEnum):
    text = "text"
    json = "json"


_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName"}
"""Attributes every record has: what is left on a record is what its logger added."""


def extras_of(record: logging.LogRecord) -> dict[str, Any]:
    """The attributes a record carries beyond the standard ones, in the order they were set."""
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not
            k.startswith("_")}


def _exc_type(record: logging.LogRecord) -> str | None:
    exc = record.exc_info[1] if record.exc_info else None
    if exc is None:
        return None
    cls = type(exc)
    return cls.__qualname__ if cls.__module__ == "builtins" \
        else f"{cls.__module__}.{cls.__qualname__}"


class JsonFormatter(logging.Formatter):
    """One JSON object a line (see the module's docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in extras_of(record).items():
            out.setdefault(key, value)
        exc_type = _exc_type(record)
        if exc_type is not None:
            out["exc_type"] = exc_type
            out["exc_info"] = self.formatException(record.exc_info)  # type: ignore[arg-type]
        if record.stack_info:
            out["stack_info"] = record.stack_info
        # default=str: an extra that JSON cannot hold (a datetime, an object) is written as
        # its text, never lost with the whole line.
        return json.dumps(out, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message key=value...``, then the traceback if any."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        extras = extras_of(record)
        if extras:
            line += " " + " ".join(f"{k}={v}" for k, v in extras.items())
        return line


def configure(level: str = "info", fmt: LogFormat | str = LogFormat.text,
              stream: TextIO | None = None) -> logging.Handler:
    """Send the root logger's records at ``level`` and above to ``stream`` (stderr) in
    ``fmt``; replaces the handlers the root logger had. Returns the handler."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if LogFormat(fmt) is LogFormat.json
                         else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler
