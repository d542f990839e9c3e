#!/usr/bin/env python3
"""Issue 14's proof on data whose truth is held back: count-only labels against timed ones.

Three measurements, one JSON object (bench/count-only.json by default):

steps_louo
    Leave-one-user-out over the three Oxford people. One init model is trained once on
    simulated pocket walking and running only (it never sees Oxford). For each held-out
    person P, the two other people's traces (each trace's steps replaced by one `@count`
    over the whole trace) fine-tune that init model (`repcount train --init`, one recipe
    for all): count_only, placed by the init model as `train --init` does; placed by the
    init model with the traces it flags left out; placed by the cold start (`repcount
    label` without a model); count_only_by_flags, a rule that needs no truth: the placer
    of those two that flags fewer spans, its flagged recordings left out. Next to them the
    same people fully timed (their foot-switch events). All are evaluated on P with P's
    real per-step truth (int8, TFLite Micro), with the classic peak detector alongside.
placement_oxford
    The share of true steps that a placed event matches within 200 ms
    (tools/placement-oxford.py's count-only conversion and matching): for the traces a
    fold fine-tunes on, placed by the init model (what `train --init` placed); for the
    held-out person, placed by the fold's count-only models (never trained on P) and by
    the cold start (trained on nobody).
jumprope_adaptation
    Generator B jump rope (docs/signal-model-b.md: a family of jumpers outside the
    shipped models' training), at the wrist and at the handle: 10 B people with 3
    recordings of 2 minutes each, as count-only (one `@count` per bout) and as timed,
    fine-tune models/jumprope-MOUNT (`train --init`) with the same placers and rule as
    the steps, evaluated on 10 other B people (users from 101) with their timed events;
    per count-only model, the share of the shipped-to-timed count-MAPE gap it closes.

Every step is a `repcount` command (listed in the JSON), run once: a rerun with the same
WORKDIR reuses the data and models already there. `--quick` is a small version (fewer
users, epochs and minutes) that checks the pipeline end to end, not the figures.

  nice -n 10 .venv/bin/python tools/count-only-proof.py build/count-only
  nice -n 10 .venv/bin/python tools/count-only-proof.py build/count-only-quick --quick --out /tmp/co.json
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from repcount.data.importers import load_oxford
from repcount.data.recordings import find, load, save
from repcount.learn import evaluation, metrics, placement, tasks
from repcount.learn.card import ModelDir

ROOT = Path(__file__).resolve().parent.parent
PEOPLE = ("oxford-jamie", "oxford-carmelo", "oxford-dario")
STEPS = tasks.get("steps")
JUMP = tasks.get("jump-rope")
COUNT_ONLY = ("count_only", "count_only_unflagged", "count_only_cold_start", "count_only_by_flags")
JR_PEOPLE = 10  # generator-B people adapted on, and as many held out


def _tool(name: str):
    """A sibling tool script as a module (their file names have dashes)."""
    spec = importlib.util.spec_from_file_location(name.replace("-", "_"), ROOT / "tools" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


OXFORD_TOOL = _tool("placement-oxford")
FINETUNE_TOOL = _tool("finetune-placement")


class Runner:
    """Runs `repcount` commands from the repository root, records them, skips finished ones."""

    def __init__(self) -> None:
        self.commands: list[str] = []
        self.exe = str(Path(sys.executable).parent / "repcount")

    def run(self, argv: list[str], done: Path, keep: bool = False) -> str:
        """Run `repcount ARGV` unless `done` (a file or directory) exists; `keep`: stdout kept in `done`."""
        self.commands.append(shlex.join(["repcount", *argv]))
        if done.exists():
            return done.read_text() if done.is_file() else ""
        print(f"+ repcount {shlex.join(argv)}", file=sys.stderr, flush=True)
        started = time.monotonic()
        out = subprocess.run([self.exe, *argv], check=True, stdout=subprocess.PIPE, text=True).stdout
        print(f"  ({time.monotonic() - started:.0f} s)", file=sys.stderr, flush=True)
        if keep:
            done.write_text(out)
        return out

    def train(self, argv: list[str], out: Path) -> Path:
        """`repcount train ARGV --out OUT`, once."""
        self.run([*argv, "--out", str(out)], out / "card.json")
        return out

    def evaluate(self, model: str | Path, data: list[str], users: list[str], cache: Path) -> dict:
        """`repcount evaluate --json` (int8 and the peak detector), once per cache file."""
        argv = ["evaluate", "--model", str(model), "--data", *data, "--no-float", "--baseline", "peaks",
                "--json"]
        if users:
            argv += ["--users", *users]
        return json.loads(self.run(argv, cache, keep=True))


def figures(pipeline: dict) -> dict:
    """What the proof compares of one pipeline's evaluation."""
    keys = ("count_mape", "event_f1", "recordings", "true_events", "predicted_events", "tp", "fp", "fn")
    return {k: (round(pipeline[k], 4) if isinstance(pipeline[k], float) else pipeline[k]) for k in keys}


