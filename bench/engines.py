"""The engines ``python -m bench compare`` runs, in the order they alternate, and the names
its reports give them."""

from __future__ import annotations

ENGINES = ["plait", "temporal", "temporal-nosandbox", "dbos-sqlite", "dbos-pg", "restate"]
LABELS = {"plait": "plait", "temporal": "Temporal", "temporal-nosandbox": "Temporal (no sandbox)",
          "dbos-sqlite": "DBOS (SQLite)", "dbos-pg": "DBOS (PostgreSQL)", "restate": "Restate"}
