"""Temporal's ``temporalio.api.common``: see :mod:`plait.api.common.v1`."""