def pooled(folds: list[dict]) -> dict:
    """Pooled over folds: count MAPE weighted by recordings (a per-recording mean), F1 of summed tp/fp/fn."""
    n = sum(f["recordings"] for f in folds)
    tp, fp, fn = (sum(f[k] for f in folds) for k in ("tp", "fp", "fn"))
    return {
        "count_mape": round(sum(f["count_mape"] * f["recordings"] for f in folds) / n, 4),
        "event_f1": round(float(metrics.prf(tp, fp, fn)["event_f1"]), 4),
        "recordings": n, "tp": tp, "fp": fp, "fn": fn,
    }


def oxford_files(work: Path) -> dict[str, dict[str, Path]]:
    """The Oxford traces saved per person, timed and count-only (made once)."""
    dirs = {p: {kind: work / "oxford" / kind / p for kind in ("timed", "counted")} for p in PEOPLE}
    if not all(d["counted"].exists() for d in dirs.values()):
        for rec in load_oxford():
            name = f"{rec.meta.extra['trace']}.rec".replace("/", "_")
            d = dirs[rec.meta.user]
            for sub in d.values():
                sub.mkdir(parents=True, exist_ok=True)
            save(rec, d["timed"] / name)
            save(OXFORD_TOOL.count_only(rec)[0], d["counted"] / name)
    return dirs


@dataclass(frozen=True)
class Placed:
    """Count-only recordings placed by `repcount label` (a model, or the cold start), and its flags."""

    placed: Path
    unflagged: Path
    flagged_spans: int
    spans: int


def label(run: Runner, model: str | Path | None, counted: Path, out: Path) -> Placed:
    """`repcount label` once; `out`/unflagged holds the placed recordings with no span flagged.

    Leaving out a recording with a flagged span is what docs/labelling.md tells a person
    to do when they cannot fix it: it needs no truth, only the placer's own count against N.
    """
    out.mkdir(parents=True, exist_ok=True)
    argv = ["label", *(["--model", str(model)] if model else []), "--data", str(counted),
            "--out", str(out / "placed"), "--json"]
    report = json.loads(run.run(argv, out / "label.json", keep=True))
    flagged = {c["recording"] for c in report["counts"] if c["flagged"]}
    kept = out / "unflagged"
    if not kept.exists():
        kept.mkdir()
        for f in find([str(out / "placed")]):
            if f.name not in flagged:
                shutil.copy(f, kept / f.name)
    return Placed(out / "placed", kept, sum(c["flagged"] for c in report["counts"]), len(report["counts"]))


def by_flags(candidates: list[list[Placed]]) -> list[Path]:
    """The rule that needs no truth: the placer that flags fewer spans, its flagged recordings left out."""
    best = min(candidates, key=lambda placed: sum(p.flagged_spans for p in placed))
    return [p.unflagged for p in best]


