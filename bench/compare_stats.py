"""Which repetitions of a comparison count, their medians, and plait's ratio to each peer."""

from __future__ import annotations

import math
import random
import statistics
from typing import Any

STEAL_LIMIT_PCT = 5.0
NOISE_LIMIT_PCT = 10.0  # CPU of processes outside the run, % of the machine (--noise-limit)
NOISE_MIN_S = 0.25

# The numbers compared, and which way is better: (workload, metric, higher is better).
HEADLINE: list[tuple[str, str, bool]] = [
    ("W1", "throughput", True), ("W1", "p50_ms", False), ("W1", "p99_ms", False),
    ("W2", "p50_ms", False), ("W2", "p99_ms", False),
    ("W3", "wall_s", False),
    ("W4", "overhead_p50_ms", False), ("W4", "overhead_p99_ms", False),
]


def set_noise_limit(pct: float) -> None:
    """``--noise-limit``: the share of the machine's CPU other processes may use during a run
    that still counts."""
    global NOISE_LIMIT_PCT
    NOISE_LIMIT_PCT = pct


def counted(r: dict[str, Any]) -> bool:
    """A repetition that enters medians and ratios: passed, steal under the limit, and other
    processes on the machine quiet enough (see ``noisy``)."""
    return bool(r["ok"]) and not stolen(r) and not noisy(r)


def stolen(r: dict[str, Any]) -> bool:
    return bool(r["metrics"].get("steal_pct", 0.0) >= STEAL_LIMIT_PCT)


def noisy(r: dict[str, Any]) -> bool:
    """Processes outside the run (other work on this shared machine) used NOISE_LIMIT_PCT or
    more of the machine's CPU during the workload, and at least NOISE_MIN_S of CPU time (CPU
    counters tick every 10 ms: over a run of a few tens of ms a couple of ticks of skew
    between the machine's and the processes' counters would look like noise)."""
    m = r["metrics"]
    return bool(m.get("other_cpu_pct", 0.0) >= NOISE_LIMIT_PCT
                and m.get("other_cpu_s", 0.0) >= NOISE_MIN_S)


def summarize(reps: list[dict[str, Any]], counted_only: bool = True
              ) -> dict[str, dict[str, Any]]:
    good = [r for r in reps if (counted(r) if counted_only else r["ok"])]
    keys: list[str] = []
    for r in good:
        keys += [k for k in r["metrics"] if k not in keys]
    out: dict[str, dict[str, Any]] = {}
    for k in keys:
        vals = [r["metrics"][k] for r in good if k in r["metrics"]]
        out[k] = {"median": statistics.median(vals), "min": min(vals), "max": max(vals),
                  "n": len(vals)}
    return out


def ratio(plait_reps: list[dict[str, Any]], peer_reps: list[dict[str, Any]], metric: str,
          higher_better: bool, resamples: int = 10000, counted_only: bool = True
          ) -> dict[str, Any] | None:
    """plait's advantage over a peer, pair by pair: repetition i against repetition i.

    Each pair gives plait/peer (a higher-is-better metric) or peer/plait (lower is better),
    so a ratio above 1 always means plait did better. The estimate is the geometric mean of the
    pairs' ratios; the 95 % interval is a percentile bootstrap over the pairs (seeded)."""
    pairs = []
    for a, b in zip(plait_reps, peer_reps, strict=False):
        usable = (counted(a) and counted(b)) if counted_only else (a["ok"] and b["ok"])
        if not usable:
            continue
        x, y = a["metrics"].get(metric), b["metrics"].get(metric)
        if x is None or y is None:
            continue
        x, y = max(x, 1e-3), max(y, 1e-3)  # overheads can be ~0; keep ratios finite
        pairs.append(math.log(x / y if higher_better else y / x))
    if not pairs:
        return None
    rng = random.Random(5)
    boots = sorted(statistics.fmean(rng.choices(pairs, k=len(pairs)))
                   for _ in range(resamples))
    lo, hi = boots[int(0.025 * resamples)], boots[min(int(0.975 * resamples), resamples - 1)]
    return {"ratio": math.exp(statistics.fmean(pairs)), "ci_low": math.exp(lo),
            "ci_high": math.exp(hi), "pairs": len(pairs),
            "per_pair": [math.exp(p) for p in pairs]}
