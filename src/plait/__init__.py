"""plait: a durable workflow engine for Python."""

from plait import activity, workflow
from plait.client import Client
from plait.history import History
from plait.retry import RetryPolicy
from plait.worker import Worker

__all__ = ["Client", "History", "RetryPolicy", "Worker", "activity", "workflow"]
__version__ = "0.1.0"
