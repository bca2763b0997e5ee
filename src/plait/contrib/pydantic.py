"""Temporal's ``pydantic_data_converter``, for code that passes it.

plait's JSON converter already encodes pydantic models and decodes them by the type hints
of the function they feed, so the pydantic converter is the default one.
"""

from __future__ import annotations

from plait.converter import DataConverter

__all__ = ["pydantic_data_converter"]

pydantic_data_converter = DataConverter.default
"""The default converter: pydantic models need nothing more in plait."""
