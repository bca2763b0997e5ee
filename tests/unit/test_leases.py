"""The in-memory worker leases (``server.leases``): when a renewal may skip the database."""

from __future__ import annotations

from plait.server.leases import HORIZON, Leases


def test_with_its_own_database_a_renewal_skips_the_write_while_the_copy_covers_it() -> None:
    leases = Leases(5.0, own_database=True)
    assert leases.ahead == 5.0 * HORIZON
    leases.update({"s": 105.0}, {"s": 100.0 + leases.ahead})
    assert leases.renew_in_memory("s", 101.0)
    assert leases.until["s"] == 106.0
    # Once the written copy no longer covers a full expiry, the renewal must be written.
    assert not leases.renew_in_memory("s", 100.0 + leases.ahead - 4.0)


def test_a_shared_database_is_always_written() -> None:
    leases = Leases(5.0, own_database=False)
    assert leases.ahead == 5.0
    leases.update({"s": 105.0}, {"s": 1000.0})
    assert not leases.renew_in_memory("s", 101.0)


def test_an_unknown_ended_or_shortening_session_is_not_renewed_in_memory() -> None:
    leases = Leases(5.0, own_database=True)
    assert not leases.renew_in_memory("nobody", 1.0)
    leases.update({"s": 105.0, "t": 105.0}, {"s": 130.0, "t": 130.0})
    leases.update({"s": None}, {})
    assert "s" not in leases.until and "s" not in leases.written
    assert not leases.renew_in_memory("s", 101.0)
    leases.shortening.add("t")
    assert not leases.renew_in_memory("t", 101.0)


def test_due_and_forget() -> None:
    leases = Leases(5.0, own_database=True)
    leases.update({"a": 10.0, "b": 20.0}, {"a": 40.0, "b": 50.0})
    assert leases.earliest() == 10.0
    assert leases.due(15.0) == ["a"]
    leases.forget_due(15.0)
    assert list(leases.until) == ["b"] and list(leases.written) == ["b"]
    assert leases.earliest() == 20.0
