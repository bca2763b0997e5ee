"""``python -m bench compare`` hands its options to the core harness's ``run_once``: every
option the harness reads must be there, at the harness's default where compare has none."""

from __future__ import annotations

import argparse

from bench import compare, core


def test_compare_carries_every_core_option() -> None:
    harness = argparse.ArgumentParser()
    core.add_arguments(harness)
    theirs = vars(harness.parse_args([]))
    parser = argparse.ArgumentParser()
    compare.add_arguments(parser)
    ours = vars(parser.parse_args([]))
    assert set(theirs) <= set(ours), sorted(set(theirs) - set(ours))
    assert ours["postgres"] is False and ours["auth"] is False and ours["profile"] is False
    assert ours["repeat"] is None  # compare's own default (7) is kept, not the harness's
