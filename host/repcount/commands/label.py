"""Place events in count-only recordings: exactly N events where `@count` says N happened.

For every `@count,START,END,KIND,N` label whose span holds no timed `@event` of its kind,
label places exactly N events of KIND: the placement that maximises the summed int8 scores
of the model (run in the tflite_micro runtime, as on the device), with consecutive events
at least the counter's refractory interval apart, found exactly by dynamic programming
(docs/labelling.md). Without --model, a cold start that needs no trained model places
them on the classic peak detector's signal instead.

It writes NEW recordings to --out (the inputs are never changed): each with its placed
`@event` labels, its `@count` labels kept, and metadata saying how the events were placed
(`# events_placed_by: model NAME HASH` or `cold-start`, `# placed_kinds: jump`).
Recordings without count labels to place are copied to --out unchanged, so --out is a
complete training set (`repcount train --init MODEL --data OUT`).

Per count it reports how sure it is: the model's (or peak detector's) own unconstrained
count in the span against N, and the margin of the weakest placed event (its score minus
the counting threshold; negative means the model would not have counted it). Counts where
the own count differs from N by more than --flag-share of N are FLAGGED and listed first:
look at those (--plot) before training on them.

Examples:
  repcount label --model models/jumprope-wrist --data data/my-sets --out data/my-sets-placed
  repcount label --data data/my-sets --out data/my-sets-cold --plot plots/cold    # no model yet
  repcount label --model models/steps --data data/walks --out data/walks-placed --flag-share 0.05 --json
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

from repcount import heavy
from repcount.data.recordings import find, load, save
from repcount.errors import UserError
from repcount.learn import evaluation, placement
from repcount.learn.card import ModelDir
from repcount.outputs import atomic_dir, check_output


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path,
                   help="model directory (card.json, model.tflite); without it: the cold start")
    p.add_argument("--data", required=True, nargs="+", help="recording files or directories of them")
    p.add_argument("--out", required=True, type=Path, help="directory for the new recordings")
    p.add_argument("--plot", type=Path, metavar="DIR",
                   help="one PNG per placed recording: signal, placed events, flagged spans, scores")
    p.add_argument("--flag-share", type=float, default=placement.FLAG_SHARE,
                   help="flag a count when the own count is off N by more than this share of N (default 0.1)")
    p.add_argument("--force", action="store_true", help="replace --out and --plot if they exist")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def _out_names(files: list[Path]) -> list[str]:
    """Each recording keeps its file name in --out; two inputs of the same name are refused."""
    seen: dict[str, Path] = {}
    for f in files:
        if f.name in seen:
            raise UserError(f"{seen[f.name]} and {f} have the same name and would both go to --out/{f.name}; "
                            "label them in separate runs")
        seen[f.name] = f
    return list(seen)


def _plot(lab: placement.Labelled, title: str, out: Path) -> None:
    """Magnitude with the count spans (red when flagged) and placed events; the score stream below."""
    plt = heavy.pyplot()
    rec = lab.recording
    fig, (top, low) = plt.subplots(2, 1, figsize=(float(np.clip(rec.duration / 6, 10, 40)), 6), sharex=True)
    top.plot(rec.t, np.linalg.norm(rec.acc, axis=1), lw=0.6, color="black", label="|a| (g)")
    for p in lab.placements:
        colour = "#e63946" if p.flagged else "#90be6d"
        top.axvspan(p.count.start, p.count.end, color=colour, alpha=0.3, lw=0)
        top.text(p.count.start, 1.0, f" N {p.count.n}, own {p.own_count}{', FLAGGED' if p.flagged else ''}",
                 transform=top.get_xaxis_transform(), va="top", fontsize=8)
        top.scatter(p.times, np.zeros(len(p.times)), marker="v", s=18, color="#0077b6", zorder=3)
    top.set_ylabel("acceleration (g)")
    top.set_title(title, loc="left")
    for s in lab.streams:
        low.plot(s.times, s.scores, lw=0.7, label=s.source)
        low.axhline(s.threshold, lw=0.7, ls="--", color="#d62828")
    low.set_ylabel("score (int)")
    low.set_xlabel("time (s)")
    low.legend(loc="upper right", fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


def _row(name: str, p: placement.SegmentPlacement) -> dict:
    return {"recording": name, **p.as_dict()}


def _print_table(rows: list[dict], copied: list[str], out: Path, share: float) -> None:
    print(f"{'recording':<28} {'span (s)':>15} {'kind':<8} {'N':>5} {'own':>5} {'margin':>6}  flag")
    for r in rows:
        margin = "-" if r["weakest_margin"] is None else str(r["weakest_margin"])
        span = f"{r['start']:.1f}-{r['end']:.1f}"
        print(f"{r['recording'][:28]:<28} {span:>15} {r['kind']:<8} {r['n']:>5} {r['own_count']:>5} "
              f"{margin:>6}  {'FLAGGED' if r['flagged'] else ''}")
    flagged = sum(r["flagged"] for r in rows)
    print(f"{len(rows)} counts placed, {flagged} flagged (own count off N by more than {share:.0%}); "
          f"{len(copied)} recordings copied unchanged; written to {out}")


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.flag_share:
        raise UserError(f"--flag-share {args.flag_share}: must be 0 or more (0.1: off by over 10 %)")
    check_output(args.out, "dir", args.force)
    if args.plot:
        check_output(args.plot, "dir", args.force, flag="--plot")
    files = find(args.data)
    names = _out_names(files)
    model = ModelDir.open(args.model) if args.model else None
    if model is not None and not model.card.is_counter:
        raise UserError(f"{args.model}: a {model.card.task!r} model counts nothing; label with a "
                        "counting model (jump-rope, steps) or without --model (the cold start)")
    pipes = evaluation.load_pipelines(model, with_float=False) if model else None
    rows: list[dict] = []
    copied: list[str] = []
    labelled: list[tuple[str, placement.Labelled]] = []
    with atomic_dir(args.out, args.force) as tmp:
        for i, (f, name) in enumerate(zip(files, names, strict=True), 1):
            print(f"[{i}/{len(files)}] {f}", file=sys.stderr, flush=True)
            rec = load(f)
            if model is not None and placement.counts_to_place(rec):
                model.check_recording(rec)
            lab = placement.label_recording(rec, pipes, args.flag_share)
            if not lab.placements:
                shutil.copyfile(f, tmp / name)
                copied.append(name)
                continue
            save(lab.recording, tmp / name)
            labelled.append((name, lab))
            rows += [_row(name, p) for p in lab.placements]
    if args.plot:
        with atomic_dir(args.plot, args.force) as tmp:
            for name, lab in labelled:
                _plot(lab, f"{name}: placed by {lab.placements[0].source}", tmp / f"{Path(name).stem}.png")
    rows.sort(key=lambda r: (not r["flagged"], r["recording"], r["start"]))
    if args.json:
        print(json.dumps({
            "placed_by": placement.model_source(pipes) if pipes else placement.COLD_SOURCE,
            "out": str(args.out),
            "flag_share": args.flag_share,
            "counts": rows,
            "flagged": sum(r["flagged"] for r in rows),
            "placed_recordings": [n for n, _ in labelled],
            "copied_recordings": copied,
            **({"plots": [str(args.plot / f"{Path(n).stem}.png") for n, _ in labelled]} if args.plot else {}),
        }, indent=2))
    else:
        _print_table(rows, copied, args.out, args.flag_share)
    return 0
