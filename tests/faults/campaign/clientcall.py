"""One client call in a process of its own, so the campaign can kill -9 it mid-call.

    python -m tests.faults.campaign.clientcall ADDRESS start WID SPEC_JSON
    python -m tests.faults.campaign.clientcall ADDRESS signal WID ITEM
"""

from __future__ import annotations

import asyncio
import json
import sys

from plait import Client
from tests.faults.campaign.rig import QUEUE


async def main(address: str, what: str, wid: str, arg: str) -> None:
    client = await Client.connect(address)
    print("connected", flush=True)
    if what == "start":
        await client.start_workflow("Mixed", json.loads(arg), id=wid, task_queue=QUEUE)
    else:
        await client.get_workflow_handle(wid).signal("put", arg)
    print("done", flush=True)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
