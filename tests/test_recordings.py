"""The recording loader: every kind of bad input gets a message naming file, line and fix."""

from __future__ import annotations

import argparse
import json
import re
import tracemalloc

import numpy as np
import pytest
from repcount.cli import main
from repcount.commands import show
from repcount.data import recordings
from repcount.data.recordings import (
    Count,
    Event,
    Meta,
    Recording,
    RecordingError,
    Segment,
    Writer,
    load,
    save,
)
from repcount.errors import UserError


def error_of(path) -> str:
    with pytest.raises(RecordingError) as info:
        load(path)
    return str(info.value)


def test_missing_columns_names_line_and_columns(good_header, write_text):
    path = write_text(good_header.replace("t,ax,ay,az", "t,ax,ay") + "0,0,0\n")
    msg = error_of(path)
    assert msg.startswith(f"{path}:6: missing column(s) az in header 't,ax,ay'")
    assert "expected 't,ax,ay,az'" in msg


def test_row_with_too_few_values(good_header, write_text):
    path = write_text(good_header + "0,0,0,1\n0.02,0,1\n")
    assert error_of(path) == f"{path}:8: 3 values but 4 columns (t,ax,ay,az)"


def test_duplicated_time_stamp_points_to_import_csv(good_header, write_text):
    path = write_text(good_header + "0,0,0,1\n0.02,0,0,1\n0.02,0,0,1\n")
    msg = error_of(path)
    assert msg.startswith(f"{path}:9: duplicated time stamp 0.02")
    assert "repcount import csv" in msg


def test_time_going_backwards(good_header, write_text):
    path = write_text(good_header + "0,0,0,1\n0.04,0,0,1\n0.02,0,0,1\n")
    msg = error_of(path)
    assert msg.startswith(f"{path}:9: time goes backwards (0.02 after 0.04)")
    assert "strictly increasing" in msg


@pytest.mark.parametrize("bad", ["nan", "NaN", "inf", "-inf"])
def test_nan_or_infinite_value(good_header, write_text, bad):
    path = write_text(good_header + f"0,0,0,1\n0.02,0,{bad},1\n")
    assert error_of(path) == f"{path}:8: column ay is {bad} (NaN or infinite)"


def test_value_that_is_not_a_number(good_header, write_text):
    path = write_text(good_header + "0,0,0,1\n0.02,0,zero,1\n")
    assert error_of(path) == f"{path}:8: column ay: 'zero' is not a number"


def test_unknown_unit(good_header, write_text):
    path = write_text(good_header.replace("t,ax", "# units: furlong\nt,ax") + "0,0,0,1\n")
    assert error_of(path) == (
        f"{path}:7: unknown unit 'furlong' for acceleration; use one of g, m/s^2, m/s2, mg"
    )


@pytest.mark.parametrize("unit,factor", [("m/s^2", 1 / 9.80665), ("mg", 1e-3), ("g", 1.0)])
def test_known_units_are_converted_to_g(good_header, write_text, unit, factor):
    path = write_text(good_header.replace("t,ax", f"# units: {unit}\nt,ax") + "0,1,2,3\n")
    rec = load(path)
    assert rec.meta.units == "g"
    np.testing.assert_allclose(rec.acc[0], np.array([1, 2, 3]) * factor)


@pytest.mark.parametrize("key", ["sample_rate_hz", "full_scale_g", "mount", "user"])
def test_missing_metadata(good_header, write_text, key):
    path = write_text(re.sub(rf"# {key}: .*\n", "", good_header) + "0,0,0,1\n")
    msg = error_of(path)
    assert msg.startswith(f"{path}: missing metadata {key}")
    assert f"'# {key}: ...'" in msg


def test_metadata_that_is_not_a_number(good_header, write_text):
    path = write_text(good_header.replace("# sample_rate_hz: 50", "# sample_rate_hz: fast") + "0,0,0,1\n")
    assert error_of(path) == f"{path}: sample_rate_hz and full_scale_g must be numbers"


def test_metadata_after_header(good_header, write_text):
    path = write_text(good_header + "0,0,0,1\n# user: late\n")
    assert error_of(path) == f"{path}:8: metadata line after the column header"


@pytest.mark.parametrize(
    "label,expected",
    [
        ("@event,soon,jump", "label times must be numbers: '@event,soon,jump'"),
        ("@event,nan,jump", "label times must be numbers: '@event,nan,jump'"),
        ("@segment,5,2,walking", "segment ends at 2.0 before it starts at 5.0"),
        ("@event,1.0", "unknown label line '@event,1.0'; expected '@event,TIME,KIND'"),
        ("@mark,1.0,jump", "unknown label line '@mark,1.0,jump'"),
    ],
)
def test_bad_label_lines(good_header, write_text, label, expected):
    path = write_text(good_header + f"0,0,0,1\n{label}\n0.02,0,0,1\n")
    assert error_of(path).startswith(f"{path}:8: {expected}")