def placement_share(model: Path | None, counted: list[Path], timed: list[Path]) -> dict:
    """Share of true steps matched within 200 ms by the events placed in the count-only traces."""
    pipes = None if model is None else evaluation.load_pipelines(ModelDir.open(model), with_float=False)
    tally: Counter[str] = Counter()
    for cdir, tdir in zip(counted, timed, strict=True):
        for f in find([str(cdir)]):
            lab = placement.label_recording(load(f), pipes)
            truth = load(tdir / f.name).events_of(["step"])
            placed = lab.recording.events_of(["step"])
            tally["matched"] += int(metrics.event_scores(truth, placed, STEPS.event_tolerance_s)["tp"])
            tally["true_steps"] += len(truth)
            tally["flagged_spans"] += sum(s.flagged for s in lab.placements)
    return {**tally, "matched_share": round(tally["matched"] / tally["true_steps"], 4)}


def steps_init(run: Runner, work: Path, quick: bool) -> Path:
    """The simulated-only steps model (pocket walking and running), trained once for every fold."""
    walk, runs = work / "sim-walking", work / "sim-running"
    users, minutes = ("2", "2") if quick else ("6", "3")
    run.run(["simulate", "--activity", "walking", "--mount", "pocket", "--users", users, "--minutes", minutes,
             "--seed", "3", "--out", str(walk)], walk / "manifest.json")
    run.run(["simulate", "--activity", "running", "--mount", "pocket", "--users", users, "--minutes", "2",
             "--seed", "4", "--out", str(runs)], runs / "manifest.json")
    epochs = "2" if quick else "12"
    return run.train(["train", "--task", "steps", "--data", str(walk), str(runs), "--rotations", "1",
                      "--train-stride", "16", "--epochs", epochs, "--seed", "1"], work / "steps-init")


def steps_louo(run: Runner, work: Path, quick: bool) -> tuple[dict, dict]:
    """Per fold and pooled: init, count-only, fully timed, peaks on the held-out person; and placement."""
    init = steps_init(run, work, quick)
    files = oxford_files(work)
    by = {placer: {p: label(run, model, files[p]["counted"], work / "oxford" / f"placed-{placer}" / p)
                   for p in PEOPLE} for placer, model in (("init", init), ("cold", None))}
    recipe = ["--rotations", "0", "--train-stride", "32" if quick else "16",
              "--epochs", "1" if quick else "4", "--seed", "1"]
    folds: dict[str, dict] = {}
    place: dict[str, dict] = {}
    for held in PEOPLE[2:] if quick else PEOPLE:
        train_people = [p for p in PEOPLE if p != held]
        data = {
            "count_only": [files[p]["counted"] for p in train_people],
            "count_only_unflagged": [by["init"][p].unflagged for p in train_people],
            "count_only_cold_start": [by["cold"][p].placed for p in train_people],
            "count_only_by_flags": by_flags([[by[k][p] for p in train_people] for k in by]),
            "fully_timed": [files[p]["timed"] for p in train_people],
        }
        models = {"simulated_only": init}
        trained: dict[tuple[str, ...], Path] = {}
        for name, dirs in data.items():
            dirs = tuple(str(d) for d in dirs if find([str(d)]))
            if dirs not in trained:  # the same data (e.g. a rule's choice) is trained once
                trained[dirs] = run.train(["train", "--task", "steps", "--init", str(init), "--data", *dirs,
                                           *recipe], work / f"steps-{name}-{held}")
            models[name] = trained[dirs]
        fold = {}
        for name, model in models.items():
            ev = run.evaluate(model, ["oxford"], [held], work / f"eval-{model.name}-{held}.json")
            fold[name] = figures(ev["pipelines"]["int8"])
        fold["peak_detector"] = figures(ev["pipelines"]["baseline"])
        folds[held] = fold
        place[held] = {
            "training_people_placed_by_init": placement_share(
                init, [files[p]["counted"] for p in train_people], [files[p]["timed"] for p in train_people]),
            "held_out_placed_by_count_only_model": placement_share(
                models["count_only"], [files[held]["counted"]], [files[held]["timed"]]),
            "held_out_placed_by_count_only_cold_start_model": placement_share(
                models["count_only_cold_start"], [files[held]["counted"]], [files[held]["timed"]]),
            "held_out_cold_start": placement_share(None, [files[held]["counted"]], [files[held]["timed"]]),
        }
    result: dict = {"folds": folds, "pooled": {
        name: pooled([f[name] for f in folds.values()]) for name in next(iter(folds.values()))}}
    result["check"] = {name: steps_check(result["pooled"], name) for name in COUNT_ONLY}
    result["flagged_spans"] = {k: {p: f"{v.flagged_spans}/{v.spans}" for p, v in placed.items()}
                               for k, placed in by.items()}
    result["recipe"] = {
        "init": "simulated pocket walking + running only",
        "fine_tune": " ".join(recipe),
        "count_only": "placed once by the init model (train --init does it)",
        "count_only_unflagged": "placed by the init model; traces it flags (own count off N > 10 %) left out",
        "count_only_cold_start": "placed by `repcount label` without a model (cold start), then train --init",
        "count_only_by_flags": "placed by whichever of the init model and the cold start flags fewer spans "
                               "on the fold's training traces, its flagged traces left out",
    }
    return result, placement_summary(place)


