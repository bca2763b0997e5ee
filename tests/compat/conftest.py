"""The samples are programs in Temporal's spelling, run by ``test_samples.py`` after the
import rewrite: never imported or collected as they are."""

collect_ignore = ["samples"]
