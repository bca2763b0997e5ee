"""``plait codec-server``: a user's payload codec behind HTTP, for the web UI and other tools.

The plait server never decodes payloads (it has no keys); a browser showing a workflow asks
this small server instead, which runs the codec the user names with ``--codec
module:factory``, on the user's side::

    POST /encode   {"payloads": [<envelope>, ...]}  ->  {"payloads": [<envelope>, ...]}
    POST /decode   {"payloads": [<envelope>, ...]}  ->  {"payloads": [<envelope>, ...]}

Errors have the API's one shape, ``{"error": {"code", "message"}}``: ``bad_request`` (400) for
a body that is not ``{"payloads": [envelopes]}``, ``codec_error`` (422) for payloads the codec
refuses (a key it lacks, a tampered payload). CORS headers are sent only to the one origin
given with ``--cors-origin`` (the UI's), so no other web page can have payloads decoded.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import signal
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from plait._cli.loading import SetupError
from plait._payloads import decode_payloads, encode_payloads
from plait.codec import Payload, PayloadCodec
from plait.errors import PayloadCodecError
from plait.protocol.jsoncodec import dumps, loads

__all__ = ["check_listen", "make_codec_app", "serve_codecs"]

MAX_BODY = 64 * 1024 * 1024
"""Largest request accepted: a history page's worth of payloads."""

_CODEC = web.AppKey("codec", PayloadCodec)
_ORIGIN = web.AppKey("cors_origin", str)


def _json(value: Any, status: int = 200) -> web.Response:
    return web.Response(body=dumps(value), status=status, content_type="application/json")


def _error(status: int, code: str, message: str) -> web.Response:
    return _json({"error": {"code": code, "message": message}}, status)


def _cors(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    """The CORS headers, for the configured origin only."""
    origin = request.headers.get("Origin")
    allowed = request.app[_ORIGIN]
    if allowed and origin == allowed:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type, Authorization"
        response.headers["Access-Control-Max-Age"] = "600"
        response.headers["Vary"] = "Origin"
    return response


async def _payloads_of(request: web.Request) -> list[Payload] | web.Response:
    """The request's payloads, or the 400 that says what is wrong with the body."""
    try:
        body = loads(await request.read())
    except ValueError as exc:
        return _error(400, "bad_request", f"the body is not JSON: {exc}")
    payloads = body.get("payloads") if isinstance(body, dict) else None
    if not isinstance(payloads, list):
        return _error(400, "bad_request", 'expected {"payloads": [<envelope>, ...]}')
    for i, p in enumerate(payloads):
        if not isinstance(p, dict) or type(p.get("encoding")) is not str or "data" not in p:
            return _error(
                400,
                "bad_request",
                f'payloads[{i}] is not an envelope ({{"encoding": <string>, "data": ...}})',
            )
    return payloads


Coding = Callable[[PayloadCodec, list[Payload]], Awaitable[list[Payload]]]


def _route(coding: Coding) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        payloads = await _payloads_of(request)
        if isinstance(payloads, web.Response):
            return _cors(request, payloads)
        try:
            out = await coding(request.app[_CODEC], payloads)
        except PayloadCodecError as exc:
            return _cors(request, _error(422, "codec_error", str(exc)))
        return _cors(request, _json({"payloads": out}))

    return handle


async def _preflight(request: web.Request) -> web.StreamResponse:
    if request.headers.get("Origin") != request.app[_ORIGIN] or not request.app[_ORIGIN]:
        return _error(
            403,
            "forbidden",
            "this origin may not use the codec server (see plait codec-server --cors-origin)",
        )
    return _cors(request, web.Response(status=204))


async def _health(request: web.Request) -> web.StreamResponse:
    return _json({"status": "ok"})


def check_listen(host: str, port: int, *, insecure: bool) -> None:
    """Refuse a port out of range, and a non-loopback ``host`` without ``insecure``: the
    codec server asks for no key, so whoever reaches it can have payloads decoded."""
    if not 0 <= port <= 65535:
        raise SetupError(f"--port {port} is out of range: 1-65535, or 0 for a free port")
    if insecure or host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise SetupError(
            f"--host {host} is reachable from other machines, and the codec "
            "server asks for no key: anyone there could have payloads "
            "decoded; use --insecure to listen there anyway"
        )


def make_codec_app(codec: PayloadCodec, cors_origin: str | None = None) -> web.Application:
    """The codec server's routes around ``codec``; CORS for ``cors_origin`` alone."""
    app = web.Application(client_max_size=MAX_BODY)
    app[_CODEC] = codec
    app[_ORIGIN] = (cors_origin or "").rstrip("/")
    app.router.add_post("/encode", _route(encode_payloads))
    app.router.add_post("/decode", _route(decode_payloads))
    app.router.add_route("OPTIONS", "/encode", _preflight)
    app.router.add_route("OPTIONS", "/decode", _preflight)
    app.router.add_get("/health", _health)
    return app


async def serve_codecs(codec: PayloadCodec, host: str, port: int, cors_origin: str | None) -> None:
    """Serve until SIGINT or SIGTERM; prints ``plait codec server on http://HOST:PORT`` once
    it listens (the port it got, with ``--port 0``). ``OSError`` if it cannot listen."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    runner = web.AppRunner(
        make_codec_app(codec, cors_origin), access_log=None, handle_signals=False
    )
    await runner.setup()
    try:
        await web.SockSite(runner, sock).start()
        print(
            f"plait codec server on http://{host}:{sock.getsockname()[1]}"
            + (f" (CORS for {cors_origin})" if cors_origin else ""),
            flush=True,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()
        sock.close()
