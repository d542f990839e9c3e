"""Recordings: labelled accelerometer samples, and the one reader and writer of their format.

A recording is one text file in the repcount recording format (docs/recording-format.md):
`# key: value` metadata lines, a column header, one line per sample, and label lines
(`@segment,...`, `@event,...`, `@count,...`) that may stand anywhere after the header, so
a capture can append labels while it records without rewriting the file.

This module is the only reader and writer of that format, so every tool (simulate,
import, capture, train, evaluate, hil) agrees on what a valid file is. The loader
validates everything at this boundary and raises `RecordingError` naming the file and
line of the first problem; nothing downstream re-checks. The label rules are in
`labels.py`; the syntax, the writer and the reader stay together here (a little over 500
lines) because they must change together: what the writer refuses is what the reader
would refuse or misread.
"""

from __future__ import annotations

import math
import os
import re
import unicodedata
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np

from repcount.data.labels import Count, Event, Segment, first_problem
from repcount.data.labels import number_text as _num
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
FULL_SCALES_G = (2.0, 4.0, 8.0, 16.0)  # the ranges a 16-bit IMU offers
# A clipped sample reads exactly full scale; the slack covers unit conversion (m/s^2 -> g).
CLIP_TOLERANCE = 1e-3
_UNWRITABLE = {"Cc", "Cs", "Zl", "Zp"}  # Unicode categories no name or value may hold
_STANDARD_META = ("repcount-recording", *REQUIRED_META, "board", "device", "units")


class RecordingError(UserError):
    """A recording file that does not follow the format; the message names file and line."""


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
        """The `# key: value` lines, standard keys first (Writer checks them before use)."""
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


def _check_text(text: str, what: str, forbidden: str) -> str:
    """A name or value the loader will read back unchanged, or a RecordingError saying why not.

    Control characters and line separators could end the line (or smuggle in another:
    `--user $'me\\n# mount: bag'`), surrogates cannot be written as UTF-8, and the loader
    strips spaces around every field.
    """
    if text != text.strip() or any(c in forbidden or unicodedata.category(c) in _UNWRITABLE for c in text):
        raise RecordingError(
            f"{what} {text!r} cannot be written: it must be one line without control characters "
            f"or leading and trailing spaces{' and without ' + repr(forbidden) if forbidden else ''}"
        )
    return text


def _check_name(name: str, what: str) -> str:
    if not name:
        raise RecordingError(f"{what} cannot be written: the name is empty")
    return _check_text(name, what, ",")


def _meta_lines(meta: Meta) -> list[str]:
    """Meta.lines(), refused when the loader would refuse or misread what it writes."""
    problem = _meta_problem(meta.sample_rate_hz, meta.full_scale_g, meta.mount, meta.user)
    if problem:
        raise RecordingError(f"cannot write this recording: {problem}")
    for key, value in meta.extra.items():
        if not key or key in _STANDARD_META:
            raise RecordingError(f"metadata key {key!r} cannot be written as an extra: "
                                 "it is empty or a standard key")
        _check_text(key, "metadata key", ":")
        _check_text(value, f"metadata {key}", "")
    for key, value in (("board", meta.board), ("device", meta.device), ("user", meta.user)):
        _check_text(value, f"metadata {key}", "")
    return meta.lines()


class Writer:
    """Writes a recording incrementally: header first, then samples and labels as they come.

    Used by `simulate`, the importers and `capture`. Every line is written whole, and
    `flush()` makes everything written so far durable (fsync), so a capture that is
    killed leaves a valid file. Metadata and label names the loader would refuse or read
    back differently are refused here, before anything is written.
    """

    def __init__(self, path: str | Path, meta: Meta, gyro: bool = False, *,
                 stream: IO[str] | None = None) -> None:
        """Create `path` (replacing it), or write to an open `stream` that the caller closes."""
        self.path = Path(path)
        lines = _meta_lines(meta)
        self._owned = stream is None
        if stream is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            stream = open(self.path, "w", encoding="utf-8", newline="\n")
        self._file: IO[str] = stream
        self._gyro = gyro
        header = ["t", *ACCEL_COLUMNS, *(GYRO_COLUMNS if gyro else ())]
        self._file.write("\n".join(lines) + "\n" + ",".join(header) + "\n")

    def samples(self, t: Sequence[float], acc: np.ndarray, gyro: np.ndarray | None = None) -> None:
        cols = [np.asarray(t, dtype=np.float64), *np.asarray(acc, dtype=np.float64).T]
        if self._gyro:
            if gyro is None:
                raise ValueError("this recording has gyro columns: pass gyro samples")
            cols += list(np.asarray(gyro, dtype=np.float64).T)
        self._file.write("".join(",".join(map(_num, row)) + "\n" for row in zip(*cols, strict=True)))

    def event(self, t: float, kind: str) -> None:
        self._file.write(f"@event,{_num(t)},{_check_name(kind, 'event kind')}\n")

    def segment(self, start: float, end: float, activity: str) -> None:
        self._file.write(f"@segment,{_num(start)},{_num(end)},{_check_name(activity, 'activity')}\n")

    def count(self, start: float, end: float, kind: str, n: int) -> None:
        """`@count`: exactly `n` events of `kind` between `start` and `end`, times unknown."""
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
            raise RecordingError(f"count {n!r} of {kind} cannot be written: it must be a whole number >= 0")
        self._file.write(f"@count,{_num(start)},{_num(end)},{_check_name(kind, 'count kind')},{int(n)}\n")

    def flush(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())

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


