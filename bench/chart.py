"""The chart of ``docs/benchmarks.md``: plait's ratio to each peer, with confidence intervals.

    bench/.peers/report/bin/python -m bench.chart COMPARE.json docs/benchmarks-ratios.png

Runs in the ``report`` environment (matplotlib is not a dependency of plait); imports nothing
from plait or the rest of the harness.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

METRICS = [("W1", "throughput", "W1 throughput"), ("W1", "p50_ms", "W1 latency p50"),
           ("W2", "p50_ms", "W2 latency p50"), ("W3", "wall_s", "W3 wall time"),
           ("W4", "overhead_p50_ms", "W4 timer overhead p50")]
LABELS = {"temporal": "Temporal", "temporal-nosandbox": "Temporal (no sandbox)",
          "dbos-sqlite": "DBOS (SQLite)", "dbos-pg": "DBOS (PostgreSQL)", "restate": "Restate"}
COLORS = {"temporal": "#5b6bd6", "temporal-nosandbox": "#9aa6f0", "dbos-sqlite": "#2e9e6a",
          "dbos-pg": "#8fd3b0", "restate": "#d9822b"}


def draw(doc: dict, out: Path) -> None:
    peers = [e for e in doc["engines"] if e != "plait"]
    metrics = [m for m in METRICS if f"{m[0]}.{m[1]}" in doc["ratios"]]
    fig, ax = plt.subplots(figsize=(9, 1.8 + 0.9 * len(metrics)))
    height = 0.8 / max(len(peers), 1)
    for j, peer in enumerate(peers):
        ys, xs, lo, hi, hatch = [], [], [], [], []
        for i, (w, m, _) in enumerate(metrics):
            r = doc["ratios"][f"{w}.{m}"].get(peer)
            disturbed = False
            if not r:  # no undisturbed pair: fall back to every passing pair, hatched
                r = doc.get("ratios_all", {}).get(f"{w}.{m}", {}).get(peer)
                disturbed = True
            if not r:
                continue
            ys.append(i + (j - (len(peers) - 1) / 2) * height)
            xs.append(r["ratio"])
            lo.append(r["ratio"] - r["ci_low"])
            hi.append(r["ci_high"] - r["ratio"])
            hatch.append("///" if disturbed else "")
        # bars grow from 1 (parity): right when plait is better, left when it is worse
        bars = ax.barh(ys, [x - 1.0 for x in xs], left=1.0, height=height * 0.9,
                       color=COLORS.get(peer), label=LABELS.get(peer, peer),
                       xerr=[lo, hi], error_kw={"elinewidth": 1, "capsize": 2, "ecolor": "#333"})
        for bar, h in zip(bars, hatch, strict=True):
            bar.set_hatch(h)
        for y, x in zip(ys, xs, strict=True):
            ax.text(max(x, 1.0) * 1.04, y, f"{x:.2g}x", va="center", fontsize=7)
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_xscale("log")
    ax.set_yticks(range(len(metrics)))
    ax.set_yticklabels([label for _, _, label in metrics])
    ax.invert_yaxis()
    ax.set_xlabel("plait's ratio to the peer (log scale; > 1: plait better; whiskers: 95 % CI;"
                  "\nhatched: no undisturbed pair, every passing pair used)", fontsize=9)
    mode = "quick" if doc["quick"] else "full"
    ax.set_title(f"plait vs peers, {doc['machine']['cpu_count']} CPUs, {mode} mode, "
                 f"{doc['repeat']} repetition(s)", fontsize=10)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12 - 0.3 / len(metrics)),
              ncol=3, frameon=False)
    ax.grid(axis="x", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=120)


def main() -> None:
    doc = json.loads(Path(sys.argv[1]).read_text())
    draw(doc, Path(sys.argv[2]))


if __name__ == "__main__":
    main()
