"""``plait apikey create|list|revoke`` (API.md "Namespaces, API keys, TLS"). Mounted on the
``plait`` command by :mod:`plait.cli`.

Each works through a server (``--address``, with an admin key) or on the database itself
(``--db URL``): that is how the first admin key is made, before the server runs with
``--auth`` (a SQLite file is held by its server: make the key while it is stopped, or use
PostgreSQL). ``create`` prints the key once, alone on the last line of stdout; only its hash
is stored, so it cannot be shown again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from plait._cli import render
from plait._cli.namespaces import parse_duration
from plait._cli.runner import Output, fail, with_client
from plait.client import Client
from plait.protocol.tenancy import ApiKeyInfo, CreateApiKeyRequest, CreatedApiKey

if TYPE_CHECKING:
    from plait.store.api_keys import ApiKeyRow
    from plait.store.base import Txn

__all__ = ["ROLES", "apikey_app"]

T = TypeVar("T")

apikey_app = typer.Typer(help="Make, list and revoke API keys (for `plait server --auth`).",
                         no_args_is_help=True)

Address = Annotated[str, typer.Option(
    envvar="PLAIT_ADDRESS", help="The plait server (env PLAIT_ADDRESS).")]
ApiKey = Annotated[str | None, typer.Option(
    envvar="PLAIT_API_KEY", help="An admin key for the server (env PLAIT_API_KEY).")]
Db = Annotated[str | None, typer.Option(
    help="Work on this database directly instead of through a server (sqlite:///PATH or "
         "postgresql://...): how the first admin key is made.")]
OutputOpt = Annotated[Output, typer.Option("--output", "-o", help="text or json.")]
DEFAULT_ADDRESS = "http://127.0.0.1:7233"


def _on_db(url: str, fn: Callable[[Txn], T]) -> T:
    """``fn`` in one write transaction on the database itself."""
    from plait.server.main import StartupError, check_database_url
    from plait.store.urls import open_store

    try:
        check_database_url(url)
    except StartupError as e:
        fail(str(e))

    async def go() -> T:
        store = open_store(url)
        try:
            return await store.write(fn)
        finally:
            await store.close()
    try:
        return asyncio.run(go())
    except Exception as e:
        if os.environ.get("PLAIT_DEBUG") or isinstance(e, typer.Exit):
            raise
        fail(str(e) or type(e).__name__)


ROLES = ("reader", "writer", "worker", "admin")


def _info(row: ApiKeyRow) -> ApiKeyInfo:
    # The server's modules load only here: the other commands start without them.
    from plait.server.api.apikeys import key_info

    return key_info(row)


def _check_role(role: str) -> None:
    if role not in ROLES:
        fail(f"--role {role!r} is not one of reader, writer, worker, admin")


@apikey_app.command()
def create(
    namespace: Annotated[str, typer.Option(help="The namespace it covers, or '*' for all.")],
    role: Annotated[str, typer.Option(help="reader, writer, worker or admin.")],
    name: Annotated[str, typer.Option(help="Whose or what for (shown by list).")] = "",
    expires: Annotated[str | None, typer.Option(
        help="Expire after 90s, 30m, 12h, 90d (default: never).")] = None,
    address: Address = DEFAULT_ADDRESS, api_key: ApiKey = None, db: Db = None,
    output: OutputOpt = Output.text,
) -> None:
    """Make a key; it is printed once, alone on the last line."""
    _check_role(role)
    expires_in = parse_duration(expires, "--expires").total_seconds() if expires else None
    if db is not None:
        from plait.server.auth import make_key

        made = make_key(namespace, role, name, now=time.time(), expires_in=expires_in)

        def insert(t: Txn) -> None:
            # default always exists (a server creates its row when it starts)
            if namespace not in ("*", "default") and t.describe_namespace(namespace) is None:
                known = ", ".join(["default", *(n.name for n in t.list_namespaces()
                                                if n.name != "default")])
                raise ValueError(f"namespace {namespace!r} does not exist; known namespaces: "
                                 f"{known}")
            t.insert_api_key(made.row)
        _on_db(db, insert)
        info, key = _info(made.row), made.key
    else:
        async def go(client: Client) -> CreatedApiKey:
            return await client.api.create_api_key(CreateApiKeyRequest(
                namespace=namespace, role=role,  # type: ignore[arg-type]  # checked above
                name=name, expires_in=expires_in))
        created = with_client(address, "default", go, api_key=api_key)
        info, key = created, created.key
    if output is Output.json:
        render.print_json(_json(info))
    else:
        typer.echo(f"key_id: {info.key_id}\nnamespace: {info.namespace}\nrole: {info.role}"
                   + (f"\nexpires: {_when(info.expires_at)}" if info.expires_at else ""))
        typer.echo("the key (shown only now; store it safely):")
    typer.echo(key)


@apikey_app.command("list")
def list_(address: Address = DEFAULT_ADDRESS, api_key: ApiKey = None, db: Db = None,
          output: OutputOpt = Output.text) -> None:
    """The keys (never the keys themselves): id, name, namespace, role, expiry, revocation."""
    if db is not None:
        keys = [_info(r) for r in _on_db(db, lambda t: t.list_api_keys())]
    else:
        async def go(client: Client) -> list[ApiKeyInfo]:
            return await client.api.list_api_keys()
        keys = with_client(address, "default", go, api_key=api_key)
    if output is Output.json:
        render.print_json([_json(k) for k in keys])
        return
    for k in keys:
        state = "revoked" if k.revoked_at else (
            "expired" if k.expires_at and k.expires_at <= time.time() else "active")
        typer.echo(f"{k.key_id}\t{k.namespace}\t{k.role}\t{state}\t"
                   f"expires {_when(k.expires_at) if k.expires_at else 'never'}\t{k.name}")


@apikey_app.command()
def revoke(key_id: Annotated[str, typer.Argument(metavar="KEY_ID")],
           address: Address = DEFAULT_ADDRESS, api_key: ApiKey = None,
           db: Db = None) -> None:
    """Revoke a key: at once on the server it is revoked through, within 15 s on others."""
    if db is not None:
        def go_db(t: Txn) -> bool | None:
            if t.get_api_key(key_id) is None:
                return None
            return t.revoke_api_key(key_id, time.time())
        revoked = _on_db(db, go_db)
        if revoked is None:
            fail(f"no API key {key_id!r}")
    else:
        async def go(client: Client) -> bool:
            return (await client.api.revoke_api_key(key_id)).revoked
        revoked = with_client(address, "default", go, api_key=api_key)
    typer.echo(f"revoked {key_id}" if revoked else f"{key_id} was revoked already")


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds")


def _json(k: ApiKeyInfo) -> dict[str, Any]:
    return {"key_id": k.key_id, "name": k.name, "namespace": k.namespace, "role": k.role,
            "created_at": _when(k.created_at),
            "expires_at": _when(k.expires_at) if k.expires_at else None,
            "revoked_at": _when(k.revoked_at) if k.revoked_at else None}
