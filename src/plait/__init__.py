"""plait: a durable workflow engine for Python.

The public names are imported on first use (PEP 562 ``__getattr__``): ``from plait import
Client`` works as always, while ``plait server`` and the command line, which need no client,
worker or workflow runtime, do not pay for importing them (the client alone pulls in aiohttp's
client, which loads the system's CA certificates at import).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from plait import activity, workflow
    from plait.client import Client
    from plait.history import History
    from plait.retry import RetryPolicy
    from plait.worker import Worker

__all__ = ["Client", "History", "RetryPolicy", "Worker", "activity", "workflow"]
__version__ = "0.1.0"

_HOMES = {"Client": "plait.client", "History": "plait.history", "RetryPolicy": "plait.retry",
          "Worker": "plait.worker", "activity": "plait.activity", "workflow": "plait.workflow"}
"""Where each public name lives (a module for ``activity`` and ``workflow`` themselves)."""


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'plait' has no attribute {name!r}")
    module = importlib.import_module(home)
    value = module if home == f"plait.{name}" else getattr(module, name)
    globals()[name] = value  # once: later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
