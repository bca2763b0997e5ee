"""The console's scripts never hand a string to the HTML parser (a guard for future edits;
the browser tests show hostile ids and payloads rendered as text)."""

from __future__ import annotations

from importlib import resources


def test_scripts_never_parse_markup() -> None:
    """Every id and payload is user data: the scripts build elements with text only (core.h),
    so none may hand a string to the HTML parser."""
    root = resources.files("plait.server.ui")
    scripts = [p for p in root.iterdir() if p.name.endswith(".js")]
    assert len(scripts) >= 5
    for p in scripts:
        text = p.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write",
                     "eval(", "new Function"):
            assert sink not in text, f"{p.name} uses {sink}"