def steps_check(pooled_figures: dict, label: str) -> dict:
    """One count-only pipeline against the fully-timed one, pooled over the folds."""
    p, t = pooled_figures[label], pooled_figures["fully_timed"]
    gap = round(100 * (p["count_mape"] - t["count_mape"]), 2)
    f1_gap = round(t["event_f1"] - p["event_f1"], 4)
    return {"count_mape_gap_points": gap, "event_f1_gap": f1_gap, "met": gap <= 0.5 and f1_gap <= 0.02,
            "target": "count-only within 0.5 points of count MAPE and 0.02 of event F1 of the fully-timed"}


def placement_summary(place: dict[str, dict]) -> dict:
    """Per fold, and each kind pooled over folds, against the 95 % target."""
    kinds = next(iter(place.values())).keys()
    total = {}
    for kind in kinds:
        m = sum(place[f][kind]["matched"] for f in place)
        n = sum(place[f][kind]["true_steps"] for f in place)
        total[kind] = {"matched": m, "true_steps": n, "matched_share": round(m / n, 4)}
    check = {kind: {"matched_share": (share := total[kind]["matched_share"]), "met": share >= 0.95,
                    "target": ">= 95 % of true Oxford steps matched within 200 ms"}
             for kind in ("held_out_cold_start", "held_out_placed_by_count_only_model",
                          "held_out_placed_by_count_only_cold_start_model")}
    return {"tolerance_s": STEPS.event_tolerance_s, "folds": place, "pooled": total, "check": check}


def jumprope_data(run: Runner, work: Path, mount: str, people: int) -> tuple[Path, Path, Path]:
    """Generator B jump rope: adaptation recordings (timed and count-only) and held-out people."""
    timed, counted, held = (work / f"jr-{mount}-b-{k}" for k in ("timed", "counted", "held"))
    for seed in (11, 12, 13):
        out = work / f"jr-{mount}-b-s{seed}"
        run.run(["simulate", "--generator", "b", "--activity", "jump-rope", "--mount", mount,
                 "--users", str(people), "--minutes", "2", "--seed", str(seed), "--out", str(out)],
                out / "manifest.json")
        for f in find([str(out)]):
            for d, rec in ((timed, load(f)), (counted, FINETUNE_TOOL.count_only(load(f)))):
                d.mkdir(exist_ok=True)
                save(rec, d / f.name)
    run.run(["simulate", "--generator", "b", "--activity", "jump-rope", "--mount", mount,
             "--users", str(people), "--minutes", "4", "--seed", "2", "--first-user", "101",
             "--out", str(held)], held / "manifest.json")
    return timed, counted, held


