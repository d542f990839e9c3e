#!/usr/bin/env python3
"""Which training data, input and architecture generalise? The table of docs/generalisation.md.

Jump rope (wrist by default): quick models, each trained on simulated people of generator
A with one recipe, measured on held-out people (numbered from 101) of generator A and of
generator B, which no model here is trained on (docs/signal-model-b.md). Each row gives
the int8 model's count MAPE, its worst person, false counts per hour of distractor
sessions (running in place included, for B) and its budgets (bytes, arena, MACs/s).
The rows change one thing at a time from the row they name:

  a             generator A, default population (today's shipped recipe, quick)
  a-wide        A, `--population wide`
  a-wide+aug    the same, two augmented copies of each recording instead of two turned ones
  +range8       and the int8 input at +-8 g (no clipping below the IMU's own full scale)
  +kernels9     and kernels of 9 (receptive field 97 samples, 1.9 s, instead of 49)
  +wider        and 12-16 channels instead of 8-12 (capacity)
  +highpass     and the input minus its 0.5 s moving average, inside the model (gravity removed)

Steps (--steps): trained on the Oxford people plus simulated walking and running of the
wide population with the phone at the wrist, in a pocket, in the hand and in a bag, held
out oxford-dario (the shipped model's held-out person, 5.81 % there): one fold of the
leave-one-user-out estimate, or all three with --cv.

Data and models go under --work (default build/generalisation); data sets are made once
(`repcount simulate`, deterministic by seed), models are retrained unless --reuse-models.
Same arguments, same figures. --quick trains fewer rows; --full trains the chosen rows
with the full recipe (16 float and 6 QAT epochs, as the shipped models) instead of quick.

Examples:
  nice tools/generalisation.py --quick
  nice tools/generalisation.py --steps --rows
  nice tools/generalisation.py --full --rows a a-wide+aug+kernels9
  nice tools/generalisation.py --reuse-models --json build/generalisation/table.json
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

AUG = ("--rotations", "0", "--augment", "2")
ROWS: dict[str, tuple[str, tuple[str, ...]]] = {  # name -> (training data, extra `train` arguments)
    "a": ("a", ()),
    "a-wide": ("a-wide", ()),
    "a-wide+aug": ("a-wide", AUG),
    "a-wide+aug+range8": ("a-wide", (*AUG, "--input-range", "8")),
    "a-wide+aug+kernels9": ("a-wide", (*AUG, "--kernels", *["9"] * 5)),
    "a-wide+aug+wider": ("a-wide", (*AUG, "--channels", "12", "16", "16", "16", "16")),
    "a-wide+aug+highpass": ("a-wide", (*AUG, "--highpass", "25")),
}
QUICK_ROWS = ("a", "a-wide", "a-wide+aug")
STEPS_ROWS: dict[str, tuple[str, ...]] = {
    "steps-all-sources": ("--rotations", "1"),
    "steps-all-sources+aug+range4": ("--rotations", "0", "--augment", "1", "--input-range", "4"),
    "steps-all-sources+kernels9": ("--rotations", "1", "--kernels", *["9"] * 5),
}
STEPS_SIM = (("walk", "walking", "3", "3"), ("run", "running", "2", "4"))  # name, activity, users, seed
STEPS_MOUNTS = ("wrist", "pocket", "hand", "bag")


def run(argv: list[str]) -> str:
    """Run a repcount command, echoing it; its stdout (stderr passes through)."""
    print("+ repcount " + " ".join(argv), file=sys.stderr, flush=True)
    return subprocess.run([REPCOUNT, *argv], check=True, stdout=subprocess.PIPE, text=True).stdout


def simulate(out: Path, *argv: str) -> Path:
    """`repcount simulate ARGV --out OUT`, unless OUT already holds that data set."""
    if not (out / "manifest.json").exists():
        run(["simulate", *argv, "--out", str(out), "--force"])
    return out


def jump_rope_data(data: Path, mount: str, users: int, minutes: float) -> tuple[dict, dict]:
    """Training sets (A default, A wide) and held-out sets (A, B) of one mount."""
    train = {}
    for name, gen in (("a", ()), ("a-wide", ("--population", "wide"))):
        train[name] = [
            simulate(data / f"{name}-jr-{mount}-train", "--generator", "a", *gen, "--activity", "jump-rope",
                     "--mount", mount, "--users", str(users), "--minutes", str(minutes), "--seed", "1",
                     "--first-user", "1"),
            simulate(data / f"{name}-ds-{mount}-train", "--generator", "a", *gen, "--activity",
                     "distractors", "--mount", mount, "--users", "4", "--minutes", str(minutes),
                     "--seed", "5", "--first-user", "1"),
        ]
    held = {
        g: [
            simulate(data / f"{g}-jr-{mount}-heldout", "--generator", g, "--activity", "jump-rope", "--mount",
                     mount, "--users", "6", "--minutes", "3", "--seed", "2", "--first-user", "101"),
            simulate(data / f"{g}-ds-{mount}-heldout", "--generator", g, "--activity", "distractors",
                     "--mount", mount, "--users", "4", "--minutes", "4", "--seed", "6",
                     "--first-user", "101"),
        ]
        for g in ("a", "b")
    }
    return train, held


def steps_data(data: Path) -> list[Path]:
    """Simulated walking and running of the wide population, one set per mount."""
    return [
        simulate(data / f"{name}-{mount}", "--population", "wide", "--activity", activity, "--mount", mount,
                 "--users", users, "--minutes", "2", "--seed", seed, "--first-user", "1")
        for mount in STEPS_MOUNTS
        for name, activity, users, seed in STEPS_SIM
    ]


def train(out: Path, argv: list[str], reuse: bool) -> dict:
    """Train (or reuse) a model directory; its card."""
    if not (reuse and (out / "card.json").exists()):
        run(["train", *argv, "--seed", "1", "--out", str(out), "--force"])
    return json.loads((out / "card.json").read_text(encoding="utf-8"))


def figures(int8: dict) -> dict:
    """Count MAPE, the worst person and false counts per hour of one int8 pipeline's report."""
    worst = int8.get("worst_user") or {}
    return {"count_mape": int8["count_mape"], "worst_user": worst.get("user"),
            "worst_mape": worst.get("count_mape"), "false_counts_per_hour": int8["false_counts_per_hour"],
            "by_group": {g: s["count_mape"] for g, s in int8.get("by_group", {}).items()}}


