"""Convert Oxford step-counter, WISDM raw or generic CSV data to recordings (docs/importers.md).

Three sources:
  oxford  the Oxford step-counter data set (phones walking with foot switches): 48 traces,
          resampled to 50 Hz, a `step` event at every foot-switch rising edge.
  wisdm   a WISDM raw file (`user,activity,timestamp,x,y,z;` in m/s^2): one recording per
          user and session, one segment per activity run; unusable lines are skipped and
          counted by reason.
  csv     any CSV with a header: say which column is which (--columns) and the units.

`--out DIR` receives one NAME.rec per recording. A new directory appears only when the
import is complete; into an existing directory the files are written one by one, each
complete or absent. An existing .rec is never replaced without `--force`, and nothing
else in the directory is touched.

Examples:
  repcount import oxford --out data/oxford
  repcount import oxford --root ../shared/data/oxford-step-counter --out data/oxford --json
  repcount import wisdm WISDM_ar_v1.1_raw.txt --out data/wisdm
  repcount import csv phone.csv --columns t=timestamp,ax=accX,ay=accY,az=accZ \\
      --units m/s^2 --time-unit ms --mount pocket --user alice --activity walking --out data/alice
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from repcount.data.importers import (
    TIME_UNITS,
    ImportReport,
    load_csv,
    load_oxford,
    load_wisdm,
    parse_columns,
)
from repcount.data.recordings import ACCEL_UNITS, MOUNTS, SUFFIX, Recording, save
from repcount.outputs import atomic_dir, check_output


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="source", metavar="SOURCE", required=True)
    o = sub.add_parser("oxford", help="the Oxford step-counter data set (48 walking traces)")
    o.add_argument("--root", help="the data set's folder (default: shared/data/oxford-step-counter "
                                  "beside the repository, or $REPCOUNT_SHARED)")
    w = sub.add_parser("wisdm", help="a WISDM raw file (user,activity,timestamp,x,y,z;)")
    w.add_argument("file")
    w.add_argument("--rate", type=float, default=20.0, help="the file's nominal rate (WISDM: 20 Hz)")
    w.add_argument("--time-unit", choices=TIME_UNITS, default="ns", help="unit of the time stamps")
    c = sub.add_parser("csv", help="a CSV file with a header and a column mapping")
    c.add_argument("file")
    c.add_argument("--columns", required=True, help="which column is t, ax, ay, az: names or 0-based "
                                                    "indices, e.g. t=timestamp,ax=accX,ay=accY,az=accZ")
    c.add_argument("--units", default="g", help=f"unit of the accelerations: {', '.join(ACCEL_UNITS)}")
    c.add_argument("--time-unit", default="s", choices=TIME_UNITS, help="unit of the time column")
    c.add_argument("--delimiter", default=",", help="field separator (default ',')")
    c.add_argument("--rate", type=float, help="nominal sample rate (default: measured)")
    c.add_argument("--mount", default="other", choices=MOUNTS, help="where the sensor sat")
    c.add_argument("--user", help="user id (default: the file's name)")
    c.add_argument("--activity", help="label the whole file as one segment of this activity")
    for sp in (o, w, c):
        sp.add_argument("--out", required=True, help="output directory for the .rec files")
        sp.add_argument("--force", action="store_true", help="replace .rec files that already exist")
        sp.add_argument("--json", action="store_true", help="print a JSON summary on stdout")


def _read(args: argparse.Namespace) -> tuple[list[Recording], list[str], ImportReport]:
    if args.source == "oxford":
        recs = load_oxford(args.root)
        return recs, [f"oxford-{r.meta.extra['trace']}" for r in recs], ImportReport()
    if args.source == "wisdm":
        recs, report = load_wisdm(args.file, args.rate, args.time_unit)
        return recs, [f"{r.meta.user}-s{r.meta.extra['session']}" for r in recs], report
    rec = load_csv(args.file, parse_columns(args.columns), args.units, args.time_unit, args.mount,
                   args.user, args.activity, args.rate, args.delimiter)
    return [rec], [Path(args.file).stem], ImportReport()


def write_all(recs: list[Recording], names: list[str], out: Path, force: bool) -> list[Path]:
    """Save every recording under `out` by the rule of the module docstring."""
    if not out.exists():
        with atomic_dir(out) as tmp:
            for rec, name in zip(recs, names, strict=True):
                save(rec, tmp / f"{name}{SUFFIX}")
        return [out / f"{n}{SUFFIX}" for n in names]
    paths = [check_output(out / f"{n}{SUFFIX}", "file", force) for n in names]
    for rec, path in zip(recs, paths, strict=True):
        save(rec, path)
    return paths


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists():
        check_output(out, "dir", force=True)  # a directory we may write in: it is not replaced
    else:
        check_output(out, "dir")
    if args.source == "csv":  # the one name known before reading: refuse before the work
        check_output(out / f"{Path(args.file).stem}{SUFFIX}", "file", args.force)
    recs, names, report = _read(args)
    paths = write_all(recs, names, out, args.force)
    events = Counter(e.kind for r in recs for e in r.events)
    summary = {"source": args.source, "out": str(out), "recordings": len(paths),
               "users": sorted({r.meta.user for r in recs}), "events": dict(events),
               "hours": round(sum(r.duration for r in recs) / 3600, 4), **report.as_dict()}
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"wrote {len(paths)} recordings ({summary['hours']} h, {dict(events) or 'no events'}) to {out}")
    if report.skipped:
        why = ", ".join(f"{n} {reason} (e.g. line {report.examples[reason][0]})"
                        for reason, n in report.skipped.most_common())
        print(f"skipped {sum(report.skipped.values())} of {report.records + sum(report.skipped.values())} "
              f"records: {why}")
    return 0
