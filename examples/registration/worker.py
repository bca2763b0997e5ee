"""Run the registration worker: ``python examples/registration/worker.py``.

It connects to ``PLAIT_ADDRESS`` (default http://127.0.0.1:7233) and polls the task queue
"registration". Ctrl-C (or SIGTERM) stops it gracefully; kill -9 is fine too - another worker
(or this one, restarted) picks the work up where it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from activities import RegistryActivities
from downstream import FakeRegistry, Settings
from workflows import TASK_QUEUE, SmsRegistration

from plait import Client, Worker


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    client = await Client.connect()
    registry = FakeRegistry(Settings.from_env())
    worker = Worker(client, task_queue=TASK_QUEUE, workflows=[SmsRegistration],
                    activities=RegistryActivities(registry).all())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: asyncio.ensure_future(worker.shutdown()))
    print(f"worker polling task queue {TASK_QUEUE!r} on {client.address}", flush=True)
    try:
        await worker.run()
    finally:
        registry.close()
        await client.close()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
