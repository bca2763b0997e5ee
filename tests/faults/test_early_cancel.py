"""A cancel that arrives before a workflow's first task reaches its code at its first await.

Found by the fault campaign (a Sleeper whose first workflow task was lost to a worker's
expired session, cancelled meanwhile): the run used to close CANCELED without its code ever
running, so the ``except asyncio.CancelledError`` compensation it was written with never
happened. API.md says cancellation "arrives as asyncio.CancelledError at the workflow's
current await" and that the workflow may run compensations; the runtime now delivers the
cancel on the loop's next turn, so the body runs to its first await and receives it there
(``plait.runtime.events_in``; Temporal's Python SDK does the same).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from plait import Client
from plait.errors import CancelledError, WorkflowFailureError
from tests.faults.campaign.rig import QUEUE, Rig

pytestmark = [pytest.mark.slow]


async def test_a_cancel_before_the_first_task_reaches_the_workflow_code(tmp_path: Path) -> None:
    rig = Rig(tmp_path, "sqlite", servers=1, workers=1, session_expiry=2.0)
    try:
        rig.start_server(0)
        client = await Client.connect(rig.address(0))
        try:
            handle = await client.start_workflow("Sleeper", id="early", task_queue=QUEUE)
            await handle.cancel()  # no worker yet: the first task has not run
            rig.start_worker(0)
            with pytest.raises(WorkflowFailureError) as failure:
                await handle.result()
            assert isinstance(failure.value.cause, CancelledError)
            types = [e.event_type for e in (await handle.fetch_history()).events]
            assert types.count("ACTIVITY_TASK_COMPLETED") == 1, types  # the compensation
        finally:
            await client.close()
    finally:
        rig.stop()
        rig.unmount()