def evaluate(model: Path, data: list[Path]) -> dict:
    """The int8 model's figures on `data` (`repcount evaluate --json`)."""
    report = json.loads(run(["evaluate", "--model", str(model), "--data", *map(str, data), "--no-float",
                             "--json"]))
    return figures(report["pipelines"]["int8"])


def budgets(card: dict) -> dict:
    return {"tflite_bytes": card["tflite_bytes"], "arena_bytes": card["arena_bytes"],
            "macs_per_second": card["macs_per_second"], "train_seconds": card["training"]["seconds"]}


def jump_rope_rows(args: argparse.Namespace) -> list[dict]:
    rows = []
    names = args.rows if args.rows is not None else QUICK_ROWS if args.quick else tuple(ROWS)
    for mount in args.mounts if names else ():
        train_sets, held = jump_rope_data(args.work / "data", mount, args.train_users, args.train_minutes)
        for name in names:
            data, extra = ROWS[name]
            recipe = () if args.full else ("--quick", "--epochs", str(args.epochs))
            argv = ["--task", "jump-rope", "--mount", mount, "--data", *map(str, train_sets[data]), *recipe,
                    *extra]
            model = args.work / "models" / f"{name}-{mount}{'-full' if args.full else ''}"
            card = train(model, argv, args.reuse_models)
            rows.append({"model": f"{name} {mount}{' full' if args.full else ''}",
                         "command": "repcount train " + " ".join(argv),
                         "A": evaluate(model, held["a"]), "B": evaluate(model, held["b"]), **budgets(card)})
    return rows


def steps_rows(args: argparse.Namespace) -> list[dict]:
    rows = []
    sim = steps_data(args.work / "data")
    cv = ("--cv-users", "oxford-jamie", "oxford-carmelo", "oxford-dario") if args.cv else ()
    for name in args.steps_rows or STEPS_ROWS:
        extra = STEPS_ROWS[name]
        argv = ["--task", "steps", "--data", "oxford", *map(str, sim), "--test-users", "oxford-dario", *cv,
                "--train-stride", "16", "--epochs", str(args.steps_epochs), *extra]
        card = train(args.work / "models" / f"{name}{'-cv' if args.cv else ''}", argv, args.reuse_models)
        metrics = card["metrics"]
        row = {"model": name, "command": "repcount train " + " ".join(argv),
               "dario": figures(metrics["held_out"]["pipelines"]["int8"]), **budgets(card)}
        if "leave_one_user_out" in metrics:
            row["louo"] = figures(metrics["leave_one_user_out"]["pipelines"]["int8"])
        rows.append(row)
    return rows


def percent(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f} %"


def print_table(rows: list[dict]) -> None:
    print(f"\n{'model':30} {'on':6} {'MAPE':>8} {'worst person':>28} {'false/h':>8} {'bytes':>6} "
          f"{'arena':>6} {'MACs/s':>8} {'train s':>8}")
    for r in rows:
        for on in ("A", "B", "dario", "louo"):
            if on not in r:
                continue
            f = r[on]
            fph = "-" if f["false_counts_per_hour"] is None else f"{f['false_counts_per_hour']:.0f}"
            worst = f"{f['worst_user']} {percent(f['worst_mape'])}"
            print(f"{r['model']:30} {on:6} {percent(f['count_mape']):>8} {worst:>28} {fph:>8} "
                  f"{r['tflite_bytes']:>6} {r['arena_bytes']:>6} {r['macs_per_second']:>8} "
                  f"{r['train_seconds']:>8}")
            if on in ("dario", "louo"):
                print(" " * 38 + ", ".join(f"{g} {percent(m)}" for g, m in f["by_group"].items()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "generalisation")
    parser.add_argument("--quick", action="store_true", help="only the three data rows, wrist")
    parser.add_argument("--rows", nargs="*", choices=ROWS, help="jump-rope rows to run (none: `--rows`)")
    parser.add_argument("--mounts", nargs="+", default=["wrist"], choices=["wrist", "handle"])
    parser.add_argument("--train-users", type=int, default=10)
    parser.add_argument("--train-minutes", type=float, default=2.0)
    parser.add_argument("--epochs", type=int, default=4, help="float epochs of each quick jump-rope model")
    parser.add_argument("--full", action="store_true",
                        help="jump rope: the full recipe (16 + 6 epochs) instead of quick ones")
    parser.add_argument("--steps", action="store_true", help="also the steps rows")
    parser.add_argument("--cv", action="store_true", help="steps: all three leave-one-user-out folds")
    parser.add_argument("--steps-rows", nargs="+", choices=STEPS_ROWS, help="steps rows to run (default all)")
    parser.add_argument("--steps-epochs", type=int, default=8)
    parser.add_argument("--reuse-models", action="store_true",
                        help="keep models already trained under --work")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    rows = jump_rope_rows(args) + (steps_rows(args) if args.steps else [])
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
