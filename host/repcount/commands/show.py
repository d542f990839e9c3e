"""Check recordings and print what they hold: samples, rate, gaps, segments, events, counts.

Every file is validated as training and evaluation would read it (docs/recording-format.md):
the first problem stops the command with file and line. A torn last line (a capture cut
off mid-write) is not an error: the samples before it load, and a warning says so.

`--plot` draws signal, segments and events. `--plot FILE.png` with one recording writes
that file; with several it writes FILE-NAME.png beside it, one per recording. Any other
`--plot` path is a directory (created if missing) that receives NAME.png per recording.
An existing picture is never replaced without `--force`.

Examples:
  repcount show data/sim/u01-jump-rope.rec
  repcount show data/sim/u01-jump-rope.rec --plot u01.png --json
  repcount show data/sim --plot plots/          # plots/NAME.png for every recording
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from repcount.data.recordings import Recording, find, load
from repcount.errors import UserError
from repcount.outputs import atomic_file, check_output
from repcount.plots import plot_recording


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", help="recording files or directories of them")
    p.add_argument("--plot", metavar="PNG|DIR",
                   help="draw signal, segments and events: a .png file, or a directory for one PNG each")
    p.add_argument("--force", action="store_true", help="replace plots that already exist")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def plot_paths(plot: str, files: list[Path]) -> list[Path]:
    """Where each file's picture goes, by the rule of the module docstring; clashes refused."""
    target = Path(plot)
    if target.suffix.lower() == ".png" and not target.is_dir():
        if len(files) == 1:
            outs = [target]
        else:
            outs = [target.with_name(f"{target.stem}-{f.stem}.png") for f in files]
    else:
        outs = [target / f"{f.stem}.png" for f in files]
    seen: dict[Path, Path] = {}
    for f, out in zip(files, outs, strict=True):
        if out in seen:
            raise UserError(f"--plot: {seen[out]} and {f} would both be drawn to {out}; "
                            "show them one at a time")
        seen[out] = f
    return outs


def summary(rec: Recording) -> dict[str, object]:
    """The figures `repcount show` prints, as one JSON-ready object."""
    dt = np.diff(rec.t)
    kinds: dict[str, int] = {}
    for e in rec.events:
        kinds[e.kind] = kinds.get(e.kind, 0) + 1
    activities: dict[str, float] = {}
    for s in rec.segments:
        activities[s.activity] = activities.get(s.activity, 0.0) + s.end - s.start
    return {
        "path": str(rec.path) if rec.path else None,
        "user": rec.meta.user,
        "mount": rec.meta.mount,
        "board": rec.meta.board,
        "samples": len(rec.t),
        "duration_s": rec.duration,
        "declared_rate_hz": rec.meta.sample_rate_hz,
        "measured_rate_hz": float(1.0 / np.median(dt)) if len(dt) else None,
        "gaps_over_1_5_periods": int(np.sum(dt > 1.5 / rec.meta.sample_rate_hz)),
        "full_scale_g": rec.meta.full_scale_g,
        "events": kinds,
        "segment_seconds": activities,
        "counts": [{"start": c.start, "end": c.end, "kind": c.kind, "n": c.n} for c in rec.counts],
        "warnings": list(rec.warnings),
    }


def _plot(rec: Recording, out: Path) -> None:
    """Draw in a private folder, then move the bytes in atomically: no half-written PNG."""
    with tempfile.TemporaryDirectory() as tmp:
        # One sample spans no time: draw one sample period, not an empty axis.
        span = (float(rec.t[0]), float(rec.t[0]) + 1.0 / rec.meta.sample_rate_hz) if len(rec.t) == 1 else None
        drawn = plot_recording(rec, Path(tmp) / "plot.png", span=span)
        with atomic_file(out, "wb") as f:
            f.write(drawn.read_bytes())


def _print(info: dict[str, object]) -> None:
    rate = info["measured_rate_hz"]
    measured = f"{rate:.2f} Hz" if isinstance(rate, float) else "an unknown rate (one sample)"
    print(f"{info['path']}: {info['samples']} samples, {info['duration_s']:.1f} s at {measured} "
          f"(declared {info['declared_rate_hz']}), user {info['user']}, mount {info['mount']}")
    print(f"  events: {info['events'] or 'none'}")
    segs = ", ".join(f"{k} {v:.1f} s" for k, v in info["segment_seconds"].items())  # type: ignore[union-attr]
    print(f"  segments: {segs or 'none'}")
    counts = ", ".join(f"{c['n']} {c['kind']} in {c['start']}-{c['end']} s"
                       for c in info["counts"])  # type: ignore[union-attr]
    if counts:
        print(f"  counts: {counts}")
    for warning in info["warnings"]:  # type: ignore[union-attr]
        print(f"  warning: {warning}")


def run(args: argparse.Namespace) -> int:
    files = find(args.files)
    outs = plot_paths(args.plot, files) if args.plot else []
    for out in outs:
        check_output(out, "file", args.force, flag="--plot")
    # Every file is checked before any picture is drawn, one recording in memory at a time.
    infos = [summary(load(f)) for f in files]
    for f, out in zip(files, outs, strict=False):
        _plot(load(f), out)
    if args.json:
        print(json.dumps({"recordings": infos, **({"plots": list(map(str, outs))} if outs else {})},
                         indent=2))
        return 0
    for info in infos:
        _print(info)
    for out in outs:
        print(f"plot: {out}")
    return 0
