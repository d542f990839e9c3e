#!/usr/bin/env python3
"""How well placement finds real steps it was not told: the Oxford traces as count-only data.

Each Oxford trace has per-step truth (foot switches). Here every trace's step events are
replaced by one `@count` with their number over the whole trace, exactly N events are
placed (learn/placement.py) with a steps model's int8 stream (TFLM runtime, as
`repcount label --model` runs it) and with the cold start (`repcount label` without a
model), and the share of true steps that a placed event matches within the task's
tolerance (200 ms, one-to-one matching as event F1 uses) is printed per person and in all.
The shipped steps model never saw oxford-dario: that row is the honest one for a model.

Usage: .venv/bin/python tools/placement-oxford.py [--model models/steps] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict

import numpy as np
from repcount.data.importers import load_oxford
from repcount.data.recordings import Recording
from repcount.learn import evaluation, metrics, placement, tasks
from repcount.learn.card import ModelDir

STEPS = tasks.get("steps")
FIELDS = ("true_steps", "matched", "own_count", "flagged_traces")


def count_only(rec: Recording) -> tuple[Recording, np.ndarray]:
    """The trace with its steps replaced by one count over the whole trace, and the truth."""
    start, end = float(rec.t[0]), float(rec.t[-1]) + 1e-3
    truth = rec.events_of(["step"])
    truth = truth[(truth >= start) & (truth < end)]
    return placement.counted_only(rec, STEPS, [(start, end)]), truth


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="models/steps", help="steps model directory")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()
    model = ModelDir.open(args.model)
    pipes = evaluation.load_pipelines(model, with_float=False)
    tally: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for i, rec in enumerate(recs := load_oxford(), 1):
        print(f"[{i}/{len(recs)}] {rec.meta.extra['trace']}", file=sys.stderr, flush=True)
        counted, truth = count_only(rec)
        for how, p in (("model", pipes), ("cold-start", None)):
            lab = placement.label_recording(counted, p)
            placed = lab.recording.events_of(["step"])
            tally[rec.meta.user, how].update({
                "matched": int(metrics.event_scores(truth, placed, STEPS.event_tolerance_s)["tp"]),
                "true_steps": len(truth),
                "own_count": sum(s.own_count for s in lab.placements),
                "flagged_traces": sum(s.flagged for s in lab.placements),
            })
    rows = []
    users = sorted({u for u, _ in tally})
    for user in [*users, "all"]:
        for how in ("model", "cold-start"):
            who = users if user == "all" else [user]
            total = {k: sum(tally[u, how][k] for u in who) for k in FIELDS}
            rows.append({"user": user, "placed_by": how, **total,
                         "matched_share": total["matched"] / total["true_steps"]})
    if args.json:
        print(json.dumps({"model": model.card.name, "model_hash": model.card.model_hash,
                          "tolerance_s": STEPS.event_tolerance_s, "rows": rows}, indent=2))
        return 0
    print(f"placement on the Oxford traces, {model.card.name} {model.card.model_hash}, "
          f"matched within {STEPS.event_tolerance_s * 1000:.0f} ms")
    print(f"{'user':<16} {'placed by':<11} {'true':>6} {'matched':>8} {'share':>7} {'own':>6} {'flagged':>8}")
    for r in rows:
        print(f"{r['user']:<16} {r['placed_by']:<11} {r['true_steps']:>6} {r['matched']:>8} "
              f"{100 * r['matched_share']:>6.2f}% {r['own_count']:>6} {r['flagged_traces']:>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
