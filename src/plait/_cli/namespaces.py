"""``plait namespace create|list|describe|update NAME`` (API.md "Namespaces, API keys, TLS").
Mounted on the ``plait`` command by :mod:`plait.cli`."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer

from plait._cli import render
from plait._cli.runner import Output, fail, with_client
from plait.client import Client, NamespaceDescription

__all__ = ["namespace_app", "parse_duration"]

namespace_app = typer.Typer(help="Create, list, describe and update namespaces.",
                            no_args_is_help=True)

Address = Annotated[str, typer.Option(
    envvar="PLAIT_ADDRESS", help="The plait server (env PLAIT_ADDRESS).")]
ApiKey = Annotated[str | None, typer.Option(
    envvar="PLAIT_API_KEY", help="An API key, for a server with --auth (env PLAIT_API_KEY).")]
OutputOpt = Annotated[Output, typer.Option("--output", "-o", help="text or json.")]
NameArg = Annotated[str, typer.Argument(metavar="NAME", help="The namespace.")]
Retention = Annotated[str | None, typer.Option(
    help="How long closed runs are kept: 90s, 30m, 12h, 30d.")]
DEFAULT_ADDRESS = "http://127.0.0.1:7233"
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str, option: str) -> dt.timedelta:
    """``90s``, ``30m``, ``12h``, ``30d``; anything else is one ``error:`` line."""
    t = text.strip()
    try:
        seconds = float(t[:-1]) * _UNIT[t[-1]]
    except (KeyError, ValueError, IndexError):
        fail(f"{option} {text!r} is not a duration like 90s, 30m, 12h or 30d")
    if not seconds > 0:
        fail(f"{option} must be more than zero")
    return dt.timedelta(seconds=seconds)


def _json(n: NamespaceDescription) -> dict[str, Any]:
    return {"name": n.name, "retention": n.retention.total_seconds(),
            "description": n.description,
            "created_at": n.created_at.isoformat() if n.created_at else None}


def _show(rows: list[NamespaceDescription], output: Output) -> None:
    if output is Output.json:
        render.print_json([_json(n) for n in rows])
        return
    for n in rows:
        line = f"{n.name}\tretention {render.fmt_span(n.retention.total_seconds())}"
        typer.echo(line + (f"\t{n.description}" if n.description else ""))


@namespace_app.command()
def create(name: NameArg, retention: Retention = None,
           description: Annotated[str, typer.Option(help="What it is for.")] = "",
           address: Address = DEFAULT_ADDRESS, api_key: ApiKey = None,
           output: OutputOpt = Output.text) -> None:
    """Create a namespace (an admin key for '*' on a server with --auth)."""
    kept = parse_duration(retention, "--retention") if retention else None

    async def go(client: Client) -> NamespaceDescription:
        return await client.create_namespace(name, retention=kept, description=description)
    _show([with_client(address, "default", go, api_key=api_key)], output)


@namespace_app.command("list")
def list_(address: Address = DEFAULT_ADDRESS, api_key: ApiKey = None,
          output: OutputOpt = Output.text) -> None:
    """Every namespace (those your key covers, with --auth)."""
    async def go(client: Client) -> list[NamespaceDescription]:
        return await client.list_namespaces()
    _show(with_client(address, "default", go, api_key=api_key), output)


@namespace_app.command()
def describe(name: NameArg, address: Address = DEFAULT_ADDRESS, api_key: ApiKey = None,
             output: OutputOpt = Output.text) -> None:
    """One namespace."""
    async def go(client: Client) -> NamespaceDescription:
        return await client.describe_namespace(name)
    _show([with_client(address, "default", go, api_key=api_key)], output)


@namespace_app.command()
def update(name: NameArg, retention: Retention = None,
           description: Annotated[str | None, typer.Option(help="What it is for.")] = None,
           address: Address = DEFAULT_ADDRESS, api_key: ApiKey = None,
           output: OutputOpt = Output.text) -> None:
    """Change a namespace's retention or description."""
    if retention is None and description is None:
        fail("nothing to change: give --retention or --description")
    kept = parse_duration(retention, "--retention") if retention else None

    async def go(client: Client) -> NamespaceDescription:
        return await client.update_namespace(name, retention=kept, description=description)
    _show([with_client(address, "default", go, api_key=api_key)], output)
