"""``plait server`` refuses settings it cannot use: one ``error:`` line that names the
problem, a non-zero exit, and nothing created (issue 11: these printed "cannot listen on
127.0.0.1:PORT", created a file named after the bad URL, or printed a traceback)."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from tests.integration.cli_process import one_line_error, plait

pytestmark = pytest.mark.timeout(60)


def refused(tmp_path: Path, *args: str) -> str:
    """Start ``plait server ARGS`` in an empty folder; its error line, having created nothing."""
    line = one_line_error(plait("server", "--port", "0", *args, cwd=tmp_path))
    assert "cannot listen" not in line
    assert list(tmp_path.iterdir()) == []
    return line


def test_missing_directory_is_named(tmp_path: Path) -> None:
    line = refused(tmp_path, "--db", "sqlite:///missing-dir/x.db")
    assert str(tmp_path / "missing-dir") in line and "does not exist" in line


def test_unknown_scheme_is_named(tmp_path: Path) -> None:
    line = refused(tmp_path, "--db", "mysql://x")
    assert "unknown database scheme 'mysql'" in line and "postgresql://" in line


def test_a_bare_word_is_not_a_file_name(tmp_path: Path) -> None:
    line = refused(tmp_path, "--db", "notaurl")
    assert "'notaurl' is not a database URL" in line and "sqlite:///" in line


def test_database_url_from_the_environment_is_checked_too(tmp_path: Path) -> None:
    line = one_line_error(plait("server", "--port", "0", cwd=tmp_path,
                                env={"PLAIT_DB": "notaurl"}))
    assert "not a database URL" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(sys.platform != "linux", reason="/proc is Linux's")
def test_unwritable_place_is_named(tmp_path: Path) -> None:
    line = refused(tmp_path, "--db", "sqlite:////proc/x")
    assert "cannot create files in /proc" in line


def test_a_directory_is_not_a_database(tmp_path: Path) -> None:
    line = one_line_error(plait("server", "--port", "0", "--db", f"sqlite:///{tmp_path}",
                                cwd=tmp_path))
    assert "is a directory" in line


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x" * 4096)
    line = one_line_error(plait("server", "--port", "0", "--db", "sqlite:///notes.txt",
                                cwd=tmp_path))
    assert "cannot open the database sqlite:///notes.txt" in line


@pytest.mark.parametrize("port", ["99999", "-1"])
def test_port_out_of_range(tmp_path: Path, port: str) -> None:
    line = one_line_error(plait("server", "--db", "sqlite:///plait.db", "--port", port,
                                cwd=tmp_path))
    assert f"--port {port} is out of range" in line
    assert list(tmp_path.iterdir()) == []


def test_unknown_log_level(tmp_path: Path) -> None:
    line = refused(tmp_path, "--log-level", "chatty")
    assert "'chatty' is not one of" in line and "Value error" not in line


def test_port_in_use_creates_no_database(tmp_path: Path) -> None:
    """The server listens before it opens the database, so this leaves nothing behind."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = str(s.getsockname()[1])
        line = one_line_error(plait("server", "--db", "sqlite:///plait.db", "--port", port,
                                    cwd=tmp_path))
    assert f"cannot listen on 127.0.0.1:{port}" in line and "in use" in line
    assert list(tmp_path.iterdir()) == []


def test_malformed_postgres_url_without_its_password(tmp_path: Path) -> None:
    line = refused(tmp_path, "--db", "postgresql://plait:secret@db/plait?bogus=1")
    assert "is not a PostgreSQL URL" in line and "bogus" in line
    assert "secret" not in line and "plait:***@db" in line
    line = refused(tmp_path, "--db", "mysql://root:secret@db/x")
    assert "secret" not in line and "unknown database scheme 'mysql'" in line
