"""Issue 18's measure: each Temporal-style sample runs after the import rewrite alone, exits
0 and writes nothing to stderr (no warning, no "Unclosed client session" at exit)."""

from __future__ import annotations

from pathlib import Path

import pytest

from plait.testing import WorkflowEnvironment
from tests.compat.rewrite import rewrite, run_sample, samples


@pytest.mark.parametrize("sample", samples(), ids=lambda p: p.stem)
async def test_sample_runs_unchanged(sample: Path, env: WorkflowEnvironment,
                                     tmp_path: Path) -> None:
    if sample.stem == "pydantic_converter":
        pytest.importorskip("pydantic")  # not a dependency of plait's (a dev tool brings it)
    outcome = await run_sample(sample, env.address, tmp_path)
    assert outcome.unchanged, f"exit {outcome.code}\n{outcome.stderr}"


def test_the_rewrite_touches_module_names_only() -> None:
    source = ("from temporalio import activity, workflow\n"
              "from temporalio.client import Client\n"
              "import temporalio.exceptions\n"
              "err = temporalio.exceptions.ApplicationError('x')\n"
              "c = temporalio.client.Client\n"
              "name = 'temporalio_thing'\n")
    assert rewrite(source) == ("from plait import activity, workflow\n"
                               "from plait.client import Client\n"
                               "import plait.errors\n"
                               "err = plait.errors.ApplicationError('x')\n"
                               "c = plait.client.Client\n"
                               "name = 'temporalio_thing'\n")


def test_every_sample_is_written_in_temporal_spelling() -> None:
    for path in samples():
        text = path.read_text()
        assert "temporalio" in text and "plait" not in text, path.name
