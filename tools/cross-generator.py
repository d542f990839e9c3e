#!/usr/bin/env python3
"""Cross-generator figures: does a jump-rope counter learn the jump, or the generator it was trained on?

Trains QUICK models (a couple of minutes each on 2 cores) and measures them on held-out
people of the *other* generator, both directions (docs/signal-model-b.md):

  A (default population) -> held-out people of B
  A (wide population)    -> held-out people of B
  B                      -> held-out people of A (default population)

  A (wide population) with training-time augmentation (`train --augment 2 --rotations 0`:
    two warped, scaled, turned, noisy, clipped copies of each recording instead of two
    turned ones) -> held-out people of B

plus the shipped models (models/jumprope-wrist, models/jumprope-handle) on B's held-out
people: today's models on a generator they never saw. Each row prints the int8 model's
count MAPE, its worst person (with the signed count error), and false counts per hour of
distractors (running in place included, for B). Quick models are far from a shipped
recipe: the figures compare directions and data, not final accuracy.

Data and models go under --work (default build/cross-generator); existing data sets are
reused, models are retrained unless --reuse-models. Everything is seeded: same figures.

Examples:
  nice tools/cross-generator.py
  nice tools/cross-generator.py --mounts wrist --epochs 3 --work build/xgen-small
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPCOUNT = os.environ.get("REPCOUNT", str(ROOT / ".venv" / "bin" / "repcount"))

TRAIN_SETS = {
    "a": ["--generator", "a"],
    "a-wide": ["--generator", "a", "--population", "wide"],
    "b": ["--generator", "b"],
}
HELDOUT_SETS = {"a": ["--generator", "a"], "b": ["--generator", "b"]}


def run(argv: list[str]) -> str:
    """Run a repcount command, echoing it; its stdout (stderr passes through)."""
    print("+ repcount " + " ".join(argv), file=sys.stderr, flush=True)
    return subprocess.run([REPCOUNT, *argv], check=True, stdout=subprocess.PIPE, text=True).stdout


def simulate(out: Path, generator_args: list[str], activity: str, mount: str, users: int, minutes: float,
             seed: int, first_user: int) -> Path:
    if not (out / "manifest.json").exists():
        run(["simulate", *generator_args, "--activity", activity, "--mount", mount,
             "--users", str(users), "--minutes", str(minutes), "--seed", str(seed),
             "--first-user", str(first_user), "--out", str(out), "--force"])
    return out


def datasets(work: Path, mount: str, args: argparse.Namespace) -> tuple[dict, dict]:
    """Training sets (A default, A wide, B) and held-out sets (A, B) of one mount, as directories."""
    train, heldout = {}, {}
    for name, gen in TRAIN_SETS.items():
        train[name] = [
            simulate(work / "data" / f"{name}-jr-{mount}-train", gen, "jump-rope", mount, args.train_users,
                     args.train_minutes, 1, 1),
            simulate(work / "data" / f"{name}-ds-{mount}-train", gen, "distractors", mount, 4,
                     args.train_minutes, 5, 1),
        ]
    for name, gen in HELDOUT_SETS.items():
        heldout[name] = [
            simulate(work / "data" / f"{name}-jr-{mount}-heldout", gen, "jump-rope", mount, 6, 4, 2, 101),
            simulate(work / "data" / f"{name}-ds-{mount}-heldout", gen, "distractors", mount, 4, 6, 6, 101),
        ]
    return train, heldout


def train(work: Path, name: str, mount: str, data: list[Path], test: list[Path],
          args: argparse.Namespace, extra: tuple[str, ...] = ()) -> Path:
    out = work / "models" / f"{name}-{mount}"
    if args.reuse_models and (out / "card.json").exists():
        return out
    run(["train", "--task", "jump-rope", "--mount", mount, "--data", *map(str, data),
         "--test-data", *map(str, test), "--quick", "--epochs", str(args.epochs), "--seed", "1",
         "--out", str(out), "--force", *extra])
    return out


def evaluate(model: Path, data: list[Path]) -> dict:
    """The int8 model's figures on `data`: count MAPE, worst person and false counts per hour."""
    argv = ["evaluate", "--model", str(model), "--data", *map(str, data), "--no-float", "--json"]
    report = json.loads(run(argv))
    int8 = report["pipelines"]["int8"]
    errors: dict[str, list[int]] = {}
    for r in int8["per_recording"]:
        if r["true"]:
            errors.setdefault(r["user"], [0, 0])
            errors[r["user"]][0] += r["predicted"]
            errors[r["user"]][1] += r["true"]
    worst_user = max(errors, key=lambda u: abs(errors[u][0] - errors[u][1]) / errors[u][1])
    predicted, true = errors[worst_user]
    return {"count_mape": int8["count_mape"], "worst_user": worst_user,
            "worst_error": (predicted - true) / true, "false_counts_per_hour": int8["false_counts_per_hour"],
            "people_errors": {u: round((p - t) / t, 4) for u, (p, t) in sorted(errors.items())}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "cross-generator")
    parser.add_argument("--mounts", nargs="+", default=["wrist", "handle"], choices=["wrist", "handle"])
    parser.add_argument("--train-users", type=int, default=12)
    parser.add_argument("--train-minutes", type=float, default=3.0)
    parser.add_argument("--epochs", type=int, default=4, help="float epochs of each quick model")
    parser.add_argument("--reuse-models", action="store_true",
                        help="keep models already trained under --work")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    rows = []
    for mount in args.mounts:
        train_sets, heldout = datasets(args.work, mount, args)
        shipped = ROOT / "models" / f"jumprope-{mount}"
        rows.append((f"shipped jumprope-{mount}", "B", evaluate(shipped, heldout["b"])))
        for name, other in (("a", "b"), ("a-wide", "b"), ("b", "a")):
            own = "b" if name == "b" else "a"
            model = train(args.work, name, mount, train_sets[name], heldout[own], args)
            rows.append((f"quick {name} {mount}", other.upper(), evaluate(model, heldout[other])))
            rows.append((f"quick {name} {mount}", own.upper() + " (own)", evaluate(model, heldout[own])))
        # Augmented copies replace the turned ones (augment turns them too): the same amount of data.
        model = train(args.work, "a-wide+aug", mount, train_sets["a-wide"], heldout["a"], args,
                      ("--rotations", "0", "--augment", "2"))
        rows.append((f"quick a-wide+aug {mount}", "B", evaluate(model, heldout["b"])))
        rows.append((f"quick a-wide+aug {mount}", "A (own)", evaluate(model, heldout["a"])))
    print(f"\n{'model':28} {'tested on':10} {'MAPE':>7} {'worst person':>26} {'false/h':>8}")
    for name, tested, r in rows:
        worst = f"{r['worst_user']} {r['worst_error']:+.1%}"
        fph = r["false_counts_per_hour"]
        fph_text = "-" if fph is None else str(round(fph))
        print(f"{name:28} {tested:10} {r['count_mape']:7.1%} {worst:>26} {fph_text:>8}")
    if args.json:
        figures = [{"model": n, "tested_on": t, **r} for n, t, r in rows]
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
