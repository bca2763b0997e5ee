"""The web UI: one static page that reads the JSON API (list, describe, history, attempts)."""

from __future__ import annotations

from importlib import resources

from aiohttp import web

__all__ = ["add_routes"]


async def index(request: web.Request) -> web.Response:
    html = resources.files("plait.server.ui").joinpath("index.html").read_text()
    return web.Response(text=html, content_type="text/html")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", index)
