"""The recording loader: every kind of bad input gets a message naming file, line and fix."""

from __future__ import annotations

import argparse
import re

import numpy as np
import pytest
from repcount.commands import show
from repcount.data.recordings import Event, Meta, Recording, RecordingError, Segment, Writer, load, save
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
