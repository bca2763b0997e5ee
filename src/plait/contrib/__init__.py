"""Glue between plait and other frameworks; never imported by plait's core."""