def jumprope_adaptation(run: Runner, work: Path, quick: bool, mount: str) -> dict:
    """Shipped, count-only adapted and timed adapted models on held-out generator-B people."""
    shipped = f"models/jumprope-{mount}"
    people = 2 if quick else JR_PEOPLE
    timed, counted, held = jumprope_data(run, work, mount, people)
    by = {k: label(run, model, counted, work / f"jr-{mount}-b-placed-{k}")
          for k, model in (("shipped", shipped), ("cold", None))}
    data = {"count_only_adapted": [counted], "count_only_unflagged_adapted": [by["shipped"].unflagged],
            "count_only_cold_start_adapted": [by["cold"].placed],
            "count_only_by_flags_adapted": by_flags([[by["shipped"]], [by["cold"]]]),
            "timed_adapted": [timed]}
    recipe = ["--rotations", "1", "--train-stride", "16", "--epochs", "1" if quick else "4", "--seed", "1"]
    models: dict[str, str | Path] = {"shipped": shipped}
    trained: dict[tuple[str, ...], Path] = {}
    for name, dirs in data.items():
        key = tuple(map(str, dirs))
        if key not in trained:
            trained[key] = run.train(
                ["train", "--task", "jump-rope", "--init", shipped, "--data", *key, *recipe],
                work / f"jr-{mount}-{name}")
        models[name] = trained[key]
    out: dict = {}
    for name, model in models.items():
        ev = run.evaluate(model, [str(held)], [], work / f"eval-jr-{mount}-{name}.json")
        out[name] = figures(ev["pipelines"]["int8"])
    out["peak_detector"] = figures(ev["pipelines"]["baseline"])
    out["placement"] = {"tolerance_s": JUMP.event_tolerance_s,
                        **{f"matched_share_{k}": FINETUNE_TOOL.matched_share(
                            {f.name: load(f) for f in find([str(p.placed)])}, timed) for k, p in by.items()},
                        **{f"flagged_spans_{k}": f"{p.flagged_spans}/{p.spans}" for k, p in by.items()},
                        "unflagged_recordings_shipped": len(find([str(by["shipped"].unflagged)]))}
    out["check"] = {name: gap_closed(out, name) for name in data if name != "timed_adapted"}
    out["data"] = {"adaptation": f"generator b, {mount}, {people} people x 3 recordings of 2 min "
                                 "(seeds 11-13), one @count per bout",
                   "held_out": f"generator b, {mount}, {people} people from user 101, 4 min each",
                   "recipe": " ".join(recipe)}
    return out


def gap_closed(figs: dict, label: str) -> dict:
    """The share of the shipped-to-timed count-MAPE gap that a count-only adaptation closes."""
    ship, co, ti = (figs[k]["count_mape"] for k in ("shipped", label, "timed_adapted"))
    closed = round((ship - co) / (ship - ti), 4) if ship > ti else None
    return {"gap_closed": closed, "met": closed is not None and closed >= 0.8,
            "target": "count-only adaptation closes >= 80 % of the count-MAPE gap between "
                      "the shipped model and the timed-adapted model"}


def git_commit() -> str:
    """The commit the figures were measured at."""
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, check=True, stdout=subprocess.PIPE,
                          text=True).stdout.strip()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("work", type=Path, help="work directory for data and models (e.g. build/count-only)")
    ap.add_argument("--quick", action="store_true", help="small: checks the pipeline, not the figures")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "count-only.json", help="the JSON to write")
    ap.add_argument("--only", choices=("steps", "jumprope"), help="run only one part")
    args = ap.parse_args()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    if work.is_relative_to(ROOT):
        work = work.relative_to(ROOT)  # the commands in the JSON name no path of this machine
    os.chdir(ROOT)
    run, started = Runner(), time.monotonic()
    result: dict = {}
    if args.only in (None, "steps"):
        result["steps_louo"], result["placement_oxford"] = steps_louo(run, work, args.quick)
    if args.only in (None, "jumprope"):
        result["jumprope_adaptation"] = {m: jumprope_adaptation(run, work, args.quick, m)
                                         for m in ("wrist", "handle")}
    result.update({"quick": args.quick, "commands": run.commands,
                   "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                   "git_commit": git_commit(),
                   # a rerun reuses the data and models already in WORKDIR: this is not the cost from scratch
                   "seconds_this_invocation": round(time.monotonic() - started)})
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    checks = {k: result[k]["check"] for k in ("steps_louo", "placement_oxford") if k in result}
    checks.update({f"jumprope_{m}": v["check"] for m, v in result.get("jumprope_adaptation", {}).items()})
    print(json.dumps(checks, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
