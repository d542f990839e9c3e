"""Count-only fine-tuning: place once with the init model, or re-place with the fine-tuned one?

The measurement behind `train --init`'s choice (docs/training.md). Simulated jump rope at
the wrist, 2-minute sessions, --quick recipe:
  init      trained on users 1-4 (timed events)
  once      --init init, on users 11-14 as count-only recordings (one @count,START,END,jump,N
            per jump-rope segment, no jump or double-under events), placed once by init
  replaced  --init init, on users 11-14 with the events the `once` model places (one
            round of re-placement with the model being trained)
  timed     --init init, on users 11-14 with their true events (the upper bound)
All measured on users 101-103 (timed). Also: the share of true events of users 11-14
that a placed event matches within the task's tolerance, placed by init and by `once`.

  .venv/bin/python tools/finetune-placement.py WORKDIR    # about 10 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from repcount.commands import train as train_cmd
from repcount.data import simulation
from repcount.data.recordings import Recording, find, load, save
from repcount.learn import evaluation, metrics, placement, tasks
from repcount.learn.card import ModelDir

TASK = tasks.get("jump-rope")


def simulated(work: Path, name: str, first: int, users: int, seed: int) -> Path:
    """Simulated wrist jump rope, 2 minutes per user, made once per work directory."""
    out = work / name
    if not out.exists():
        simulation.simulate_dataset("jump-rope", "wrist", users, 2.0, seed, out, first)
    return out


def count_only(rec: Recording) -> Recording:
    """One @count per jump-rope segment (jumps and double unders, as jumps), no counted events."""
    return placement.counted_only(rec, TASK)


def train(argv: list[str]) -> Path:
    """`repcount train ARGV`, unless its --out already holds a model (reruns reuse it)."""
    out = Path(argv[argv.index("--out") + 1])
    if not (out / "card.json").exists():
        p = argparse.ArgumentParser()
        train_cmd.add_arguments(p)
        assert train_cmd.run(p.parse_args(argv)) == 0
    return out


def placed_by(model: Path, counted: Path, out: Path | None = None) -> dict[str, Recording]:
    """Every recording of `counted`, by file name, its counts placed by `model` (saved to `out`)."""
    pipes = evaluation.load_pipelines(ModelDir.open(model), with_float=False)
    recs = {}
    for f in find([str(counted)]):
        recs[f.name] = placement.label_recording(load(f), pipes).recording
        if out is not None:
            out.mkdir(exist_ok=True)
            save(recs[f.name], out / f.name)
    return recs


def matched_share(placed: dict[str, Recording], timed: Path) -> float:
    """Share of the true events that a placed event matches within the task's tolerance."""
    tp = n = 0
    for f in find([str(timed)]):
        t = load(f).events_of(TASK.event_kinds)
        tp += int(metrics.event_scores(t, placed[f.name].events_of(["jump"]), TASK.event_tolerance_s)["tp"])
        n += len(t)
    return round(tp / n, 4)


def main(work: Path) -> dict:
    """The figures of the docstring, as one JSON object."""
    work.mkdir(parents=True, exist_ok=True)
    a = simulated(work, "a", 1, 4, 1)
    timed = simulated(work, "c", 11, 4, 3)
    held = simulated(work, "held", 101, 3, 2)
    counted = work / "c-counted"
    if not counted.exists():
        counted.mkdir()
        for f in find([str(timed)]):
            save(count_only(load(f)), counted / f.name)
    common = ["--task", "jump-rope", "--quick", "--seed", "1", "--test-data", str(held)]
    init = train([*common, "--data", str(a), "--out", str(work / "init")])
    once = train([*common, "--init", str(init), "--data", str(counted), "--out", str(work / "once")])
    if not (work / "c-replaced").exists():
        placed_by(once, counted, work / "c-replaced")
    replaced = train([*common, "--init", str(init), "--data", str(work / "c-replaced"),
                      "--out", str(work / "replaced")])
    upper = train([*common, "--init", str(init), "--data", str(timed), "--out", str(work / "timed")])
    out: dict = {
        "placement_matched_share": {
            "init": matched_share(placed_by(init, counted), timed),
            "once": matched_share(placed_by(once, counted), timed),
        }
    }
    for name, model in (("init", init), ("once", once), ("replaced", replaced), ("timed", upper)):
        p = json.loads((model / "card.json").read_text())["metrics"]["held_out"]["pipelines"]["int8"]
        out[name] = {"count_mape": round(p["count_mape"], 4), "event_f1": round(p["event_f1"], 4)}
    return out


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    print(json.dumps(main(Path(sys.argv[1])), indent=1))
