"""The server's log formats (``plait.server.logs``): JSON lines that parse, with the record's
context and the exception's type; text lines with the context as ``key=value``."""

from __future__ import annotations

import io
import json
import logging

import pytest

from plait.server.logs import LogFormat, configure


@pytest.fixture
def restore_root() -> object:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


def lines(out: io.StringIO) -> list[str]:
    return out.getvalue().splitlines()


def test_json_lines_parse_with_context_and_exception_type(restore_root: object) -> None:
    out = io.StringIO()
    configure("info", LogFormat.json, out)
    log = logging.getLogger("plait.test")
    log.debug("not at info")
    log.info("ran %s", "x", extra={"workflow_id": "w1", "attempt": 2})
    try:
        raise KeyError("k")
    except KeyError:
        log.exception("failed\nover two lines")
    first, second = (json.loads(line) for line in lines(out))
    assert list(first)[:4] == ["time", "level", "logger", "message"]
    assert first["level"] == "INFO" and first["logger"] == "plait.test"
    assert first["message"] == "ran x" and first["workflow_id"] == "w1" and first["attempt"] == 2
    assert second["level"] == "ERROR" and second["message"] == "failed\nover two lines"
    assert second["exc_type"] == "KeyError"
    assert "Traceback" in second["exc_info"] and "KeyError: 'k'" in second["exc_info"]


def test_json_keeps_a_line_whose_extra_is_not_json(restore_root: object) -> None:
    out = io.StringIO()
    configure("info", "json", out)
    logging.getLogger("plait.test").info("odd", extra={"thing": object()})
    (record,) = (json.loads(line) for line in lines(out))
    assert record["thing"].startswith("<object object")


def test_exception_type_names_its_module(restore_root: object) -> None:
    from plait.errors import ApplicationError

    out = io.StringIO()
    configure("info", "json", out)
    try:
        raise ApplicationError("no")
    except ApplicationError:
        logging.getLogger("plait.test").exception("x")
    (record,) = (json.loads(line) for line in lines(out))
    assert record["exc_type"] == "plait.errors.ApplicationError"


def test_text_appends_the_context(restore_root: object) -> None:
    out = io.StringIO()
    configure("warning", "text", out)
    logging.getLogger("plait.test").warning("slow", extra={"workflow_id": "w1"})
    (line,) = lines(out)
    assert line.endswith(" WARNING plait.test: slow workflow_id=w1")
