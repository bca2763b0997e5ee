"""What a payload codec costs a payload (issue 16), in process: encode then decode one
envelope, for a small payload (an order id and an amount, about 60 bytes of JSON) and a larger
one (a 10 KiB document), with AES-GCM, zlib, and the chain of both that docs/codecs.md shows.

    python -m bench.codec_cost [--number 20000]

Prints microseconds per payload (best of 5 repetitions), encode and decode separately. The
codec runs in clients and workers only, so this is added to theirs per payload they send or
receive; the server's work does not change (it stores the encoded envelope's bytes).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Awaitable, Callable

from plait.codec import AESGCMCodec, PayloadCodec, ZlibCodec, chain
from plait.protocol.common import Payload

SMALL: Payload = {"encoding": "json",
                  "data": {"order": "o-12345", "amount_cents": 129900, "eur": True}}
LARGE: Payload = {"encoding": "json",
                  "data": {"lines": [{"sku": f"sku-{i:05}", "qty": i % 7, "note": "gift wrap"}
                                     for i in range(220)]}}


async def _per_call(fn: Callable[[], Awaitable[object]], number: int) -> float:
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(number):
            await fn()
        best = min(best, time.perf_counter() - t)
    return best / number * 1e6


def _encoding(codec: PayloadCodec, payload: Payload) -> Callable[[], Awaitable[object]]:
    return lambda: codec.encode([payload])


def _decoding(codec: PayloadCodec, encoded: list[Payload]) -> Callable[[], Awaitable[object]]:
    return lambda: codec.decode(encoded)


async def measure(number: int) -> None:
    key = os.urandom(32)
    codecs: dict[str, PayloadCodec] = {
        "AES-GCM": AESGCMCodec(keys={"k1": key}, current="k1"),
        "zlib (min 1 KiB)": ZlibCodec(min_size=1024),
        "zlib + AES-GCM": chain(ZlibCodec(min_size=1024),
                                AESGCMCodec(keys={"k1": key}, current="k1")),
    }
    print("| codec | payload | encode µs | decode µs |\n|---|---|---|---|")
    for name, codec in codecs.items():
        for label, payload in (("small (~60 B)", SMALL), ("large (~10 KiB)", LARGE)):
            encoded = await codec.encode([payload])
            enc = await _per_call(_encoding(codec, payload), number)
            dec = await _per_call(_decoding(codec, encoded), number)
            print(f"| {name} | {label} | {enc:.1f} | {dec:.1f} |")


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.codec_cost")
    p.add_argument("--number", type=int, default=20_000)
    asyncio.run(measure(p.parse_args().number))


if __name__ == "__main__":
    main()
