"""The compliance officer's side: see a registration's status, then approve or reject it.

    python examples/registration/approve.py registration-acme-1234-1 --by dana
    python examples/registration/approve.py registration-acme-1234-1 --by dana --reject "spam"
    python examples/registration/approve.py registration-acme-1234-1 --status

The same with the plait CLI (each --input is one argument, as JSON):

    plait workflow query registration-acme-1234-1 status
    plait workflow signal registration-acme-1234-1 approve --input '"dana"'
    plait workflow signal registration-acme-1234-1 reject --input '"dana"' --input '"spam"'
    plait workflow cancel registration-acme-1234-1     # undo what it registered; CANCELED
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys

from workflows import RegistrationStatus, SmsRegistration

from plait import Client
from plait.errors import PlaitError


def show(status: RegistrationStatus) -> None:
    print(json.dumps(dataclasses.asdict(status), indent=2), flush=True)


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workflow_id", metavar="WORKFLOW_ID")
    parser.add_argument("--by", default="compliance officer", help="who decides")
    parser.add_argument("--reject", metavar="REASON", help="reject instead of approving")
    parser.add_argument("--status", action="store_true", help="only show the status")
    args = parser.parse_args(argv)
    async with await Client.connect() as client:
        handle = client.get_workflow_handle(args.workflow_id)
        try:
            status: RegistrationStatus = await handle.query(SmsRegistration.status)
            show(status)
            if args.status:
                return 0
            if not status.stage.startswith("awaiting approval"):
                print(f"note: {args.workflow_id} is at stage {status.stage!r}; the decision "
                      "is kept and counts when (if) it gets to the approval", file=sys.stderr)
            if args.reject:
                await handle.signal(SmsRegistration.reject, args.by, args.reject)
            else:
                await handle.signal(SmsRegistration.approve, args.by)
        except PlaitError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
    print(f"{'rejected' if args.reject else 'approved'} {args.workflow_id} as {args.by}",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