def test_not_a_recording_at_all(write_text):
    path = write_text('{"samples": [1, 2, 3]}\n', "data.json")
    msg = error_of(path)
    assert msg.startswith(f"{path}:1: not a repcount recording")
    assert "# repcount-recording: 1" in msg


def test_plain_csv_without_metadata_is_not_a_recording(write_text):
    path = write_text("t,ax,ay,az\n0,0,0,1\n", "log.csv")
    msg = error_of(path)
    assert msg.startswith(f"{path}: not a repcount recording of format 1")


def test_binary_file(tmp_path):
    path = tmp_path / "plot.rec"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    assert error_of(path).startswith(f"{path}: not a text file")


def test_empty_and_sampleless_files(good_header, write_text):
    empty = write_text("", "empty.rec")
    assert error_of(empty).startswith(f"{empty}: no column header found")
    no_samples = write_text(good_header, "none.rec")
    assert error_of(no_samples) == f"{no_samples}: the recording holds no samples"


def test_missing_file(tmp_path):
    assert error_of(tmp_path / "nope.rec") == f"{tmp_path / 'nope.rec'}: no such recording file"


def test_round_trip_is_bit_exact(tmp_path, small_recording):
    path = save(small_recording, tmp_path / "a.rec")
    rec = load(path)
    assert rec.t.tobytes() == small_recording.t.tobytes()
    assert rec.acc.tobytes() == small_recording.acc.tobytes()
    assert rec.gyro is None
    assert rec.segments == small_recording.segments
    assert rec.events == small_recording.events
    assert rec.meta == small_recording.meta
    # Saving what was loaded gives the same bytes: the format is stable and diffable.
    assert save(rec, tmp_path / "b.rec").read_bytes() == path.read_bytes()


def test_round_trip_with_gyro_and_labels_appended_while_recording(tmp_path, small_recording):
    r = small_recording
    gyro = np.round(np.linspace(-250, 250, 3 * len(r.t)).reshape(-1, 3), 3)
    path = tmp_path / "capture.rec"
    with Writer(path, r.meta, gyro=True) as w:
        w.samples(r.t[:40], r.acc[:40], gyro[:40])
        w.event(0.5, "jump")
        w.flush()
        assert load(path).events == [Event(0.5, "jump")]  # valid while the capture runs
        w.samples(r.t[40:], r.acc[40:], gyro[40:])
        w.segment(0.1, 1.9, "jump-rope")
        w.event(1.25, "double-under")
    rec = load(path)
    assert rec.t.tobytes() == r.t.tobytes()
    assert rec.acc.tobytes() == r.acc.tobytes()
    assert rec.gyro is not None and rec.gyro.tobytes() == gyro.tobytes()
    assert rec.segments == [Segment(0.1, 1.9, "jump-rope")]
    assert rec.events == r.events
    assert list(rec.events_of(["jump", "double-under"])) == [0.5, 1.25]


def test_show_stops_at_a_bad_file_with_a_user_error(good_header, write_text, tmp_path):
    good = save_small(tmp_path)
    bad = write_text(good_header + "0,0,0,1\n0,0,0,1\n")
    args = argparse.Namespace(files=[str(good), str(bad)], plot=None, force=False, json=True)
    with pytest.raises(UserError, match=rf"^{re.escape(str(bad))}:8: duplicated time stamp"):
        show.run(args)


def save_small(tmp_path):
    meta = Meta(sample_rate_hz=50, full_scale_g=8, mount="wrist", user="u")
    return save(Recording(meta, np.array([0.0, 0.02]), np.zeros((2, 3))), tmp_path / "good.rec")


# --- count labels ----------------------------------------------------------------------------

SAMPLES = "".join(f"{i * 0.02:.2f},0,0,1\n" for i in range(101))  # 0 to 2 s at 50 Hz, lines 7-107


def with_labels(header: str, *labels: str) -> str:
    """A 2 s recording whose label lines follow the samples, from line 108 on."""
    return header + SAMPLES + "".join(f"{label}\n" for label in labels)


