"""Names shared by client and workflow code, where Temporal's SDK keeps them
(``temporalio.common``), so that code written for Temporal imports them unchanged.

The policies are string enums whose values are plait's own strings: a policy may be given
either way (``WorkflowIDReusePolicy.REJECT_DUPLICATE`` or ``"reject_duplicate"``).
"""

from __future__ import annotations

import enum

from plait.retry import RetryPolicy

__all__ = ["RetryPolicy", "WorkflowIDConflictPolicy", "WorkflowIDReusePolicy"]


class WorkflowIDReusePolicy(enum.StrEnum):
    """May a *closed* workflow's id start again (``id_reuse_policy``)."""

    ALLOW_DUPLICATE = "allow_duplicate"
    ALLOW_DUPLICATE_FAILED_ONLY = "allow_duplicate_failed_only"
    REJECT_DUPLICATE = "reject_duplicate"
    TERMINATE_IF_RUNNING = "terminate_if_running"
    """Temporal's older spelling of a conflict policy: plait reads it as
    ``id_conflict_policy="terminate_existing"`` with duplicates allowed."""


class WorkflowIDConflictPolicy(enum.StrEnum):
    """What a start does when its id is *running* (``id_conflict_policy``)."""

    FAIL = "fail"
    USE_EXISTING = "use_existing"
    TERMINATE_EXISTING = "terminate_existing"
