"""Other people's accelerometer data as repcount recordings (docs/importers.md).

Everything downstream (training, evaluation, HIL replay) reads one format, so each
source is converted once, here, with what it cannot express kept as metadata and what
cannot be used reported rather than guessed. Three sources:
  oxford  the Oxford step-counter data set (phones walking with foot switches): 48 traces,
          resampled from the phones' irregular 100-400 Hz to 50 Hz through an anti-aliasing
          filter; a `step` event at every rising edge of either foot switch; user, phone,
          placement and surface kept as metadata; one `walking` segment per trace.
  wisdm   the WISDM raw activity format, lines `user,activity,timestamp,x,y,z;` in m/s^2:
          one recording per user and session, one segment per activity run; malformed
          lines are skipped and counted by reason.
  csv     any CSV with a header: say which column is which (--columns) and the units.
          Several samples that share one time stamp (common in phone logs) are spread
          evenly up to the next time stamp.
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from repcount import heavy
from repcount.data.recordings import (
    ACCEL_UNITS,
    CLIP_TOLERANCE,
    FULL_SCALES_G,
    MOUNTS,
    Event,
    Meta,
    Recording,
    Segment,
    is_nan_or_inf,
    is_plain_decimal,
)
from repcount.errors import UserError

RATE_HZ = 50.0
TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
# Oxford placements (as spelled in stats.csv, any case) -> (placement, mount).
OXFORD_PLACEMENTS = {
    "inhand": ("InHand", "hand"),
    "swingingarm": ("SwingingArm", "hand"),
    "armband": ("Armband", "arm"),
    "frontpocket": ("FrontPocket", "pocket"),
    "backpocket": ("BackPocket", "pocket"),
    "neckpouch": ("NeckPouch", "neck"),
    "purse": ("Purse", "bag"),
}
WISDM_ACTIVITIES = {
    "walking": "walking", "jogging": "running", "upstairs": "stairs", "downstairs": "stairs",
    "sitting": "sitting", "standing": "standing",
}


def shared_dir() -> Path:
    """The shared data directory: $REPCOUNT_SHARED, or `shared` beside the repository."""
    env = os.environ.get("REPCOUNT_SHARED")
    if env:
        if not Path(env).is_dir():
            raise UserError(f"REPCOUNT_SHARED={env} is not a directory")
        return Path(env)
    for base in (Path(__file__).resolve().parents[3], Path.cwd()):
        if (base.parent / "shared").is_dir():
            return base.parent / "shared"
    raise UserError(
        "cannot find the shared data directory: set REPCOUNT_SHARED to it, or pass --root"
    )


def full_scale_for(acc_g: np.ndarray, source: str | Path = "the data") -> float:
    """The smallest standard IMU range that holds every value (phones do not say theirs).

    A value beyond the largest range (16 g) is no accelerometer reading a recording could
    hold: most likely the unit is wrong, so it is refused rather than clipped.
    """
    peak = float(np.max(np.abs(acc_g))) if len(acc_g) else 0.0
    fs = next((fs for fs in FULL_SCALES_G if peak < fs), None)
    if fs is None and peak <= FULL_SCALES_G[-1] * (1 + CLIP_TOLERANCE):
        fs = FULL_SCALES_G[-1]
    if fs is None:
        raise UserError(f"{source}: an acceleration of {peak:.4g} g lies beyond the largest IMU range "
                        f"({FULL_SCALES_G[-1]:g} g); is the unit right (--units)?")
    return fs


def resample(t: np.ndarray, x: np.ndarray, rate: float = RATE_HZ) -> tuple[np.ndarray, np.ndarray]:
    """Irregularly sampled `x` (rows) at times `t` -> a uniform `rate` grid, without aliasing.

    The samples are first interpolated onto a uniform grid at the integer multiple k of
    `rate` nearest the source's median rate, then decimated by k with a windowed-sinc FIR
    low-pass (scipy's polyphase resampler), which removes what lies above rate/2 before it
    could fold back into the band the model sees.
    """
    resample_poly = heavy.scipy_signal().resample_poly

    native = 1.0 / float(np.median(np.diff(t)))
    k = max(1, int(round(native / rate)))
    fine = rate * k
    start = math.ceil(t[0] * rate) / rate
    grid = start + np.arange(int((t[-1] - start) * fine) + 1) / fine
    dense = np.stack([np.interp(grid, t, x[:, i]) for i in range(x.shape[1])], axis=1)
    if k == 1:
        return grid, dense
    out = resample_poly(dense, 1, k, axis=0, padtype="line")
    return start + np.arange(len(out)) / rate, out


# --- Oxford step counter -------------------------------------------------------------------


def _oxford_root(root: str | Path | None) -> Path:
    base = Path(root) if root is not None else shared_dir() / "data" / "oxford-step-counter"
    for candidate in (base, base / "optimisation"):
        if (candidate / "stats.csv").is_file() and (candidate / "data").is_dir():
            return candidate
    raise UserError(
        f"{base}: not the Oxford step-counter data (expected optimisation/stats.csv and "
        "optimisation/data/ inside); pass --root DIR pointing at it"
    )


def load_oxford(root: str | Path | None = None, rate: float = RATE_HZ) -> list[Recording]:
    """All traces listed in the Oxford data set's stats.csv, as 50 Hz recordings with step labels."""
    base = _oxford_root(root)
    recs = []
    with open(base / "stats.csv", encoding="utf-8") as f:
        rows = [[c.strip() for c in row] for row in csv.reader(f) if row and not row[0].startswith("#")]
    for lineno, row in enumerate(rows, start=2):
        if len(row) < 7:
            raise UserError(f"{base / 'stats.csv'}:{lineno}: expected 7 columns, got {len(row)}")
        recs.append(_oxford_trace(base / "data" / row[0], row, rate))
    return recs


def _oxford_trace(folder: Path, row: list[str], rate: float) -> Recording:
    name, user, phone, position, surface = row[:5]
    try:
        acc = np.loadtxt(folder / "accelerometer.csv", delimiter=",", ndmin=2)
        switches = np.loadtxt(folder / "stepcounter.csv", delimiter=",", ndmin=2)
    except (OSError, ValueError) as exc:
        raise UserError(f"{folder}: cannot read the trace ({exc})") from None
    origin = min(acc[0, 0], switches[0, 0])
    t_acc = (acc[:, 0] - origin) * 1e-9
    keep = np.concatenate([[True], np.diff(t_acc) > 0])  # drop repeated time stamps, if any
    native = 1.0 / float(np.median(np.diff(t_acc[keep])))
    t, g = resample(t_acc[keep], acc[keep, 2:5] / 9.80665, rate)
    t_sw = (switches[:, 0] - origin) * 1e-9
    edges = np.diff(switches[:, 1:3], axis=0) > 0  # a step: either foot switch goes from 0 to 1
    steps = np.concatenate([t_sw[1:][edges[:, 0]], t_sw[1:][edges[:, 1]]])
    placement, mount = OXFORD_PLACEMENTS.get(position.lower(), (position, "other"))
    meta_file = folder / "metadata.txt"
    sensor = meta_file.read_text(encoding="utf-8").partition(":")[2].strip() if meta_file.is_file() else ""
    sensor = sensor or "unknown"
    notes_file = folder / "notes.txt"
    extra = {"source": "oxford-step-counter", "trace": name, "phone": phone, "placement": placement,
             "surface": surface, "sensor": sensor, "native_rate_hz": f"{native:.1f}",
             "steps_in_stats_csv": row[6]}
    if notes_file.is_file():
        extra["notes"] = " ".join(notes_file.read_text(encoding="utf-8", errors="replace").split())
    meta = Meta(sample_rate_hz=rate, full_scale_g=full_scale_for(g, folder), mount=mount,
                user=f"oxford-{user.lower()}", board="phone", device=f"{phone}-{sensor}", extra=extra)
    events = [Event(round(float(s), 4), "step") for s in np.sort(steps)]
    segment = Segment(round(float(t[0]), 4), round(float(t[-1]), 4), "walking")
    return Recording(meta, np.round(t, 6), g, None, [segment], events)


# --- WISDM -----------------------------------------------------------------------------------


@dataclass
class ImportReport:
    """What an import read and what it skipped, by reason (with the first few line numbers)."""

    records: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[int]] = field(default_factory=dict)

    def skip(self, reason: str, lineno: int) -> None:
        self.skipped[reason] += 1
        self.examples.setdefault(reason, [])
        if len(self.examples[reason]) < 5:
            self.examples[reason].append(lineno)

    def as_dict(self) -> dict[str, object]:
        return {"records": self.records, "skipped": sum(self.skipped.values()),
                "skipped_by_reason": dict(self.skipped), "example_lines": self.examples}


