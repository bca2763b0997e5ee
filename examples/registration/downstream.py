"""A simulated campaign registry, as US carriers require for business SMS ("10DLC").

Before a business may text from ordinary 10-digit numbers, it registers its *brand* (who is
sending), then a *campaign* (what it sends and why), which the registry vets; only then can
phone numbers be attached to the campaign. Real registries are slow, fail now and then,
rate-limit their clients and reject malformed input. This one does all four, on purpose:

- every call takes a random time (``latency``);
- some calls fail with a transient "503 service unavailable" before doing anything;
- some calls *do* their work and then lose the response ("504 gateway timeout"): the caller
  cannot know whether it worked, so retrying must be safe (see ``activities.py``);
- more than ``rate_per_second`` calls per second get "429 rate limited";
- malformed input (an EIN that is not ``12-3456789``, a number that is not ``+1`` and 10
  digits) is rejected with a non-retryable ``ValidationError``.

Records can be removed again (deregistering a brand or campaign, releasing a number), in the
order a real registry insists on: a campaign's numbers before the campaign, a brand's campaigns
before the brand. Removing what is not there is a no-op, so a retried removal is safe.

Records live in a small SQLite file, so a worker that is killed and restarted sees what an
earlier one registered, as it would with a real registry. Every change that took effect is
also appended to a ``journal`` table, in order, which the tests read. Every knob can be set
from the environment (``FAKE_REGISTRY_*``); the tests turn latency and vetting time down.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import random
import re
import sqlite3
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from plait.errors import ApplicationError

__all__ = ["FakeRegistry", "Settings"]

T = TypeVar("T")

EIN = re.compile(r"^\d{2}-\d{7}$")
US_NUMBER = re.compile(r"^\+1[2-9]\d{9}$")
USE_CASES = {"2FA", "ACCOUNT_NOTIFICATION", "CUSTOMER_CARE", "MARKETING", "DELIVERY_NOTIFICATION"}

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL,         -- brand | campaign | number
    key TEXT NOT NULL,          -- the caller's reference (brand/campaign ref, phone number)
    id TEXT NOT NULL,           -- the registry's id for it
    data TEXT NOT NULL,         -- JSON
    created REAL NOT NULL,
    PRIMARY KEY (kind, key)
);
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    op TEXT NOT NULL,           -- register | deregister
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    at REAL NOT NULL
);
"""


@dataclasses.dataclass(frozen=True)
class Settings:
    """How badly the registry behaves."""

    latency: float = 0.8
    """Upper bound of a call's latency in seconds (uniform from a tenth of it)."""
    failure_rate: float = 0.15
    """Chance that a call fails with a transient 503 before doing anything."""
    lost_response_rate: float = 0.05
    """Chance that a call does its work but the response is lost (504)."""
    rate_per_second: float = 5.0
    """Calls per second the registry accepts before answering 429."""
    vetting_seconds: float = 3.0
    """How long a new campaign stays PENDING before it is APPROVED."""
    db_path: str = "registry-sim.db"
    """Where the registry keeps its records."""

    @staticmethod
    def from_env() -> Settings:
        """Defaults, overridden by ``FAKE_REGISTRY_LATENCY`` and friends."""
        env = os.environ
        d = Settings()
        return Settings(
            latency=float(env.get("FAKE_REGISTRY_LATENCY", d.latency)),
            failure_rate=float(env.get("FAKE_REGISTRY_FAILURE_RATE", d.failure_rate)),
            lost_response_rate=float(env.get("FAKE_REGISTRY_LOST_RESPONSE_RATE",
                                             d.lost_response_rate)),
            rate_per_second=float(env.get("FAKE_REGISTRY_RATE_PER_SECOND", d.rate_per_second)),
            vetting_seconds=float(env.get("FAKE_REGISTRY_VETTING_SECONDS", d.vetting_seconds)),
            db_path=env.get("FAKE_REGISTRY_DB", d.db_path),
        )


def invalid(message: str) -> ApplicationError:
    """Bad input: retrying cannot help, so it is never retried."""
    return ApplicationError(message, type="ValidationError", non_retryable=True)


