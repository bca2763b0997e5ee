"""Database URLs: which ones plait takes, the store each opens, and how to show one safely.

A ``--db`` the server cannot use is refused before anything is created: without the check,
``notaurl`` became a SQLite file of that name, and ``mysql://x`` or a missing folder surfaced
as "cannot listen on HOST:PORT" (the store's OSError).
"""

from __future__ import annotations

import os
import tempfile
import urllib.parse

from plait.store.base import Store

__all__ = ["DB_FORMS", "DatabaseURLError", "check_url", "open_store", "redact"]

DB_SCHEMES = ("sqlite", "postgresql", "postgres")
DB_FORMS = "sqlite:///relative/path.db, sqlite:////absolute/path.db or postgresql://..."


class DatabaseURLError(ValueError):
    """A database URL plait cannot use; ``str()`` says which and why, in one line."""


def open_store(url: str) -> Store:
    """``sqlite:///relative.db``, ``sqlite:////abs.db``, a bare path, or ``postgresql://...``."""
    if url.startswith(("postgresql://", "postgres://")):
        from plait.store.postgres import PostgresStore

        return PostgresStore(url)
    from plait.store.sqlite import SQLiteStore

    path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else url
    return SQLiteStore(path)


def check_url(url: str) -> None:
    """Refuse a database URL plait cannot use (see the module docstring)."""
    scheme, sep, _ = url.partition("://")
    if not sep:
        raise DatabaseURLError(f"{url!r} is not a database URL; use {DB_FORMS}")
    if scheme not in DB_SCHEMES:
        raise DatabaseURLError(f"{redact(url)!r}: unknown database scheme {scheme!r}; "
                           f"use {DB_FORMS}")
    if scheme != "sqlite":
        _check_postgres_url(url)
        return
    if not url.startswith("sqlite:///"):
        raise DatabaseURLError(f"{url!r}: a SQLite URL has three slashes before a relative "
                           f"path and four before an absolute one ({DB_FORMS})")
    _check_sqlite_path(url, url[len("sqlite:///"):])


def _check_postgres_url(url: str) -> None:
    """A URL libpq cannot parse (``postgresql://u@[host``) raised psycopg's traceback."""
    from psycopg import ProgrammingError, conninfo

    try:
        conninfo.conninfo_to_dict(url)
    except ProgrammingError as e:
        raise DatabaseURLError(f"{redact(url)!r} is not a PostgreSQL URL: "
                           f"{str(e).replace(url, redact(url))}") from None


def redact(url: str) -> str:
    """``url`` without its password, for logs and error lines."""
    try:
        parts = urllib.parse.urlsplit(url)
        password = parts.password
    except ValueError:
        return url.partition("://")[0] + "://..."
    if not password:
        return url
    user, _, host = parts.netloc.rpartition("@")
    return parts._replace(netloc=f"{user.partition(':')[0]}:***@{host}").geturl()


def _check_sqlite_path(url: str, path: str) -> None:
    """The file must be creatable, or readable and writable: SQLite also writes its journal
    (``-wal``, ``-shm``) and plait its lock file beside it, so the folder must be writable."""
    if path == ":memory:":
        return
    if not path:
        raise DatabaseURLError(f"{url!r} names no file; use {DB_FORMS}")
    full = os.path.abspath(path)
    folder = os.path.dirname(full)
    if os.path.isdir(full):
        raise DatabaseURLError(f"{url!r}: {full} is a directory, not a database file")
    if not os.path.isdir(folder):
        what = "is not a directory" if os.path.exists(folder) else "does not exist"
        raise DatabaseURLError(f"{url!r}: the directory {folder} {what}")
    if os.path.exists(full) and not os.access(full, os.R_OK | os.W_OK):
        raise DatabaseURLError(f"{url!r}: {full} is not readable and writable")
    try:
        # An anonymous file (O_TMPFILE) leaves nothing behind; root passes os.access checks
        # on folders such as /proc where creating a file still fails.
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        raise DatabaseURLError(f"{url!r}: cannot create files in {folder} "
                           f"({e.strerror or e})") from None
