"""Loading the user's objects a CLI option names as ``module:attr`` (``--workflows``,
``--codec``), with one clear error when that fails."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any

from plait.codec import PayloadCodec

__all__ = ["SetupError", "load_codec", "load_object"]


class SetupError(Exception):
    """A command cannot run at all (a bad ``--workflows`` or ``--codec``, no history
    files): ``str()`` is the one line to show."""


def load_object(spec: str, option: str = "--workflows", form: str = "module:Class") -> Any:
    """The object ``module:attr`` (or ``path/to/file.py:attr``) names; :class:`SetupError`
    naming ``option`` when it cannot be loaded."""
    module_name, sep, attr = spec.rpartition(":")
    if not sep or not module_name or not attr:
        raise SetupError(f"{option} {spec!r} is not of the form {form}")
    if module_name.endswith(".py"):
        path = Path(module_name).resolve()
        if not path.is_file():
            raise SetupError(f"{option} {spec}: no file {module_name}")
        if str(path.parent) not in sys.path:
            sys.path.insert(0, str(path.parent))
        module_name = path.stem
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # the user's module: anything may go wrong while it loads
        raise SetupError(
            f"{option} {spec}: cannot import {module_name}: {type(e).__name__}: {e}"
        ) from None
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise SetupError(
                f"{option} {spec}: module {module_name} "
                f"({getattr(module, '__file__', '?')}) has no {attr}"
            ) from None
    return obj


def load_codec(spec: str) -> PayloadCodec:
    """The codec ``--codec module:factory`` names: a :class:`PayloadCodec`, or a function
    (a class) that makes one when called without arguments. The current directory is on
    the import path, as for ``python -m``."""
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    obj = load_object(spec, "--codec", "module:factory")
    if not isinstance(obj, PayloadCodec) and callable(obj):
        try:
            obj = obj()
        except Exception as e:  # the user's factory: say what it raised
            raise SetupError(f"--codec {spec}: calling it raised {type(e).__name__}: {e}") from None
    if not isinstance(obj, PayloadCodec):
        raise SetupError(
            f"--codec {spec}: {obj!r} is not a plait.codec.PayloadCodec "
            "(nor a function that returns one)"
        )
    return obj