class FakeRegistry:
    """The registry's API. Creating calls are idempotent on the caller's reference."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self._db = sqlite3.connect(self.settings.db_path, timeout=10, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        self._window: list[float] = []  # times of calls in the last second, for the 429s

    def close(self) -> None:
        self._db.close()

    # -- the API --------------------------------------------------------------------------------
    async def register_brand(self, ref: str, legal_name: str, ein: str, website: str) -> str:
        """The brand id; registering the same ``ref`` again returns the same id."""
        if not EIN.match(ein):
            raise invalid(f"EIN {ein!r} is not of the form 12-3456789")
        if not legal_name.strip():
            raise invalid("legal name is empty")
        data = {"legal_name": legal_name, "ein": ein, "website": website}
        return await self._call(lambda: self._create("brand", ref, "B", data))

    async def register_campaign(self, brand_id: str, ref: str, use_case: str,
                                description: str, sample_messages: list[str]) -> str:
        """The campaign id (PENDING until vetted); idempotent on ``ref``."""
        if use_case not in USE_CASES:
            raise invalid(f"use case {use_case!r} is not one of {sorted(USE_CASES)}")
        if not sample_messages:
            raise invalid("a campaign needs at least one sample message")

        def create() -> str:
            if self._find_by_id("brand", brand_id) is None:
                raise invalid(f"unknown brand {brand_id}")
            data = {"brand_id": brand_id, "use_case": use_case, "description": description,
                    "sample_messages": sample_messages}
            return self._create("campaign", ref, "C", data)

        return await self._call(create)

    async def campaign_status(self, campaign_id: str) -> str:
        """PENDING while the campaign is vetted, then APPROVED."""

        def status() -> str:
            row = self._find_by_id("campaign", campaign_id)
            if row is None:
                raise invalid(f"unknown campaign {campaign_id}")
            vetted = time.time() - row["created"] >= self.settings.vetting_seconds
            return "APPROVED" if vetted else "PENDING"

        return await self._call(status)

    async def assign_number(self, campaign_id: str, number: str) -> str:
        """The assignment id; assigning a number to the same campaign again is a no-op."""
        if not US_NUMBER.match(number):
            raise invalid(f"{number!r} is not a US number in E.164 form (+1 and 10 digits)")

        def assign() -> str:
            existing = self._find("number", number)
            if existing is not None and existing["data"]["campaign_id"] != campaign_id:
                raise invalid(f"{number} is already on campaign "
                              f"{existing['data']['campaign_id']}")
            return self._create("number", number, "N", {"campaign_id": campaign_id})

        return await self._call(assign)

    async def deregister_brand(self, ref: str) -> bool:
        """Remove the brand registered as ``ref``; whether there was one to remove."""

        def remove() -> bool:
            brand = self._find("brand", ref)
            if brand is None:
                return False
            if self._count("campaign", "brand_id", brand["id"]):
                raise invalid(f"brand {brand['id']} still has campaigns; deregister them first")
            return self._remove("brand", ref)

        return await self._call(remove)

    async def deregister_campaign(self, ref: str) -> bool:
        """Remove the campaign registered as ``ref``; whether there was one to remove."""

        def remove() -> bool:
            campaign = self._find("campaign", ref)
            if campaign is None:
                return False
            if self._count("number", "campaign_id", campaign["id"]):
                raise invalid(f"campaign {campaign['id']} still has numbers; release them first")
            return self._remove("campaign", ref)

        return await self._call(remove)

    async def release_number(self, campaign_id: str, number: str) -> bool:
        """Take ``number`` off ``campaign_id``; whether it was on it. A number on another
        campaign is left alone."""

        def release() -> bool:
            existing = self._find("number", number)
            if existing is None or existing["data"]["campaign_id"] != campaign_id:
                return False
            return self._remove("number", number)

        return await self._call(release)

    # -- how every call behaves ----------------------------------------------------------------
    async def _call(self, op: Callable[[], T]) -> T:
        s = self.settings
        self._rate_limit()
        await asyncio.sleep(random.uniform(s.latency / 10, s.latency))
        if random.random() < s.failure_rate:
            raise ApplicationError("503 service unavailable", type="RegistryUnavailable")
        result = op()
        if random.random() < s.lost_response_rate:
            raise ApplicationError("504 gateway timeout (the request may have been applied)",
                                   type="RegistryUnavailable")
        return result

    def _rate_limit(self) -> None:
        now = time.monotonic()
        self._window = [t for t in self._window if now - t < 1.0]
        if len(self._window) >= self.settings.rate_per_second:
            raise ApplicationError("429 rate limited: slow down", type="RateLimited")
        self._window.append(now)

    # -- records -------------------------------------------------------------------------------
    def _create(self, kind: str, key: str, prefix: str, data: dict[str, Any]) -> str:
        """Insert unless ``(kind, key)`` exists; either way, the record's id."""
        new_id = prefix + uuid.uuid4().hex[:7].upper()
        with self._db:  # the record and its journal line, or neither
            self._db.execute("BEGIN")
            inserted = self._db.execute("INSERT OR IGNORE INTO records VALUES (?, ?, ?, ?, ?)",
                                        (kind, key, new_id, json.dumps(data), time.time()))
            if inserted.rowcount:
                self._journal("register", kind, key)
        row = self._find(kind, key)
        assert row is not None
        return str(row["id"])

    def _remove(self, kind: str, key: str) -> bool:
        with self._db:
            self._db.execute("BEGIN")
            deleted = self._db.execute("DELETE FROM records WHERE kind = ? AND key = ?",
                                       (kind, key))
            if deleted.rowcount:
                self._journal("deregister", kind, key)
        return bool(deleted.rowcount)

    def _journal(self, op: str, kind: str, key: str) -> None:
        self._db.execute("INSERT INTO journal (op, kind, key, at) VALUES (?, ?, ?, ?)",
                         (op, kind, key, time.time()))

    def _count(self, kind: str, field: str, value: str) -> int:
        row = self._db.execute(
            "SELECT count(*) FROM records WHERE kind = ? AND json_extract(data, ?) = ?",
            (kind, f"$.{field}", value)).fetchone()
        return int(row[0])

    def _find(self, kind: str, key: str) -> dict[str, Any] | None:
        return self._one("SELECT id, data, created FROM records WHERE kind = ? AND key = ?",
                         kind, key)

    def _find_by_id(self, kind: str, record_id: str) -> dict[str, Any] | None:
        return self._one("SELECT id, data, created FROM records WHERE kind = ? AND id = ?",
                         kind, record_id)

    def _one(self, sql: str, *args: str) -> dict[str, Any] | None:
        row = self._db.execute(sql, args).fetchone()
        if row is None:
            return None
        return {"id": row[0], "data": json.loads(row[1]), "created": row[2]}