def load_wisdm(path: str | Path, rate: float = 20.0, time_unit: str = "ns",
               max_gap_s: float = 5.0) -> tuple[list[Recording], ImportReport]:
    """Recordings of a WISDM raw file: one per user and session, one segment per activity run.

    A session ends where the time stamps go backwards or pause longer than `max_gap_s`.
    Records that cannot be used are skipped and counted in the report, by reason.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    scale = TIME_UNITS[time_unit]
    report = ImportReport()
    sessions: list[tuple[str, list[tuple[float, str, float, float, float, int]]]] = []
    last: dict[str, float] = {}
    current: dict[str, list[tuple[float, str, float, float, float, int]]] = {}
    text = path.read_text(encoding="utf-8", errors="replace")
    for lineno, line in enumerate(text.splitlines(), start=1):
        for raw in line.split(";"):
            record = raw.strip().rstrip(",").strip()
            if not record:
                continue
            fields = [f.strip() for f in record.split(",")]
            if len(fields) != 6:
                report.skip(f"{len(fields)} fields instead of 6", lineno)
                continue
            user, activity = fields[0], fields[1]
            try:
                ts = _number(fields[2]) * scale
                xyz = [_number(v) for v in fields[3:6]]
            except ValueError:
                report.skip("a value is not a number", lineno)
                continue
            if not all(math.isfinite(v) for v in (ts, *xyz)):
                report.skip("NaN or infinite value", lineno)
                continue
            if ts <= 0:
                report.skip("zero time stamp", lineno)
                continue
            if activity.lower() not in WISDM_ACTIVITIES:
                report.skip("unknown activity", lineno)
                continue
            prev = last.get(user)
            if prev is not None and ts == prev:
                report.skip("duplicated time stamp", lineno)
                continue
            if prev is None or ts < prev or ts - prev > max_gap_s:
                current[user] = []
                sessions.append((user, current[user]))
            last[user] = ts
            current[user].append((ts, WISDM_ACTIVITIES[activity.lower()], *xyz, lineno))
            report.records += 1
    recs = []
    counts: Counter[str] = Counter()
    for user, rows in sessions:
        if len(rows) < 2:
            report.records -= 1
            report.skip("a session of a single record", rows[0][5])
            continue
        counts[user] += 1
        recs.append(_wisdm_session(path, user, counts[user], rows, rate))
    return recs, report


def _wisdm_session(path: Path, user: str, n: int, rows: list[tuple[float, str, float, float, float, int]],
                   rate: float) -> Recording:
    t = np.array([r[0] for r in rows])
    t = np.round(t - t[0], 6)
    acc = np.array([r[2:5] for r in rows]) * ACCEL_UNITS["m/s^2"]
    segments = []
    start = 0
    # The last run's segment covers its last sample's period too (at most the nominal one).
    period = min(float(np.median(np.diff(t))), 1.0 / rate)
    for i in range(1, len(rows) + 1):
        if i == len(rows) or rows[i][1] != rows[start][1]:
            end = t[i] if i < len(rows) else t[-1] + period
            segments.append(Segment(float(t[start]), round(float(end), 6), rows[start][1]))
            start = i
    meta = Meta(sample_rate_hz=rate, full_scale_g=full_scale_for(acc, path), mount="pocket",
                user=f"wisdm-{user}", board="phone", device="unknown",
                extra={"source": f"wisdm:{path.name}", "session": str(n)})
    return Recording(meta, t, acc, None, segments, [])


# --- generic CSV ----------------------------------------------------------------------------


def parse_columns(spec: str) -> dict[str, str]:
    """`t=timestamp,ax=accX,ay=accY,az=accZ` -> {'t': 'timestamp', ...} (names or 0-based indices)."""
    mapping = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        key, sep, value = part.partition("=")
        if not sep or key.strip() not in ("t", "ax", "ay", "az") or not value.strip():
            raise UserError(
                f"bad column mapping {part!r}; write e.g. --columns t=timestamp,ax=accX,ay=accY,az=accZ"
            )
        mapping[key.strip()] = value.strip()
    missing = [k for k in ("t", "ax", "ay", "az") if k not in mapping]
    if missing:
        raise UserError(f"--columns does not say which column is {', '.join(missing)}")
    return mapping


def spread_duplicates(t: np.ndarray) -> np.ndarray:
    """Spread runs of equal time stamps evenly up to the next distinct stamp.

    Phone logs often deliver a burst of samples under one time stamp; n samples stamped
    T, followed by a stamp T2, become T, T + (T2-T)/n, ... The last run uses the median
    spacing of the distinct stamps.
    """
    stamps, first, counts = np.unique(t, return_index=True, return_counts=True)
    if len(stamps) == len(t):
        return t
    spacing = np.diff(stamps)
    tail = float(np.median(spacing / counts[:-1])) if len(spacing) else 1.0
    width = np.append(spacing, tail * counts[-1])
    within = np.arange(len(t)) - np.repeat(first, counts)
    return t + within * np.repeat(width / counts, counts)


def load_csv(path: str | Path, columns: dict[str, str], units: str = "g", time_unit: str = "s",
             mount: str = "other", user: str | None = None, activity: str | None = None,
             rate: float | None = None, delimiter: str = ",") -> Recording:
    """A recording of a CSV file with a header, reading the columns named in `columns`."""
    path = Path(path)
    if units not in ACCEL_UNITS:
        raise UserError(f"unknown unit {units!r} for acceleration; use one of {', '.join(ACCEL_UNITS)}")
    if time_unit not in TIME_UNITS:
        raise UserError(f"unknown time unit {time_unit!r}; use one of {', '.join(TIME_UNITS)}")
    if mount not in MOUNTS:
        raise UserError(f"unknown mount {mount!r}; use one of {', '.join(MOUNTS)}")
    try:
        with open(path, encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f, delimiter=delimiter))
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a UTF-8 text file") from None
    if not rows:
        raise UserError(f"{path}: empty file")
    header = [h.strip() for h in rows[0]]
    index = {}
    for key, name in columns.items():
        if name in header:
            index[key] = header.index(name)
        elif re.fullmatch(r"\d+", name) and int(name) < len(header):
            index[key] = int(name)
        else:
            raise UserError(f"{path}:1: no column {name!r} (for {key}) in header {','.join(header)!r}")
    data = np.empty((len(rows) - 1, 4))
    last = -math.inf
    for lineno, row in enumerate(rows[1:], start=2):
        try:
            values = [_number(row[index[k]]) for k in ("t", "ax", "ay", "az")]
        except IndexError:
            raise UserError(
                f"{path}:{lineno}: {len(row)} values, fewer than the header's {len(header)}"
            ) from None
        except ValueError:
            bad = next(k for k in ("t", "ax", "ay", "az") if not _is_number(row[index[k]]))
            raise UserError(
                f"{path}:{lineno}: column {columns[bad]}: {row[index[bad]]!r} is not a number"
            ) from None
        if not all(math.isfinite(v) for v in values):
            raise UserError(f"{path}:{lineno}: NaN or infinite value in {','.join(row)!r}")
        if values[0] < last:
            raise UserError(
                f"{path}:{lineno}: time goes backwards ({row[index['t']]} after an earlier, later stamp); "
                "sort the file by time first"
            )
        last = values[0]
        data[lineno - 2] = values
    if len(data) < 2:
        raise UserError(f"{path}: fewer than two samples")
    t = spread_duplicates((data[:, 0] - data[0, 0]) * TIME_UNITS[time_unit])
    acc = data[:, 1:4] * ACCEL_UNITS[units]
    nominal = rate or round(1.0 / float(np.median(np.diff(t))), 1)
    meta = Meta(sample_rate_hz=nominal, full_scale_g=full_scale_for(acc, path), mount=mount,
                user=user or path.stem, board="unknown", device="unknown",
                extra={"source": f"csv:{path.name}"})
    segments = [Segment(0.0, float(t[-1]), activity)] if activity else []
    return Recording(meta, np.round(t, 9), acc, None, segments, [])


def _number(text: str) -> float:
    """A plain decimal (as recordings are written), or NaN/inf for the caller to refuse.

    Python's float() also reads '1_000' and non-ASCII digits; a CSV cell like that is
    more likely a mistake than a number, so it is refused as the recording loader would.
    """
    text = text.strip()
    if is_plain_decimal(text) or is_nan_or_inf(text):
        return float(text)
    raise ValueError(text)


def _is_number(text: str) -> bool:
    try:
        _number(text)
    except ValueError:
        return False
    return True
