"""Persistence: one narrow interface (:mod:`.base`), one module per database."""

from plait.store.base import Store, StoreUnavailable, Txn
from plait.store.urls import open_store

__all__ = ["Store", "StoreUnavailable", "Txn", "open_store"]
