"""Namespaces and API keys as every backend stores them (the conformance suite's fixtures)."""

from __future__ import annotations

from plait.server.auth import make_key
from plait.store.base import Store


async def test_namespaces(store: Store) -> None:
    assert await store.write(lambda t: t.create_namespace("billing", 86400.0, "money", 5.0))
    assert not await store.write(lambda t: t.create_namespace("billing", 1.0, "", 6.0))
    row = await store.read(lambda t: t.describe_namespace("billing"))
    assert row is not None
    assert (row.name, row.retention_seconds, row.description, row.created_at) == (
        "billing", 86400.0, "money", 5.0)
    assert await store.write(lambda t: t.update_namespace("billing", 60.0, None))
    changed = await store.read(lambda t: t.describe_namespace("billing"))
    assert changed is not None and (changed.retention_seconds, changed.description) == (
        60.0, "money")
    assert not await store.write(lambda t: t.update_namespace("nope", 1.0, None))
    assert await store.read(lambda t: t.describe_namespace("nope")) is None
    await store.write(lambda t: t.ensure_namespace("older", 7.0))  # as before creation
    names = await store.read(lambda t: [(n.name, n.created_at) for n in t.list_namespaces()])
    assert names == [("billing", 5.0), ("older", 0.0)]


async def test_api_keys(store: Store) -> None:
    a = make_key("billing", "worker", "w", now=100.0, expires_in=50.0)
    b = make_key("*", "admin", now=101.0)
    for made in (a, b):
        await store.write(lambda t, row=made.row: t.insert_api_key(row))
    assert await store.read(lambda t: t.get_api_key(a.row.key_id)) == a.row
    assert await store.read(lambda t: t.list_api_keys()) == [a.row, b.row]
    assert await store.write(lambda t: t.revoke_api_key(a.row.key_id, 120.0))
    assert not await store.write(lambda t: t.revoke_api_key(a.row.key_id, 130.0))
    assert not await store.write(lambda t: t.revoke_api_key("0000000000000000", 130.0))
    revoked = await store.read(lambda t: t.get_api_key(a.row.key_id))
    assert revoked is not None and revoked.revoked_at == 120.0 and revoked.expires_at == 150.0
    assert await store.read(lambda t: t.get_api_key("0000000000000000")) is None
