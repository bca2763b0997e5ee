"""``python -m bench core|install-peers|compare ...``: the benchmark harness's command line.

The one module that knows every command: ``compare`` gets the workloads beyond W1-W4
(``bench.extras``) and the docs writer (``bench.compare_docs``) from here, so no benchmark
module imports another command's."""

from __future__ import annotations

import argparse
import sys

from bench import compare, compare_docs, core, extras
from bench.peers import install


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description="plait benchmarks")
    sub = p.add_subparsers(dest="benchmark", required=True)
    core.add_arguments(sub.add_parser(
        "core", help="W1-W4 and memory against a real server and worker",
        description=core.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter))
    compare.add_arguments(sub.add_parser(
        "compare", help="W1-W4 for plait, Temporal, DBOS and Restate, side by side",
        description=compare.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter))
    ip = sub.add_parser("install-peers", help="install Temporal, DBOS and Restate (pinned) under "
                        "bench/.peers/", description=install.__doc__,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    ip.add_argument("--force", action="store_true", help="rebuild every environment")
    args = p.parse_args()
    if args.benchmark == "core":
        return core.main(args)
    if args.benchmark == "compare":
        return compare.main(args, compare.Extras(
            names=extras.NAMES, run=extras.run, write_docs=compare_docs.write))
    if args.benchmark == "install-peers":
        return install.main(args.force)
    return 2


if __name__ == "__main__":
    sys.exit(main())
