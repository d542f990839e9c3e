"""Property-based tests of the recording writer and loader (hypothesis).

Three promises, each over many generated recordings:
- round trip: any valid recording (samples, gyro or not, segments, events, counts,
  free metadata) saved and loaded again is the same recording;
- a malformed variant of a valid file (a bad number, a bad label, a duplicated key, a
  label outside the samples, overlapping counts, ...) is refused with a RecordingError
  that names the file and the very line that was damaged;
- any damage at all (a byte changed, inserted or deleted; the file cut anywhere) gives a
  Recording or a RecordingError naming the file, never another exception.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from repcount.data.recordings import (
    FULL_SCALES_G,
    MOUNTS,
    Count,
    Event,
    Meta,
    Recording,
    RecordingError,
    Segment,
    load,
    save,
)

# No example database: a run leaves no .hypothesis folder in the work tree.
SETTINGS = settings(max_examples=60, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])
KINDS = ("jump", "step", "double-under")
ACTIVITIES = ("jump-rope", "walking", "rest")
STANDARD = {"repcount-recording", "sample_rate_hz", "full_scale_g", "mount", "user", "board", "device",
            "units"}

# Text the format can hold: one line, no control characters, no surrounding spaces.
words = st.text(st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp")),
                min_size=1, max_size=12).filter(lambda s: s == s.strip())
names = words.filter(lambda s: "," not in s)
keys = st.from_regex(r"[a-z][a-z0-9_.-]{0,11}", fullmatch=True).filter(lambda k: k not in STANDARD)


@st.composite
def recordings(draw: st.DrawFn) -> Recording:
    """A valid recording: every label inside the samples, no contradictions."""
    rate = draw(st.sampled_from([12.5, 25.0, 50.0, 100.0, 104.0]))
    fs = draw(st.sampled_from(FULL_SCALES_G))
    n = draw(st.integers(1, 40))
    t0 = draw(st.floats(-5, 5, allow_nan=False))
    steps = draw(st.lists(st.floats(1e-3, 0.5), min_size=n - 1, max_size=n - 1))
    t = t0 + np.concatenate([[0.0], np.cumsum(steps)])
    if np.any(np.diff(t) <= 0):  # rounding could, in principle, merge two stamps
        t = t0 + np.arange(n) * 0.02
    values = st.floats(-fs, fs, allow_nan=False)
    acc = np.array(draw(st.lists(st.tuples(values, values, values), min_size=n, max_size=n)))
    gyro = None
    if draw(st.booleans()):
        dps = st.floats(-2000, 2000, allow_nan=False)
        gyro = np.array(draw(st.lists(st.tuples(dps, dps, dps), min_size=n, max_size=n)))
    meta = Meta(rate, fs, draw(st.sampled_from(MOUNTS)), draw(words), board=draw(words),
                device=draw(words), extra=draw(st.dictionaries(keys, words, max_size=3)))
    lo, hi = float(t[0]), float(t[-1]) + 1.0 / rate
    cuts = sorted(set(draw(st.lists(st.floats(lo, hi), min_size=2, max_size=6))))
    spans = list(zip(cuts, cuts[1:], strict=False))
    segments = [Segment(a, b, draw(st.sampled_from(ACTIVITIES))) for a, b in spans if draw(st.booleans())]
    events = [Event(x, draw(st.sampled_from(KINDS))) for x in draw(st.lists(st.floats(lo, hi), max_size=8))]
    counts = []
    for kind in KINDS:
        for a, b in spans:
            if draw(st.booleans()):
                timed = sum(1 for e in events if e.kind == kind and a <= e.t < b)
                counts.append(Count(a, b, kind, timed or draw(st.integers(0, 500))))
    return Recording(meta, t, acc, gyro, segments, events, counts=counts)


def label_key(x: Segment | Event | Count) -> tuple:
    """Compared by value: -0.0 is written as 0, which is the same time."""
    return (type(x).__name__, *vars(x).values())


def saved(rec: Recording, tmp: Path) -> Path:
    return save(rec, tmp / "r.rec")


@SETTINGS
@given(rec=recordings())
def test_round_trip(rec: Recording) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        got = load(saved(rec, Path(tmp)))
    assert got.meta == rec.meta
    assert np.array_equal(got.t, rec.t) and np.array_equal(got.acc, rec.acc)
    assert (got.gyro is None) == (rec.gyro is None)
    if rec.gyro is not None:
        assert np.array_equal(got.gyro, rec.gyro)
    for mine, theirs in ((got.segments, rec.segments), (got.events, rec.events), (got.counts, rec.counts)):
        assert sorted(map(label_key, mine)) == sorted(map(label_key, theirs))
    assert got.warnings == []


# --- malformed variants: each names the line it damaged -----------------------------------

Lines = list[str]
Mutation = Callable[[Lines, Recording, st.DrawFn], int]  # edits the lines, returns the bad line (1-based)


def _sample_lines(lines: Lines) -> list[int]:
    header = next(i for i, x in enumerate(lines) if x.startswith("t,"))
    return [i for i in range(header + 1, len(lines)) if not lines[i].startswith("@")]


def bad_number(lines: Lines, rec: Recording, draw: st.DrawFn) -> int:
    i = draw(st.sampled_from(_sample_lines(lines)))
    fields = lines[i].split(",")
    col = draw(st.integers(0, len(fields) - 1))
    fields[col] = draw(st.sampled_from(["1_000", "", "x", "nan", "-inf", "1e999", "0x10", "\u0661",
                                        "1.2.3", "--1", "1e", "infinity", "1,5"]))
    lines[i] = ",".join(fields)
    return i + 1


def wrong_column_count(lines: Lines, rec: Recording, draw: st.DrawFn) -> int:
    i = draw(st.sampled_from(_sample_lines(lines)))
    fields = lines[i].split(",")
    lines[i] = ",".join(fields[:-1] if draw(st.booleans()) else [*fields, "0"])
    return i + 1


def beyond_full_scale(lines: Lines, rec: Recording, draw: st.DrawFn) -> int:
    i = draw(st.sampled_from(_sample_lines(lines)))
    fields = lines[i].split(",")
    too_big = ["1e30", "-1e30", repr(rec.meta.full_scale_g * 1.01)]
    fields[draw(st.integers(1, 3))] = draw(st.sampled_from(too_big))
    lines[i] = ",".join(fields)
    return i + 1


def time_not_increasing(lines: Lines, rec: Recording, draw: st.DrawFn) -> int:
    samples = _sample_lines(lines)
    if len(samples) < 2:
        return bad_number(lines, rec, draw)
    k = draw(st.integers(1, len(samples) - 1))
    prev, i = samples[k - 1], samples[k]
    fields = lines[i].split(",")
    fields[0] = lines[prev].split(",")[0] if draw(st.booleans()) else repr(float(rec.t[0]) - 1)
    lines[i] = ",".join(fields)
    return i + 1


def duplicated_key(lines: Lines, rec: Recording, draw: st.DrawFn) -> int:
    header = next(i for i, x in enumerate(lines) if x.startswith("t,"))
    lines.insert(header, draw(st.sampled_from(lines[:header])))
    return header + 1


def metadata_out_of_its_set(lines: Lines, rec: Recording, draw: st.DrawFn) -> int:
    key, value = draw(st.sampled_from([
        ("sample_rate_hz", "inf"), ("sample_rate_hz", "0"), ("sample_rate_hz", "-50"),
        ("sample_rate_hz", "nan"), ("full_scale_g", "3"), ("full_scale_g", "0"), ("full_scale_g", "32"),
        ("mount", "desk"), ("user", ""),
    ]))
    i = next(i for i, x in enumerate(lines) if x.startswith(f"# {key}:"))
    lines[i] = f"# {key}: {value}"
    return i + 1


def metadata_after_header_or_without_colon(lines: Lines, rec: Recording, draw: st.DrawFn) -> int:
    header = next(i for i, x in enumerate(lines) if x.startswith("t,"))
    if draw(st.booleans()):
        lines.insert(header, "# a note without a colon")
        return header + 1
    at = draw(st.integers(header + 1, len(lines)))
    lines.insert(at, "# late: metadata")
    return at + 1


def bad_label(lines: Lines, rec: Recording, draw: st.DrawFn) -> int:
    t = rec.t[0]
    label = draw(st.sampled_from([
        "@event,soon,jump", f"@event,{t}", f"@event,{t},", f"@segment,{t},rest", f"@segment,{t},{t},rest",
        f"@count,{t},{t + 1},jump,-1", f"@count,{t},{t + 1},jump,2.5", f"@count,{t},{t + 1},jump",
        f"@mark,{t},jump", "@", "@event,1_0,jump", f"@count,{t},{t - 1},jump,3", "@event,nan,jump",
    ]))
    at = draw(st.integers(next(i for i, x in enumerate(lines) if x.startswith("t,")) + 1, len(lines)))
    lines.insert(at, label)
    return at + 1


def label_outside(lines: Lines, rec: Recording, draw: st.DrawFn) -> int:
    period = 1.0 / rec.meta.sample_rate_hz
    late, early = float(rec.t[-1]) + 3 * period, float(rec.t[0]) - 3 * period
    lines.append(draw(st.sampled_from([f"@event,{late!r},jump", f"@segment,{early!r},{rec.t[0]!r},rest",
                                       f"@count,{rec.t[0]!r},{late!r},jump,1"])))
    return len(lines)


def overlapping(lines: Lines, rec: Recording, draw: st.DrawFn) -> int:
    existing = [x for x in lines if x.startswith(("@segment", "@count"))]
    if not existing:
        return label_outside(lines, rec, draw)
    lines.append(draw(st.sampled_from(existing)))  # the same stretch twice: always an overlap
    return len(lines)


def count_against_events(lines: Lines, rec: Recording, draw: st.DrawFn) -> int:
    """A kind of its own (no other label uses it): timed events inside, and a different N."""
    a, b = float(rec.t[0]), float(rec.t[-1])
    inside = draw(st.lists(st.floats(a, b), min_size=1, max_size=4))
    if b <= a:
        b = a + 1.0 / rec.meta.sample_rate_hz
    inside = [x for x in inside if x < b] or [a]
    lines += [f"@event,{x!r},clap" for x in inside]
    lines.append(f"@count,{a!r},{b!r},clap,{len(inside) + draw(st.integers(1, 5))}")
    return len(lines)


MUTATIONS: list[Mutation] = [bad_number, wrong_column_count, beyond_full_scale, time_not_increasing,
                             duplicated_key, metadata_out_of_its_set, metadata_after_header_or_without_colon,
                             bad_label, label_outside, overlapping, count_against_events]


@SETTINGS
@given(rec=recordings(), mutation=st.sampled_from(MUTATIONS), data=st.data())
def test_malformed_variants_are_refused_at_their_line(rec: Recording, mutation: Mutation,
                                                     data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = saved(rec, Path(tmp))
        lines = path.read_text(encoding="utf-8").splitlines()
        line = mutation(lines, rec, data.draw)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        with pytest.raises(RecordingError) as info:
            load(path)
    assert str(info.value).startswith(f"{path}:{line}: "), (mutation.__name__, str(info.value))


# --- any damage: a Recording or a RecordingError, nothing else ------------------------------

@SETTINGS
@given(rec=recordings(), data=st.data())
def test_any_damage_loads_or_is_a_recording_error(rec: Recording, data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = saved(rec, Path(tmp))
        raw = bytearray(path.read_bytes())
        for _ in range(data.draw(st.integers(1, 4))):
            at = data.draw(st.integers(0, len(raw) - 1))
            how = data.draw(st.sampled_from(["flip", "insert", "delete"]))
            byte = data.draw(st.sampled_from(b"0123456789.,-+eE_@#:\n \t\xff\x00naijf"))
            if how == "flip":
                raw[at] = byte
            elif how == "insert":
                raw.insert(at, byte)
            elif len(raw) > 1:
                del raw[at]
        path.write_bytes(bytes(raw))
        try:
            load(path)
        except RecordingError as exc:
            assert str(exc).startswith(f"{path}:") or str(exc).startswith(f"{path} "), str(exc)


@SETTINGS
@given(rec=recordings(), data=st.data())
def test_a_file_cut_off_after_a_sample_loads_what_came_before(rec: Recording, data: st.DataObject) -> None:
    """A capture killed by a full disk: the samples before the cut load, a torn line is reported."""
    with tempfile.TemporaryDirectory() as tmp:
        path = saved(rec, Path(tmp))
        text = path.read_text(encoding="utf-8")
        body = text.index("\n", text.index("\nt,") + 1) + 1  # the first sample line
        labels = text.find("\n@") + 1 or len(text)
        cut = data.draw(st.integers(text.index("\n", body) + 1, labels))  # after one whole sample
        path.write_text(text[:cut], encoding="utf-8")
        got = load(path)
    whole = text[body:cut].count("\n")
    assert len(got.t) in (whole, whole + 1)  # the cut line loads if it still reads as a sample
    assert np.array_equal(got.t[:whole], rec.t[:whole])
    assert len(got.warnings) <= 1
