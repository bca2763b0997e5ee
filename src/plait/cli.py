"""The ``plait`` command: run the server, and work with workflows from a shell."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from typing import Annotated

import typer

__all__ = ["app", "main"]

app = typer.Typer(help="plait: a durable workflow engine for Python.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)


@app.callback()
def _root() -> None:
    """plait: a durable workflow engine for Python."""


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def _run(coro: object) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(coro)  # type: ignore[arg-type]


@app.command()
def server(
    db: Annotated[str, typer.Option(envvar="PLAIT_DB", help="sqlite:///PATH (default "
                                    "./plait.db) or postgresql://...")] = "sqlite:///./plait.db",
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 7233,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error")] = "info",
) -> None:
    """Run the orchestrator: HTTP API under /api/v1, web UI at /, metrics at /metrics."""
    from plait.server.main import serve
    from plait.store import StoreUnavailable

    logging.basicConfig(level=log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        _run(serve(db, host, port))
    except StoreUnavailable as e:
        _fail(str(e))
    except OSError as e:
        _fail(f"cannot listen on {host}:{port}: {e.strerror or e}")


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()
