"""``plait replay``: check workflow code against exported histories, as a CI step.

A history file is what ``plait workflow show ID --output json`` (or ``History.to_json()``)
writes. Each file is replayed with :class:`plait.testing.Replayer` against the classes named
by ``--workflows module:Class``; a file that no longer replays is reported in one line naming
the event that diverges.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
import traceback
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from plait import errors
from plait._cli.loading import SetupError, load_object
from plait.history import History
from plait.protocol.jsoncodec import loads
from plait.runtime.definitions import workflow_defn_of
from plait.testing import Replayer

__all__ = ["ReplayOutcome", "SetupError", "history_files", "load_object", "load_workflows",
           "replay_files"]

STDIN = "-"
PLAIT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclasses.dataclass(frozen=True)
class ReplayOutcome:
    path: Path
    ok: bool
    message: str
    """On success a short summary of the history; on failure why, in one line."""


# -- the workflow classes --------------------------------------------------------------------
def load_workflows(specs: Sequence[str]) -> list[type]:
    """Import each ``module:Class`` (or ``path/to/file.py:Class``) as a workflow class.

    The current directory goes on ``sys.path`` first, so a module next to the user resolves
    as it would for ``python -m``; a ``.py`` path puts its own directory there, so its
    sibling imports (``from activities import ...``) work as they do for the worker.
    """
    if not specs:
        raise SetupError("name the workflow code with --workflows module:Class")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    classes: dict[str, tuple[str, type]] = {}
    for spec in specs:
        cls = load_object(spec)
        try:
            name = workflow_defn_of(cls).name
        except TypeError:
            raise SetupError(f"--workflows {spec}: {_qualname(cls)} is not a workflow "
                             "(decorate its class with @workflow.defn)") from None
        if name in classes and classes[name][1] is not cls:
            raise SetupError(f"--workflows {classes[name][0]} and {spec} are both workflow "
                             f"type {name!r}; replay one of them at a time")
        classes[name] = (spec, cls)
    return [cls for _, cls in classes.values()]


def _qualname(obj: Any) -> str:
    return getattr(obj, "__qualname__", None) or repr(obj)


# -- the history files -----------------------------------------------------------------------
def history_files(paths: Iterable[str]) -> list[Path]:
    """The files to replay: each file given, and every ``*.json`` under each directory;
    ``-`` is standard input (``plait workflow show ID -o json | plait replay - ...``)."""
    found: list[Path] = []
    for p in map(Path, paths):
        if str(p) == STDIN:
            found.append(p)
        elif p.is_dir():
            inside = sorted(f for f in p.rglob("*.json") if f.is_file())
            if not inside:
                raise SetupError(f"no *.json history files in directory {p}")
            found.extend(inside)
        elif p.is_file():
            found.append(p)
        else:
            raise SetupError(f"no such file or directory: {p}")
    return found


def read_history(path: Path) -> History:
    """The history in ``path``; ``ValueError`` naming what is wrong with a malformed file."""
    try:
        data = loads(sys.stdin.buffer.read() if str(path) == STDIN else path.read_bytes())
    except OSError as e:
        raise ValueError(f"cannot read it: {e.strerror or e}") from None
    except ValueError as e:
        raise ValueError(f"not JSON ({e}); export a history with "
                         "`plait workflow show ID --output json`") from None
    if not isinstance(data, dict) or not isinstance(data.get("events"), list):
        raise ValueError('not a plait history: expected a JSON object with an "events" list '
                         "(as `plait workflow show ID --output json` writes)")
    try:
        history = History.from_dict(data)
    except ValueError as e:
        if "newer" in str(e):
            raise
        raise ValueError(f"not a plait history: {e}") from None
    except (KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"not a plait history: an event lacks or mistypes {e}") from None
    if not history.events:
        raise ValueError("the history has no events")
    if history.events[0].event_type != "WORKFLOW_EXECUTION_STARTED":
        raise ValueError("not a whole history: its first event is "
                         f"{history.events[0].event_type}, not WORKFLOW_EXECUTION_STARTED")
    return history


# -- replaying -------------------------------------------------------------------------------
def replay_files(files: Sequence[Path], workflows: Sequence[type],
                 report: Callable[[ReplayOutcome], None]) -> list[ReplayOutcome]:
    """Replay each file in turn, reporting each outcome as soon as it is known."""
    replayer = Replayer(workflows=workflows)

    async def go() -> list[ReplayOutcome]:
        outcomes = []
        for f in files:
            outcomes.append(await _replay_one(replayer, f))
            report(outcomes[-1])
        return outcomes

    return asyncio.run(go())


async def _replay_one(replayer: Replayer, path: Path) -> ReplayOutcome:
    try:
        history = read_history(path)
    except ValueError as e:
        return ReplayOutcome(path, False, str(e))
    wtype = history.events[0].attributes.get("workflow_type", "?")
    try:
        await replayer.replay(history)
    except errors.NonDeterminismError as e:
        return ReplayOutcome(path, False, str(e))
    except ValueError as e:
        # The Replayer's own complaints (a workflow type it was not given).
        return ReplayOutcome(path, False, str(e))
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:
        if os.environ.get("PLAIT_DEBUG"):
            traceback.print_exc()
        return ReplayOutcome(path, False, f"workflow {history.workflow_id} ({wtype}): "
                                          f"{_exception_line(e)}")
    return ReplayOutcome(path, True, f"workflow {history.workflow_id} ({wtype}), "
                                     f"{len(history.events)} events")


def _exception_line(e: BaseException) -> str:
    """What raised while replaying, and where: usually the workflow code itself (a bug in the
    new code, or it depends on something it should not), else plait."""
    text = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
    frames = traceback.extract_tb(e.__traceback__)
    user = [f for f in frames if not _in_plait(f.filename)]
    if user:  # the innermost line of the workflow's own code on the way to the error
        return f"the workflow code raised {text} at {user[-1].filename}:{user[-1].lineno}"
    if frames:
        return (f"replaying raised {text} inside plait at {frames[-1].filename}:"
                f"{frames[-1].lineno} (a bug in plait; PLAIT_DEBUG=1 prints the traceback)")
    return f"replaying raised {text}"


def _in_plait(filename: str) -> bool:
    return os.path.abspath(filename).startswith(PLAIT_DIR + os.sep)
