"""Temporal's ``temporalio.api`` names that custom converters use (``common.v1.Payload``)."""
