"""The mechanical import rewrite that moves a Temporal project to plait, and a runner that
measures how many Temporal-style programs then run with no further edit.

    python -m tests.compat.rewrite              # run every sample against this checkout
    PYTHONPATH=/other/src python -m tests.compat.rewrite   # ... against another plait

Each sample in ``samples/`` is a whole program in Temporal's spelling (``import temporalio``):
it starts a worker, runs its workflows and exits 0 once its own checks pass. Programs that
need a server read ``TEMPORAL_ADDRESS`` (Temporal's samples hard-code ``localhost:7233``);
the runner points it at a plait server of its own. A sample *runs unchanged* when, after
:func:`rewrite`, it exits 0 and prints nothing to stderr.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

SAMPLES = Path(__file__).parent / "samples"

MODULES = {
    "temporalio.contrib.pydantic": "plait.contrib.pydantic",
    "temporalio.exceptions": "plait.errors",
    "temporalio.client": "plait.client",
    "temporalio.worker": "plait.worker",
    "temporalio.workflow": "plait.workflow",
    "temporalio.activity": "plait.activity",
    "temporalio.common": "plait.common",
    "temporalio.testing": "plait.testing",
    "temporalio.converter": "plait.converter",
    "temporalio": "plait",
}
"""Temporal's module -> plait's (docs/from-temporal.md has the same table)."""

_MODULE = re.compile(r"\btemporalio(?:\.[a-z_.]+)?\b")


def rewrite(source: str) -> str:
    """Replace every Temporal module name by plait's: nothing else changes."""
    def swap(m: re.Match[str]) -> str:
        name = m.group(0)
        for temporal, plait in MODULES.items():  # longest first
            if name == temporal or name.startswith(temporal + "."):
                return plait + name[len(temporal):]
        return name
    return _MODULE.sub(swap, source)


@dataclass(frozen=True)
class Outcome:
    name: str
    code: int
    stderr: str

    @property
    def unchanged(self) -> bool:
        """It ran to its end, and said nothing on stderr (no warning, no noise at exit)."""
        return self.code == 0 and not self.stderr.strip()


async def run_sample(path: Path, address: str, workdir: Path, *,
                     timeout: float = 60.0) -> Outcome:
    """Rewrite ``path`` into ``workdir`` and run it as its own process."""
    target = workdir / path.name
    target.write_text(rewrite(path.read_text()))
    env = {**os.environ, "TEMPORAL_ADDRESS": address}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(target), cwd=workdir, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        _, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return Outcome(path.stem, -1, f"timed out after {timeout} s")
    return Outcome(path.stem, proc.returncode or 0, err.decode())


def samples() -> list[Path]:
    return sorted(SAMPLES.glob("*.py"))


async def measure() -> list[Outcome]:
    """Run every sample, one at a time, against one in-process server."""
    from plait.testing import WorkflowEnvironment

    async with WorkflowEnvironment.start_local() as env:
        with tempfile.TemporaryDirectory(prefix="plait-compat-") as tmp:
            return [await run_sample(p, env.address, Path(tmp)) for p in samples()]


def main() -> None:
    outcomes = asyncio.run(measure())
    for o in outcomes:
        last = o.stderr.strip().splitlines()[-1:] or [""]
        print(f"{'ok  ' if o.unchanged else 'FAIL'} {o.name}  {last[0][:120]}")
    ran = sum(o.unchanged for o in outcomes)
    print(f"{ran} of {len(outcomes)} samples run unchanged after the import rewrite")


if __name__ == "__main__":
    main()