def test_count_labels_round_trip_through_writer_and_save(tmp_path, small_recording):
    rec = small_recording
    rec.counts = [Count(0.1, 1.0, "jump", 12), Count(1.0, 1.9, "jump", 0), Count(0.5, 1.5, "step", 3)]
    rec.events = []
    loaded = load(save(rec, tmp_path / "c.rec"))
    assert loaded.counts == sorted(rec.counts, key=lambda c: (c.start, c.end, c.kind))
    path = tmp_path / "w.rec"
    with Writer(path, rec.meta) as w:
        w.samples(rec.t, rec.acc)
        w.count(0.2, 1.8, "jump", 87)
    assert load(path).counts == [Count(0.2, 1.8, "jump", 87)]
    assert "@count,0.2,1.8,jump,87\n" in path.read_text()


@pytest.mark.parametrize("label,expected", [
    ("@count,0.5,1.5,jump,-1", "the count N must be a whole number >= 0, got '-1'"),
    ("@count,0.5,1.5,jump,1.5", "the count N must be a whole number >= 0, got '1.5'"),
    ("@count,0.5,1.5,jump,many", "the count N must be a whole number >= 0, got 'many'"),
    ("@count,0.5,1.5,jump", "unknown label line '@count,0.5,1.5,jump'"),
    ("@count,1.5,0.5,jump,3", "count ends at 0.5 before it starts at 1.5"),
    ("@count,0.5,1.5,,3", "the label names no kind"),
    ("@count,1.5,9,jump,3", "count of 3 jump in 1.5-9 s lies outside the recording (samples from 0 to 2 s)"),
])
def test_bad_count_labels_name_their_line(good_header, write_text, label, expected):
    path = write_text(with_labels(good_header, label))
    assert error_of(path).startswith(f"{path}:108: {expected}")


def test_counts_of_one_kind_may_touch_but_not_overlap(good_header, write_text):
    ok = write_text(with_labels(good_header, "@count,0,1,jump,5", "@count,1,2,jump,4",
                                "@count,0.5,1.5,step,2"), "ok.rec")
    assert [c.n for c in load(ok).counts] == [5, 4, 2]
    bad = write_text(with_labels(good_header, "@count,0,1,jump,5", "@count,0.9,2,jump,4"))
    msg = error_of(bad)
    assert msg.startswith(
        f"{bad}:109: count of 4 jump in 0.9-2 s overlaps count of 5 jump in 0-1 s on line 108")


def test_count_must_agree_with_the_timed_events_inside_it(good_header, write_text):
    events = ["@event,0.2,jump", "@event,0.6,jump", "@event,1,jump", "@event,0.4,step"]
    agree = write_text(with_labels(good_header, "@count,0,1,jump,2", "@count,0,1,step,1", *events), "a.rec")
    assert len(load(agree).counts) == 2  # the event at 1.0 belongs to the next stretch
    untimed = write_text(with_labels(good_header, "@count,1.2,2,jump,40", *events), "u.rec")
    assert load(untimed).counts[0].n == 40  # no timed jump inside: the count stands alone
    bad = write_text(with_labels(good_header, *events, "@count,0,1.5,jump,2"))
    assert error_of(bad).startswith(
        f"{bad}:112: count of 2 jump in 0-1.5 s, but 3 timed jump events lie in it")


# --- the boundary: value sets, labels within the recording, no contradictions ---------------

@pytest.mark.parametrize("labels,line,expected", [
    (["@event,2.5,jump"], 108, "event jump at 2.5 s lies outside the recording (samples from 0 to 2 s)"),
    (["@segment,-1,1,rest"], 108, "segment rest -1-1 s lies outside the recording"),
    (["@segment,0,1.2,rest", "@segment,1,2,jump-rope"], 109,
     "segment jump-rope 1-2 s overlaps segment rest 0-1.2 s on line 108; segments may touch but not overlap"),
    (["@segment,0,2,jump-rope", "@segment,0,2,jump-rope"], 109, "segment jump-rope 0-2 s overlaps"),
    (["@segment,0.5,1,rest", "@segment,0,2,jump-rope"], 109, "segment jump-rope 0-2 s overlaps segment rest"),
    (["@event,1e0_0,jump"], 108, "label times must be numbers"),
])
def test_labels_outside_or_contradicting_are_refused(good_header, write_text, labels, line, expected):
    path = write_text(with_labels(good_header, *labels))
    assert error_of(path).startswith(f"{path}:{line}: {expected}")


def test_labels_may_touch_and_reach_two_periods_past_the_samples(good_header, write_text):
    path = write_text(with_labels(good_header, "@segment,-0.04,1,rest", "@segment,1,2.04,jump-rope",
                                  "@event,2.04,jump"))
    assert [s.activity for s in load(path).segments] == ["rest", "jump-rope"]


