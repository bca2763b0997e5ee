"""The long profile from the command line:

    python -m tests.faults.campaign --backend sqlite --faults 1000 [--seed N] [--dir D]

Prints progress and a summary; exits 1 if any invariant was violated.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
from pathlib import Path

from tests.faults.campaign.campaign import Profile, format_summary, run_campaign


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.faults.campaign")
    parser.add_argument("--backend", choices=["sqlite", "postgres"], required=True)
    parser.add_argument("--faults", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=random.randrange(1 << 30))
    parser.add_argument("--fault-lanes", type=int, default=3)
    parser.add_argument("--workload-lanes", type=int, default=6)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--servers", type=int, default=2)
    parser.add_argument("--kinds", default=None,
                        help="comma-separated fault kinds (default: all the backend supports)")
    parser.add_argument("--dir", type=Path, default=None, help="keep the run's files here")
    args = parser.parse_args()
    tmp = args.dir or Path(tempfile.mkdtemp(prefix="plait-campaign-"))
    tmp.mkdir(parents=True, exist_ok=True)
    profile = Profile(args.backend, args.faults, args.seed, fault_lanes=args.fault_lanes,
                      workload_lanes=args.workload_lanes, servers=args.servers,
                      workers=args.workers,
                      kinds=args.kinds.split(",") if args.kinds else None)
    summary = asyncio.run(run_campaign(tmp, profile, lambda s: print(s, flush=True)))
    print(format_summary(summary), flush=True)
    return 1 if summary.total_violations else 0


if __name__ == "__main__":
    sys.exit(main())
