"""Start N registrations and print how each ended: ``python examples/registration/start.py -n 3``.

Each registration waits for a compliance officer to approve its campaign before numbers are
assigned. By default this script plays the officer: it asks each workflow for its status (a
query) and approves it (a signal) once it is waiting. With ``--manual-approval`` it only says
which workflows wait; decide with ``approve.py``, or cancel one with ``plait workflow cancel``
and watch it undo what it registered.

Exits 0 when every registration completed. ``--with-invalid`` adds a brand with a malformed
EIN (its workflow fails at once: bad input is not retried) and a malformed phone number (the
registration completes; the number is listed as rejected).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import sys

from activities import Brand, Campaign
from workflows import TASK_QUEUE, RegistrationRequest, RegistrationResult, SmsRegistration

from plait import Client
from plait.client import WorkflowHandle
from plait.errors import CancelledError, PlaitError, WorkflowFailureError

OFFICER = "start.py (auto-approval)"
APPROVE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "approve.py")
if not os.path.relpath(APPROVE).startswith(".."):  # short when it is below the cwd
    APPROVE = os.path.relpath(APPROVE)


def request(ref: str, numbers: int, *, bad_ein: bool = False, bad_number: bool = False,
            approval_timeout: float = 2 * 24 * 3600.0) -> RegistrationRequest:
    """A plausible registration for the business ``ref``."""
    brand = Brand(ref=ref, legal_name=f"{ref.title()} LLC",
                  ein="12-34X" if bad_ein else f"{random.randint(10, 99)}-"
                                                f"{random.randint(1000000, 9999999)}",
                  website=f"https://{ref}.example")
    campaign = Campaign(ref=f"{ref}-notifications", use_case="ACCOUNT_NOTIFICATION",
                        description=f"Order and account updates from {brand.legal_name}",
                        sample_messages=["Your order 1234 has shipped. Reply STOP to opt out."])
    phones = [f"+1{random.randint(200, 999)}555{random.randint(1000, 9999)}"
              for _ in range(numbers)]
    if bad_number:
        phones.append("555-0100")
    return RegistrationRequest(brand, campaign, phones, vetting_poll_seconds=1.0,
                               approval_timeout_seconds=approval_timeout)


async def when_awaiting_approval(handle: WorkflowHandle, auto_approve: bool) -> None:
    """Ask the workflow for its status until it waits for approval; then approve it (as the
    compliance officer) or say how to."""
    while True:
        try:
            status = await handle.query(SmsRegistration.status)
        except PlaitError:  # e.g. no worker to answer just now: ask again
            status = None
        if status is not None and status.stage.startswith("awaiting approval"):
            break
        await asyncio.sleep(0.5)
    if auto_approve:
        await handle.signal(SmsRegistration.approve, OFFICER)
        print(f"APPROVED  {handle.id}: campaign {status.campaign_id}", flush=True)
    else:
        print(f"WAITING   {handle.id}: campaign {status.campaign_id} awaits approval:\n"
              f"          python {APPROVE} {handle.id} --by YOUR-NAME\n"
              f"          (or: plait workflow cancel {handle.id})", flush=True)


async def register(client: Client, req: RegistrationRequest, *, auto_approve: bool) -> bool:
    """Run one registration to its end; print the outcome; whether it completed."""
    workflow_id = f"registration-{req.brand.ref}"
    handle = await client.start_workflow(SmsRegistration.run, req, id=workflow_id,
                                         task_queue=TASK_QUEUE)
    print(f"started {workflow_id}  (plait workflow describe {workflow_id})", flush=True)
    approver = asyncio.create_task(when_awaiting_approval(handle, auto_approve))
    try:
        result: RegistrationResult = await handle.result()
    except WorkflowFailureError as e:
        how = "CANCELED " if isinstance(e.cause, CancelledError) else "FAILED   "
        undone = ""
        with contextlib.suppress(PlaitError):  # a closed workflow answers queries too
            status = await handle.query(SmsRegistration.status)
            if status.undone:
                undone = f"\n          undone: {', '.join(status.undone)}"
        print(f"{how} {workflow_id}: {e.cause}{undone}", flush=True)
        return False
    finally:
        approver.cancel()
    rejected = "".join(f"\n          rejected {n}: {why}" for n, why in result.rejected.items())
    print(f"COMPLETED {workflow_id}: brand {result.brand_id}, campaign {result.campaign_id}, "
          f"{len(result.assigned)} numbers assigned{rejected}", flush=True)
    return True


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--count", type=int, default=3, help="registrations to start")
    parser.add_argument("--numbers", type=int, default=3, help="phone numbers per campaign")
    parser.add_argument("--prefix", default=f"acme-{random.randrange(16**4):04x}",
                        help="brand reference prefix (default: random)")
    parser.add_argument("--with-invalid", action="store_true",
                        help="add a malformed brand and a malformed phone number")
    parser.add_argument("--manual-approval", action="store_true",
                        help="leave the compliance approval to you (approve.py)")
    parser.add_argument("--approval-timeout", type=float, default=2 * 24 * 3600.0,
                        metavar="SECONDS", help="escalate after this long without a "
                        "decision; fail after twice as long (default: 2 days)")
    args = parser.parse_args(argv)
    reqs = [request(f"{args.prefix}-{i}", args.numbers, bad_number=args.with_invalid and i == 1,
                    approval_timeout=args.approval_timeout)
            for i in range(1, args.count + 1)]
    if args.with_invalid:
        reqs.append(request(f"{args.prefix}-bad-ein", 1, bad_ein=True))
    client = await Client.connect()
    try:
        outcomes = await asyncio.gather(*(register(client, r,
                                                   auto_approve=not args.manual_approval)
                                          for r in reqs))
    finally:
        await client.close()
    return 0 if all(outcomes) else 1


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main(sys.argv[1:])))
    except KeyboardInterrupt:
        sys.exit(130)