# --- reading --------------------------------------------------------------------------------

# A plain decimal number. Python's float() also takes '1_000', ' 1 ', 'infinity' and
# non-ASCII digits; the format does not, so a file means the same to every reader.
_NUMBER = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_IS_NUMBER = re.compile(_NUMBER)
_ROW = {n: re.compile(r"\s*,\s*".join([f"({_NUMBER})"] * n)) for n in (4, 7)}


def is_plain_decimal(text: str) -> bool:
    """Whether `text` is a number as the format writes them (the importers hold to it too)."""
    return _IS_NUMBER.fullmatch(text) is not None


def _plain_number(text: str) -> float | None:
    """The finite value of a plain decimal number, or None for anything else."""
    if not _IS_NUMBER.fullmatch(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def is_nan_or_inf(text: str) -> bool:
    """A NaN or an infinity spelled out: a number, but one no recording can hold."""
    return text.lower().lstrip("+-") in ("nan", "inf", "infinity")


def load(path: str | Path) -> Recording:
    """Read and validate a recording; raise RecordingError naming file and line on bad input.

    The file is read line by line into flat float arrays (about 8 bytes per value, not a
    Python object per value), so memory stays within about twice the file's size. A last
    sample or label line cut off mid-write (no newline, and it does not load: too few
    values, half a number, or half an exponent that leaves a number out of range) is left
    out and reported in `Recording.warnings`: the samples before it are what a capture
    killed by a full disk saved.
    """
    path = Path(path)
    if not path.is_file():
        raise RecordingError(f"{path}: no such recording file")
    reader = _Reader(path)
    try:
        with open(path, encoding="utf-8-sig") as f:  # a byte order mark (Windows editors) is skipped
            for lineno, raw in enumerate(f, start=1):
                try:
                    reader.line(lineno, raw)
                except RecordingError as exc:
                    if raw.endswith("\n") or reader.columns is None or raw.lstrip().startswith("#"):
                        raise
                    reason = str(exc).removeprefix(f"{path}:{lineno}: ")
                    reader.warnings.append(
                        f"{path}:{lineno}: last line cut off mid-write ({reason}); left out, "
                        "the samples before it are loaded"
                    )
    except UnicodeDecodeError as exc:
        raise RecordingError(f"{path}: not a text file ({exc.reason})") from None
    except OSError as exc:
        raise RecordingError(f"{path}: cannot read ({exc.strerror})") from None
    return reader.finish()


class _Reader:
    """The state of one file being read: metadata, then samples and labels, line by line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.meta_lines: dict[str, tuple[int, str]] = {}
        self.columns: list[str] | None = None
        self.meta: Meta | None = None
        # Samples as flat float arrays, which numpy then views without a copy.
        self.t = array("d")
        self.acc = array("d")
        self.gyro = array("d")
        self.last_t = -math.inf
        self.scale = 1.0  # file units -> g
        self.limit = math.inf  # the largest |acceleration| in file units the full scale allows
        self.pattern = _ROW[4]
        self.labels: list[tuple[int, Segment | Event | Count]] = []
        self.warnings: list[str] = []

    def line(self, lineno: int, raw: str) -> None:
        line = raw.strip()
        if not line:
            return
        if self.columns is not None and line[0] not in "#@":  # the common case first: a sample
            self._sample(line, lineno)
            return
        where = f"{self.path}:{lineno}"
        if line.startswith("#"):
            self._meta_line(line, where, lineno)
        elif self.columns is None:
            self._header(line, where)
        else:
            self.labels.append((lineno, _parse_label(line, where)))

    def _meta_line(self, line: str, where: str, lineno: int) -> None:
        if self.columns is not None:
            raise RecordingError(f"{where}: metadata line after the column header")
        key, sep, value = line[1:].partition(":")
        key = key.strip()
        if not sep or not key:
            raise RecordingError(f"{where}: metadata must read '# key: value', got {line!r}")
        if key in self.meta_lines:
            raise RecordingError(
                f"{where}: metadata {key} given twice (first on line {self.meta_lines[key][0]}); "
                "keep one"
            )
        self.meta_lines[key] = (lineno, value.strip())

    def _header(self, line: str, where: str) -> None:
        values = {k: v for k, (_, v) in self.meta_lines.items()}
        self.columns = _parse_header(line, where, values)
        self.meta = _parse_meta(self.meta_lines, self.path)
        self.scale = ACCEL_UNITS[self.meta.units]
        self.limit = self.meta.full_scale_g * (1 + CLIP_TOLERANCE) / self.scale
        self.pattern = _ROW[len(self.columns)]

    def _sample(self, line: str, lineno: int) -> None:
        match = self.pattern.fullmatch(line)
        if match is None:
            raise self._row_error(line, f"{self.path}:{lineno}")
        values = [float(v) for v in match.groups()]
        t = values[0]
        if t <= self.last_t or max(abs(values[1]), abs(values[2]), abs(values[3])) > self.limit \
                or math.inf in values or -math.inf in values:
            raise self._value_error(values, match.groups(), f"{self.path}:{lineno}")
        self.last_t = t
        self.t.append(t)
        self.acc.extend(values[1:4])
        if len(values) == 7:
            self.gyro.extend(values[4:])

    def _row_error(self, line: str, where: str) -> RecordingError:
        assert self.columns is not None
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != len(self.columns):
            return RecordingError(
                f"{where}: {len(fields)} values but {len(self.columns)} columns ({','.join(self.columns)})"
            )
        for name, text in zip(self.columns, fields, strict=True):
            if _IS_NUMBER.fullmatch(text):
                continue
            if is_nan_or_inf(text):
                return RecordingError(f"{where}: column {name} is {text} (NaN or infinite)")
            return RecordingError(f"{where}: column {name}: {text!r} is not a number")
        return RecordingError(f"{where}: cannot read {line!r}")

    def _value_error(self, values: list[float], texts: Sequence[str], where: str) -> RecordingError:
        assert self.columns is not None and self.meta is not None
        for name, value, text in zip(self.columns, values, texts, strict=True):
            if not math.isfinite(value):
                return RecordingError(f"{where}: column {name} is {text} (NaN or infinite)")
        t = values[0]
        if t == self.last_t:
            return RecordingError(
                f"{where}: duplicated time stamp {t!r} (phone logs often carry several "
                "samples per time stamp: import such a log with `repcount import csv`, which "
                "spreads them evenly)"
            )
        if t < self.last_t:
            return RecordingError(
                f"{where}: time goes backwards ({t!r} after {self.last_t!r}); "
                "time stamps must be strictly increasing"
            )
        name, text = next((n, x) for n, v, x in zip(self.columns[1:4], values[1:4], texts[1:4], strict=True)
                          if abs(v) > self.limit)
        return RecordingError(
            f"{where}: column {name} is {text} {self.meta.units}, beyond the full scale of "
            f"{_num(self.meta.full_scale_g)} g (an IMU cannot read more than its range: is "
            "full_scale_g or the unit wrong?)"
        )

    def finish(self) -> Recording:
        if self.columns is None or self.meta is None:
            raise RecordingError(
                f"{self.path}: no column header found (expected a line 't,ax,ay,az' after the metadata)"
            )
        if not self.t:
            raise RecordingError(f"{self.path}: the recording holds no samples")
        t = np.frombuffer(self.t, dtype=np.float64)
        acc = np.frombuffer(self.acc, dtype=np.float64).reshape(-1, 3)
        if self.scale != 1.0:
            acc *= self.scale
        gyro = np.frombuffer(self.gyro, dtype=np.float64).reshape(-1, 3) if len(self.columns) == 7 else None
        problem = first_problem(self.labels, float(t[0]), float(t[-1]), 1.0 / self.meta.sample_rate_hz)
        if problem:
            raise RecordingError(f"{self.path}:{problem[0]}: {problem[1]}")
        self.meta.units = "g"
        by_type: dict[type, list] = {Segment: [], Event: [], Count: []}
        for _, label in self.labels:
            by_type[type(label)].append(label)
        return Recording(self.meta, t, acc, gyro, by_type[Segment], by_type[Event], self.path,
                         by_type[Count], self.warnings)


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


def _parse_label(line: str, where: str) -> Segment | Event | Count:
    fields = [f.strip() for f in line[1:].split(",")]
    shapes = {"event": 3, "segment": 4, "count": 5}
    if shapes.get(fields[0]) != len(fields):
        raise RecordingError(
            f"{where}: unknown label line {line!r}; expected '@event,TIME,KIND', "
            "'@segment,START,END,ACTIVITY' or '@count,START,END,KIND,N'"
        )
    times = [_plain_number(f) for f in fields[1:3 if fields[0] != "event" else 2]]
    if None in times:
        raise RecordingError(f"{where}: label times must be numbers: {line!r}")
    if not fields[-1 if fields[0] != "count" else -2]:
        what = "activity" if fields[0] == "segment" else "kind"
        raise RecordingError(f"{where}: the label names no {what}")
    if fields[0] == "event":
        return Event(times[0], fields[2])  # type: ignore[arg-type]
    start, end = times  # type: ignore[misc]
    if end <= start:
        raise RecordingError(f"{where}: {fields[0]} ends at {end} before it starts at {start}")
    if fields[0] == "segment":
        return Segment(start, end, fields[3])
    if not re.fullmatch(r"[0-9]+", fields[4]):
        raise RecordingError(f"{where}: the count N must be a whole number >= 0, got {fields[4]!r}")
    return Count(start, end, fields[3], int(fields[4]))


def _meta_problem(rate: float, full_scale: float, mount: str, user: str) -> str | None:
    """What is wrong with the four required values, by the documented value sets, if anything."""
    if not (math.isfinite(rate) and rate > 0):
        return f"sample_rate_hz is {_num(rate)}; it must be a finite number above 0 (e.g. 50)"
    if full_scale not in FULL_SCALES_G:
        return (f"full_scale_g is {_num(full_scale)}; an IMU's range is one of "
                f"{', '.join(map(_num, FULL_SCALES_G))} g")
    if mount not in MOUNTS:
        return f"mount {mount!r} is not one of {', '.join(MOUNTS)}"
    if not user:
        return "user is empty; name who was recorded (every accuracy figure splits by it)"
    return None


def _parse_meta(meta: dict[str, tuple[int, str]], path: Path) -> Meta:
    line, version = meta.pop("repcount-recording", (0, None))
    if version != FORMAT_VERSION:
        raise RecordingError(
            f"{path}{f':{line}' if line else ''}: not a repcount recording of format {FORMAT_VERSION} "
            f"(first line should be '# repcount-recording: {FORMAT_VERSION}', got {version!r})"
        )
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing:
        raise RecordingError(
            f"{path}: missing metadata {', '.join(missing)} (add lines like '# {missing[0]}: ...' "
            "before the column header)"
        )
    texts = {k: v for k, (_, v) in meta.items()}
    if not all(_IS_NUMBER.fullmatch(texts[k]) or is_nan_or_inf(texts[k])
               for k in ("sample_rate_hz", "full_scale_g")):
        raise RecordingError(f"{path}: sample_rate_hz and full_scale_g must be numbers")
    rate, fs = float(texts["sample_rate_hz"]), float(texts["full_scale_g"])
    problem = _meta_problem(rate, fs, texts["mount"], texts["user"])
    if problem:
        key = problem.split()[0]
        raise RecordingError(f"{path}:{meta[key][0]}: {problem}")
    return Meta(
        sample_rate_hz=rate,
        full_scale_g=fs,
        mount=texts.pop("mount"),
        user=texts.pop("user"),
        board=texts.pop("board", "unknown"),
        device=texts.pop("device", "unknown"),
        units=texts.pop("units", "g"),
        extra={k: v for k, v in texts.items() if k not in _STANDARD_META},
    )


def find(paths: Iterable[str | Path]) -> list[Path]:
    """Recording files named directly or found (recursively) in the given directories.

    Each file comes once, however it was reached (`data/a.rec data/`, a symlink): the
    figures computed over recordings must not count one twice.
    """
    paths = list(paths)
    found: list[Path] = []
    seen: set[Path] = set()
    for p in map(Path, paths):
        if p.is_dir():
            files = sorted(p.rglob(f"*{SUFFIX}"))
        elif p.is_file():
            files = [p]
        else:
            raise UserError(f"{p}: no such file or directory")
        for f in files:
            if f.resolve() not in seen:
                seen.add(f.resolve())
                found.append(f)
    if not found:
        raise UserError(f"no {SUFFIX} recordings in {', '.join(map(str, paths))}")
    return found


def load_all(paths: Iterable[str | Path]) -> list[Recording]:
    """Every recording `find` reaches from `paths`, each validated by `load`."""
    return [load(p) for p in find(paths)]