@pytest.mark.parametrize("line,expected", [
    ("# sample_rate_hz: inf", "sample_rate_hz is inf; it must be a finite number above 0"),
    ("# sample_rate_hz: 0", "sample_rate_hz is 0; it must be a finite number above 0"),
    ("# full_scale_g: 3", "full_scale_g is 3; an IMU's range is one of 2, 4, 8, 16 g"),
    ("# mount: desk", "mount 'desk' is not one of wrist, handle, pocket"),
    ("# user:", "user is empty"),
])
def test_metadata_outside_the_documented_value_sets(good_header, write_text, line, expected):
    key = line[2:].partition(":")[0]
    header = re.sub(rf"# {key}:.*", line, good_header)
    path = write_text(header + "0,0,0,1\n")
    lineno = header.splitlines().index(line) + 1
    assert error_of(path).startswith(f"{path}:{lineno}: {expected}")


@pytest.mark.parametrize("value", ["1_000", "5_0", " 50x", "fifty"])
def test_metadata_numbers_are_plain_decimals(good_header, write_text, value):
    path = write_text(good_header.replace("# sample_rate_hz: 50", f"# sample_rate_hz: {value}") + "0,0,0,1\n")
    assert error_of(path) == f"{path}: sample_rate_hz and full_scale_g must be numbers"


def test_duplicated_metadata_key(good_header, write_text):
    path = write_text(good_header.replace("t,ax", "# user: someone-else\nt,ax") + "0,0,0,1\n")
    assert error_of(path).startswith(f"{path}:6: metadata user given twice (first on line 5)")


@pytest.mark.parametrize("row,expected", [
    ("0.02,1_000,0,1", "column ax: '1_000' is not a number"),
    ("0.02,0,\u0661,1", "column ay: '\u0661' is not a number"),  # an Arabic-Indic digit: float() takes it
    ("0.02,0,0,1e999", "column az is 1e999 (NaN or infinite)"),
    ("0.02,1e30,0,1", "column ax is 1e30 g, beyond the full scale of 8 g"),
    ("0.02,0,-8.1,1", "column ay is -8.1 g, beyond the full scale of 8 g"),
])
def test_sample_values_must_be_plain_finite_and_within_full_scale(good_header, write_text, row, expected):
    path = write_text(good_header + f"0,0,0,1\n{row}\n")
    assert error_of(path).startswith(f"{path}:8: {expected}")


def test_clipped_samples_at_full_scale_load_in_any_unit(good_header, write_text):
    clipped = write_text(good_header + "0,8,-8,1\n0.02,-8,7.99975585938,0\n", "g.rec")
    assert load(clipped).acc.max() == 8
    in_si = write_text(good_header.replace("t,ax", "# units: m/s^2\nt,ax") + "0,78.4532,0,9.81\n", "si.rec")
    assert load(in_si).acc[0, 0] == pytest.approx(8.0)


# --- a torn last line, duplicates, one sample ----------------------------------------------

@pytest.mark.parametrize("torn", ["0.06,0.1", "0.06,0.1,", "0.06,0.1,-0.9e", "@event,0.0", "@segm"])
def test_torn_last_line_is_left_out_and_reported(good_header, write_text, torn):
    path = write_text(good_header + "0,0,0,1\n0.02,0,0,1\n0.04,0,0,1\n" + torn)
    rec = load(path)
    assert len(rec.t) == 3
    assert len(rec.warnings) == 1
    assert rec.warnings[0].startswith(f"{path}:10: last line cut off mid-write (")
    assert "the samples before it are loaded" in rec.warnings[0]


def test_the_same_damage_with_a_newline_is_an_error(good_header, write_text):
    path = write_text(good_header + "0,0,0,1\n0.02,0,0,1\n0.04,0,0,1\n0.06,0.1\n")
    assert error_of(path) == f"{path}:10: 2 values but 4 columns (t,ax,ay,az)"


def test_load_all_reads_a_file_named_twice_once(tmp_path):
    path = save_small(tmp_path)
    recs = recordings.load_all([path, tmp_path, tmp_path / ".." / tmp_path.name / path.name])
    assert [r.path for r in recs] == [path]


