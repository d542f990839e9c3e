"""Measure how well a model counts, on recordings: the float model, the int8 model (in
TFLite Micro's kernels, as on the device) and, with --baseline, a classic peak detector.

Prints count MAPE, event F1 and false counts per hour per pipeline, then the same per
mount/placement and per person, and names the worst person (docs/architecture.md,
Metrics). The model directory is checked first: its model.tflite must be the one its
card.json describes (hash, geometry, quantisation), and every recording must be at the
model's sample rate; anything else stops the command (exit 2) before any work. --plot
names a new directory (one PNG per recording), checked before the work too.

Examples:
  repcount evaluate --model models/jumprope-wrist --data data/sim-test
  repcount evaluate --model models/steps --data oxford --users oxford-dario --baseline peaks --json
  repcount evaluate --model models/jumprope-handle --data data/test --plot plots/
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from repcount.errors import UserError
from repcount.learn import evaluation
from repcount.learn.card import ModelDir
from repcount.outputs import atomic_dir, check_output


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model", required=True, type=Path, help="model directory (card.json, model.tflite, float.keras)"
    )
    p.add_argument("--data", required=True, nargs="+", help="recording files/directories, or `oxford`")
    p.add_argument("--baseline", choices=["peaks"], help="also run the classic peak-detection baseline")
    p.add_argument("--no-float", action="store_true", help="skip the float model (no TensorFlow import)")
    p.add_argument("--users", nargs="+", help="evaluate only these users' recordings")
    p.add_argument("--plot", type=Path, metavar="DIR", help="write one PNG per recording into DIR (new)")
    p.add_argument("--force", action="store_true", help="replace the --plot directory if it exists")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def run(args: argparse.Namespace) -> int:
    if args.plot is not None:
        check_output(args.plot, kind="dir", force=args.force, flag="--plot")
    model = ModelDir.open(args.model)
    recs = evaluation.load_data(args.data)
    if args.users:
        recs = [r for r in recs if r.meta.user in set(args.users)]
        if not recs:
            raise UserError(f"no recordings of users {', '.join(args.users)} in {', '.join(args.data)}")
    for rec in recs:
        model.check_recording(rec)
    pipes = evaluation.load_pipelines(model, with_float=not args.no_float)
    head = {"model": model.card.name, "model_hash": model.tflite.model_hash}
    if not model.card.is_counter:
        obj = {**head, "task": model.card.task, "pipelines": pipes.classify(recs)}
        return _print_activity(obj, args.json)
    which = [
        p for p in evaluation.PIPELINES
        if (p != "float" or not args.no_float) and (p != "baseline" or args.baseline)
    ]

    def progress(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    result = pipes.run(recs, which, progress)
    obj = {**head, **evaluation.report(result, pipes.task)}
    if args.plot is not None:
        with atomic_dir(args.plot, force=args.force) as tmp:
            written = evaluation.plot(recs, result, pipes, tmp)
        obj["plots"] = [str(args.plot / p.name) for p in written]
    if args.json:
        print(json.dumps(obj, indent=2))
    else:
        print_table(obj)
    return 0


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def _num(x: float | None, digits: int) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def print_table(obj: dict) -> None:
    """Each pipeline's figures, then per group and per person; the worst person last."""
    print(f"{'pipeline':<10} {'count MAPE':>10} {'event F1':>9} {'false/h':>8} {'true':>6} {'pred':>6}")
    for name, p in obj["pipelines"].items():
        print(
            f"{name:<10} {_pct(p['count_mape']):>10} {p['event_f1']:>9.4f} "
            f"{_num(p['false_counts_per_hour'], 1):>8} {p['true_events']:>6} {p['predicted_events']:>6}"
        )
        for title, rows in (("by group", p["by_group"]), ("by person", p["per_user"])):
            print(f"  {title}:")
            for g, s in rows.items():
                print(f"    {g:<18} {_pct(s['count_mape']):>10} {s['event_f1']:>9.4f} "
                      f"{_num(s['false_counts_per_hour'], 1):>8}")
        w = p["worst_user"]
        if w is not None:
            print(f"  worst person: {w['user']}, count MAPE {_pct(w['count_mape'])}, "
                  f"event F1 {w['event_f1']:.4f}")
    if "int8_vs_float" in obj:
        a = obj["int8_vs_float"]
        print(
            f"int8 vs float outputs: MAE {a['float_mae']:.4f}, max abs {a['float_max_abs']:.4f}, "
            f"cosine {a['float_cosine']:.5f}"
        )


def _print_activity(obj: dict, as_json: bool) -> int:
    """A window classifier's report: accuracy, confusion matrix, per-class recall."""
    if as_json:
        print(json.dumps(obj, indent=2))
        return 0
    for name, r in obj["pipelines"].items():
        print(f"{name}: accuracy {_num(r['accuracy'], 3)}")
        width = max(len(c) for c in r["classes"])
        print(" " * (width + 1) + " ".join(f"{c[:6]:>6}" for c in r["classes"]) + "   recall")
        for c, row in zip(r["classes"], r["confusion"], strict=True):
            recall = _num(r["per_class"][c]["recall"], 3)
            print(f"{c:>{width}} " + " ".join(f"{v:>6}" for v in row) + f"   {recall}")
    return 0
