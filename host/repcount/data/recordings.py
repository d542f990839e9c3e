"""Recordings: labelled accelerometer samples, and the one reader and writer of their format.

A recording is one text file in the repcount recording format (docs/recording-format.md):
`# key: value` metadata lines, a column header, one line per sample, and label lines
(`@segment,...`, `@event,...`, `@count,...`) that may stand anywhere after the header, so
a capture can append labels while it records without rewriting the file.

This module is the only reader and writer of that format, so every tool (simulate,
import, capture, train, evaluate, hil) agrees on what a valid file is. The loader
validates everything at this boundary and raises `RecordingError` naming the file and
line of the first problem; nothing downstream re-checks.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np

from repcount.errors import UserError
from repcount.outputs import atomic_file

FORMAT_VERSION = "1"
SUFFIX = ".rec"
STANDARD_G = 9.80665
ACCEL_COLUMNS = ("ax", "ay", "az")
GYRO_COLUMNS = ("gx", "gy", "gz")
# Units accepted for the acceleration columns and the factor that converts them to g.
ACCEL_UNITS = {"g": 1.0, "m/s^2": 1.0 / STANDARD_G, "m/s2": 1.0 / STANDARD_G, "mg": 1e-3}
REQUIRED_META = ("sample_rate_hz", "full_scale_g", "mount", "user")
MOUNTS = ("wrist", "handle", "pocket", "hand", "arm", "waist", "bag", "neck", "other")


class RecordingError(UserError):
    """A recording file that does not follow the format; the message names file and line."""


@dataclass(frozen=True)
class Segment:
    """A stretch of time in which one activity happened, e.g. jump-rope from 10 s to 40 s."""

    start: float
    end: float
    activity: str


@dataclass(frozen=True)
class Event:
    """One countable event (a jump's landing, a step's heel strike) at time `t` seconds."""

    t: float
    kind: str


@dataclass(frozen=True)
class Count:
    """Between `start` and `end` there were exactly `n` events of `kind`, times unknown.

    What a person can always give about a set they recorded ("that was 87 jumps") when
    timing every event is out of reach; `repcount label` places the events later.
    """

    start: float
    end: float
    kind: str
    n: int


@dataclass
class Meta:
    """What a recording was made with; `extra` keeps any further `# key: value` lines."""

    sample_rate_hz: float
    full_scale_g: float
    mount: str
    user: str
    board: str = "unknown"
    device: str = "unknown"
    units: str = "g"
    extra: dict[str, str] = field(default_factory=dict)

    def lines(self) -> list[str]:
        items = {
            "repcount-recording": FORMAT_VERSION,
            "sample_rate_hz": _num(self.sample_rate_hz),
            "full_scale_g": _num(self.full_scale_g),
            "board": self.board,
            "device": self.device,
            "mount": self.mount,
            "user": self.user,
            "units": self.units,
            **self.extra,
        }
        return [f"# {k}: {v}" for k, v in items.items()]


@dataclass
class Recording:
    """Samples in g (time in seconds, strictly increasing) with their labels."""

    meta: Meta
    t: np.ndarray
    acc: np.ndarray
    gyro: np.ndarray | None = None
    segments: list[Segment] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    path: Path | None = None
    counts: list[Count] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return float(self.t[-1] - self.t[0]) if len(self.t) > 1 else 0.0

    @property
    def name(self) -> str:
        return self.path.stem if self.path else self.meta.user

    def events_of(self, kinds: Iterable[str]) -> np.ndarray:
        """Times of the events whose kind is one of `kinds`, sorted."""
        wanted = set(kinds)
        return np.array(sorted(e.t for e in self.events if e.kind in wanted), dtype=np.float64)

    def segments_of(self, activities: Iterable[str]) -> list[Segment]:
        wanted = set(activities)
        return [s for s in self.segments if s.activity in wanted]


def _num(x: float) -> str:
    """Shortest text that reads back as the same float: diffable and exact."""
    return repr(float(x)) if not float(x).is_integer() else str(int(x))


class Writer:
    """Writes a recording incrementally: header first, then samples and labels as they come.

    Used by `simulate`, the importers and `capture`; `flush()` makes everything written so
    far durable, so a capture that is killed leaves a valid file.
    """

    def __init__(self, path: str | Path, meta: Meta, gyro: bool = False, *,
                 stream: IO[str] | None = None) -> None:
        """Create `path` (replacing it), or write to an open `stream` that the caller closes."""
        self.path = Path(path)
        self._owned = stream is None
        if stream is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            stream = open(self.path, "w", encoding="utf-8", newline="\n")
        self._file: IO[str] = stream
        self._gyro = gyro
        header = ["t", *ACCEL_COLUMNS, *(GYRO_COLUMNS if gyro else ())]
        self._file.write("\n".join(meta.lines()) + "\n" + ",".join(header) + "\n")

    def samples(self, t: Sequence[float], acc: np.ndarray, gyro: np.ndarray | None = None) -> None:
        cols = [np.asarray(t, dtype=np.float64), *np.asarray(acc, dtype=np.float64).T]
        if self._gyro:
            if gyro is None:
                raise ValueError("this recording has gyro columns: pass gyro samples")
            cols += list(np.asarray(gyro, dtype=np.float64).T)
        self._file.write("".join(",".join(map(_num, row)) + "\n" for row in zip(*cols, strict=True)))

    def event(self, t: float, kind: str) -> None:
        self._file.write(f"@event,{_num(t)},{kind}\n")

    def segment(self, start: float, end: float, activity: str) -> None:
        self._file.write(f"@segment,{_num(start)},{_num(end)},{activity}\n")

    def count(self, start: float, end: float, kind: str, n: int) -> None:
        self._file.write(f"@count,{_num(start)},{_num(end)},{kind},{int(n)}\n")

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        if self._owned:
            self._file.close()
        else:
            self._file.flush()

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def save(rec: Recording, path: str | Path) -> Path:
    """Write a whole recording, labels after the samples in time order.

    The file appears under `path` only when complete (outputs.atomic_file), so an
    interrupted save never leaves half a recording; replacing an existing file is the
    caller's decision (outputs.check_output).
    """
    with atomic_file(path) as f, Writer(path, rec.meta, gyro=rec.gyro is not None, stream=f) as w:
        w.samples(rec.t, rec.acc, rec.gyro)
        for s in sorted(rec.segments, key=lambda s: (s.start, s.end)):
            w.segment(s.start, s.end, s.activity)
        for e in sorted(rec.events, key=lambda e: e.t):
            w.event(e.t, e.kind)
        for c in sorted(rec.counts, key=lambda c: (c.start, c.end, c.kind)):
            w.count(c.start, c.end, c.kind, c.n)
    return Path(path)


def load(path: str | Path) -> Recording:
    """Read and validate a recording; raise RecordingError naming file and line on bad input."""
    path = Path(path)
    if not path.is_file():
        raise RecordingError(f"{path}: no such recording file")
    meta: dict[str, str] = {}
    columns: list[str] | None = None
    rows: list[list[float]] = []
    segments: list[Segment] = []
    events: list[Event] = []
    counts: list[Count] = []
    last_t = -math.inf
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise RecordingError(f"{path}: not a text file ({exc.reason})") from None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        where = f"{path}:{lineno}"
        if not line:
            continue
        if line.startswith("#"):
            if columns is not None:
                raise RecordingError(f"{where}: metadata line after the column header")
            key, sep, value = line[1:].partition(":")
            if not sep:
                raise RecordingError(f"{where}: metadata must read '# key: value', got {line!r}")
            meta[key.strip()] = value.strip()
            continue
        if columns is None:
            columns = _parse_header(line, where, meta)
            continue
        if line.startswith("@"):
            label = _parse_label(line, where)
            if isinstance(label, Segment):
                segments.append(label)
            elif isinstance(label, Event):
                events.append(label)
            else:
                counts.append(label)
            continue
        row = _parse_row(line, columns, where)
        if row[0] == last_t:
            raise RecordingError(
                f"{where}: duplicated time stamp {row[0]!r} (phone logs often carry several "
                "samples per time stamp: import such a log with `repcount import csv`, which "
                "spreads them evenly)"
            )
        if row[0] < last_t:
            raise RecordingError(
                f"{where}: time goes backwards ({row[0]!r} after {last_t!r}); "
                "time stamps must be strictly increasing"
            )
        last_t = row[0]
        rows.append(row)
    if columns is None:
        raise RecordingError(
            f"{path}: no column header found (expected a line 't,ax,ay,az' after the metadata)"
        )
    if not rows:
        raise RecordingError(f"{path}: the recording holds no samples")
    m = _parse_meta(meta, path)
    data = np.array(rows, dtype=np.float64)
    scale = ACCEL_UNITS[m.units]
    acc = data[:, 1:4] * scale
    gyro = data[:, 4:7] if len(columns) == 7 else None
    if m.units != "g":
        m.units = "g"
    return Recording(m, data[:, 0].copy(), acc, gyro, segments, events, path, counts)


def _parse_header(line: str, where: str, meta: dict[str, str]) -> list[str]:
    cols = [c.strip() for c in line.split(",")]
    if "repcount-recording" not in meta and cols[:1] != ["t"]:
        raise RecordingError(
            f"{where}: not a repcount recording (it should start with '# repcount-recording: "
            f"{FORMAT_VERSION}', then metadata and the header 't,ax,ay,az'); convert other "
            "data with `repcount import`"
        )
    if cols[:1] != ["t"] or any(c not in cols for c in ACCEL_COLUMNS):
        missing = [c for c in ("t", *ACCEL_COLUMNS) if c not in cols]
        raise RecordingError(
            f"{where}: missing column(s) {', '.join(missing) or 't (first)'} in header {line!r}; "
            "expected 't,ax,ay,az' optionally followed by 'gx,gy,gz'"
        )
    if cols not in (["t", *ACCEL_COLUMNS], ["t", *ACCEL_COLUMNS, *GYRO_COLUMNS]):
        raise RecordingError(
            f"{where}: unexpected columns {line!r}; expected 't,ax,ay,az' or 't,ax,ay,az,gx,gy,gz'"
        )
    units = meta.get("units", "g")
    if units not in ACCEL_UNITS:
        raise RecordingError(
            f"{where}: unknown unit {units!r} for acceleration; use one of {', '.join(ACCEL_UNITS)}"
        )
    return cols


def _parse_row(line: str, columns: list[str], where: str) -> list[float]:
    fields = line.split(",")
    if len(fields) != len(columns):
        raise RecordingError(
            f"{where}: {len(fields)} values but {len(columns)} columns ({','.join(columns)})"
        )
    row = []
    for name, text in zip(columns, fields, strict=True):
        try:
            value = float(text)
        except ValueError:
            raise RecordingError(f"{where}: column {name}: {text.strip()!r} is not a number") from None
        if math.isnan(value) or math.isinf(value):
            raise RecordingError(f"{where}: column {name} is {text.strip()} (NaN or infinite)")
        row.append(value)
    return row


def _parse_label(line: str, where: str) -> Segment | Event | Count:
    fields = [f.strip() for f in line[1:].split(",")]
    try:
        if fields[0] == "event" and len(fields) == 3:
            return Event(_finite(fields[1]), fields[2])
        if fields[0] == "segment" and len(fields) == 4:
            start, end = _finite(fields[1]), _finite(fields[2])
            if end <= start:
                raise RecordingError(f"{where}: segment ends at {end} before it starts at {start}")
            return Segment(start, end, fields[3])
        if fields[0] == "count" and len(fields) == 5:
            start, end = _finite(fields[1]), _finite(fields[2])
            if end <= start:
                raise RecordingError(f"{where}: count ends at {end} before it starts at {start}")
            if not re.fullmatch(r"[0-9]+", fields[4]):
                raise RecordingError(f"{where}: count N must be a non-negative integer, got {fields[4]!r}")
            return Count(start, end, fields[3], int(fields[4]))
    except ValueError:
        raise RecordingError(f"{where}: label times must be numbers: {line!r}") from None
    raise RecordingError(
        f"{where}: unknown label line {line!r}; expected '@event,TIME,KIND' or "
        "'@segment,START,END,ACTIVITY' or '@count,START,END,KIND,N'"
    )


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def _parse_meta(meta: dict[str, str], path: Path) -> Meta:
    version = meta.pop("repcount-recording", None)
    if version != FORMAT_VERSION:
        raise RecordingError(
            f"{path}: not a repcount recording of format {FORMAT_VERSION} "
            f"(first line should be '# repcount-recording: {FORMAT_VERSION}', got {version!r})"
        )
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing:
        raise RecordingError(
            f"{path}: missing metadata {', '.join(missing)} (add lines like '# {missing[0]}: ...' "
            "before the column header)"
        )
    try:
        rate = float(meta.pop("sample_rate_hz"))
        fs = float(meta.pop("full_scale_g"))
    except ValueError:
        raise RecordingError(f"{path}: sample_rate_hz and full_scale_g must be numbers") from None
    if not (rate > 0 and fs > 0):
        raise RecordingError(f"{path}: sample_rate_hz and full_scale_g must be positive")
    return Meta(
        sample_rate_hz=rate,
        full_scale_g=fs,
        mount=meta.pop("mount"),
        user=meta.pop("user"),
        board=meta.pop("board", "unknown"),
        device=meta.pop("device", "unknown"),
        units=meta.pop("units", "g"),
        extra=meta,
    )


def find(paths: Iterable[str | Path]) -> list[Path]:
    """Recording files named directly or found (recursively) in the given directories."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(p.rglob(f"*{SUFFIX}"))
        elif p.is_file():
            found.append(p)
        else:
            raise UserError(f"{p}: no such file or directory")
    if not found:
        raise UserError(f"no {SUFFIX} recordings in {', '.join(map(str, paths))}")
    return found


def load_all(paths: Iterable[str | Path]) -> list[Recording]:
    """Every recording `find` reaches from `paths`, each validated by `load`."""
    return [load(p) for p in find(paths)]


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