def test_writer_refuses_what_its_loader_would_refuse_or_misread(tmp_path):
    meta = Meta(sample_rate_hz=50, full_scale_g=8, mount="wrist", user="me\n# mount: bag")
    with pytest.raises(RecordingError, match="metadata user .* cannot be written"):
        Writer(tmp_path / "a.rec", meta)
    assert not (tmp_path / "a.rec").exists()
    with pytest.raises(RecordingError, match="full_scale_g is 3"):
        Writer(tmp_path / "a.rec", Meta(50, 3, "wrist", "u"))
    with Writer(tmp_path / "b.rec", Meta(50, 8, "wrist", "u")) as w:
        with pytest.raises(RecordingError, match="activity 'jump,rope' cannot be written"):
            w.segment(0, 1, "jump,rope")
        for bad in (-1, 2.5, True, "3"):
            with pytest.raises(RecordingError, match=f"count {bad!r} of jump cannot be written"):
                w.count(0, 1, "jump", bad)  # type: ignore[arg-type]
        w.count(0, 1, "jump", np.int64(3))


def test_loader_memory_stays_within_twice_the_file(tmp_path, small_recording):
    rec = small_recording
    reps = 200
    t = np.concatenate([rec.t + 2 * i for i in range(reps)])
    big = Recording(rec.meta, t, np.tile(rec.acc, (reps, 1)))
    path = save(big, tmp_path / "big.rec")
    tracemalloc.start()
    try:
        loaded = load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(loaded.t) == len(big.t)
    assert peak < 2 * path.stat().st_size


# --- repcount show ---------------------------------------------------------------------------

def show_args(*files, plot=None, force=False, json=False) -> argparse.Namespace:
    return argparse.Namespace(files=[str(f) for f in files], plot=None if plot is None else str(plot),
                              force=force, json=json)


def test_show_of_a_one_sample_recording_prints_it(good_header, write_text, capsys):
    path = write_text(good_header + "0,0,0,1\n")
    assert show.run(show_args(path)) == 0
    out = capsys.readouterr().out
    assert f"{path}: 1 samples, 0.0 s at an unknown rate (one sample)" in out


def test_show_prints_counts_and_the_torn_line_warning(good_header, write_text, capsys):
    path = write_text(with_labels(good_header, "@count,0,2,jump,87") + "2.02,0,0")
    assert show.run(show_args(path)) == 0
    out = capsys.readouterr().out
    assert "counts: 87 jump in 0.0-2.0 s" in out
    assert f"warning: {path}:109: last line cut off mid-write" in out


def test_show_plot_into_a_directory_and_never_over_an_existing_plot(tmp_path, capsys):
    path = save_small(tmp_path)
    plots = tmp_path / "plots"
    plots.mkdir()
    assert show.run(show_args(path, plot=plots)) == 0
    assert (plots / "good.png").read_bytes()[:4] == b"\x89PNG"
    assert not (tmp_path / "plots.png").exists()
    with pytest.raises(UserError, match=r"--plot .*good.png: already exists; .* --force"):
        show.run(show_args(path, plot=plots))
    assert show.run(show_args(path, plot=plots, force=True)) == 0
    single = tmp_path / "one.png"
    assert show.run(show_args(path, plot=single)) == 0 and single.is_file()


def test_lines_of_spaces_are_skipped_and_labels_may_carry_trailing_spaces(good_header, write_text):
    """capture reserves a label's line as spaces and fills it in place when the segment ends."""
    path = write_text(good_header + "0,0,0,1\n" + " " * 40 + "\n0.02,0,0,1\n@segment,0,0.02,rest      \n")
    rec = load(path)
    assert len(rec.t) == 2 and rec.segments == [Segment(0.0, 0.02, "rest")]


@pytest.mark.parametrize("samples,extra,code", [
    ("0,0,0,1\n", [], 0),                       # one sample
    ("0,0,0,1\n0.02,0", [], 0),                 # a torn last line
    ("0,0,0,1\n0.02,1_000,0,1\n", [], 2),       # a bad number
    ("0,0,0,1\n", ["--plot", "{file}/p.png"], 2),  # a plot inside a file
    ("0,0,0,1\n", ["{dir}", "--json"], 0),       # named directly and through its directory
])
def test_show_through_the_cli_exits_0_or_2_with_one_line(samples, extra, code, good_header, tmp_path, capsys):
    """What a user types: a clear line and exit 2 on bad input, never a traceback."""
    (tmp_path / "d").mkdir()
    rec = tmp_path / "d" / "r.rec"
    rec.write_text(good_header + samples)
    (tmp_path / "file").write_text("x")
    fill = {"file": tmp_path / "file", "dir": tmp_path / "d"}
    assert main(["show", str(rec), *(arg.format(**fill) for arg in extra)]) == code
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    if code == 2:
        assert len(err.strip().splitlines()) == 1 and err.startswith("repcount show: error: ")
    if "--json" in extra:
        assert [r["path"] for r in json.loads(out)["recordings"]] == [str(rec)]
