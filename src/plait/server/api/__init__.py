"""The HTTP API (``/api/v1``): one module per resource; :mod:`plait.server.app` assembles
them into the application."""
