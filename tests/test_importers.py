"""Importers: the real Oxford step-counter data, WISDM raw files, generic CSV."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
from repcount.cli import main
from repcount.commands import import_
from repcount.data import importers
from repcount.data.recordings import load
from repcount.errors import UserError


def run_import(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict:
    """`repcount import ARGV --json` through the module's own parser, as the CLI does."""
    parser = argparse.ArgumentParser(prog="repcount import")
    import_.add_arguments(parser)
    assert import_.run(parser.parse_args([*argv, "--json"])) == 0
    return json.loads(capsys.readouterr().out)


# --- Oxford ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def oxford(shared_dir):
    root = shared_dir / "data" / "oxford-step-counter"
    return root, importers.load_oxford(root)


def test_oxford_all_48_traces_reproduce_the_step_totals_of_stats_csv(oxford):
    root, recs = oxford
    stats = {}
    for line in (root / "optimisation" / "stats.csv").read_text().splitlines()[1:]:
        cells = [c.strip() for c in line.split(",")]
        stats[cells[0]] = int(cells[6])
    assert len(recs) == len(stats) == 48
    for rec in recs:
        assert len(rec.events_of(["step"])) == stats[rec.meta.extra["trace"]], rec.meta.extra["trace"]
    assert sum(len(r.events) for r in recs) == sum(stats.values())


def test_oxford_traces_are_50hz_in_g_with_metadata(oxford):
    _, recs = oxford
    by_trace = {r.meta.extra["trace"]: r for r in recs}
    pocket = by_trace["Pixel_Jamie_Hard_BackPocket_1"]
    assert pocket.meta.mount == "pocket" and pocket.meta.extra["placement"] == "BackPocket"
    assert pocket.meta.user == "oxford-jamie" and pocket.meta.extra["phone"] == "Pixel"
    assert pocket.meta.extra["surface"] == "Hard"
    # The data set spells some placements differently; they come out the same.
    assert by_trace["Samsung_Dario_Hard_Backpocket_2"].meta.extra["placement"] == "BackPocket"
    assert by_trace["Samsung_Dario_Hard_ArmBand_1"].meta.mount == "arm"
    assert {r.meta.mount for r in recs} == {"hand", "arm", "pocket", "neck", "bag"}
    assert {r.meta.user for r in recs} == {"oxford-jamie", "oxford-carmelo", "oxford-dario"}
    for rec in recs:
        assert rec.meta.sample_rate_hz == 50
        assert np.allclose(np.diff(rec.t), 0.02, atol=1e-6)
        assert np.median(np.linalg.norm(rec.acc, axis=1)) == pytest.approx(1.0, abs=0.15)  # gravity, in g
        assert [s.activity for s in rec.segments] == ["walking"]
        assert 100 < rec.duration < 260


def test_oxford_cli_writes_recordings_the_loader_reads(shared_dir, tmp_path, capsys):
    """Two traces of the real data set, in the data set's own layout (stats.csv + data/)."""
    real = shared_dir / "data" / "oxford-step-counter" / "optimisation"
    lines = (real / "stats.csv").read_text().splitlines()
    picked = [lines[0], *(line for line in lines if line.startswith(("Pixel_Jamie_Hard_SwingingArm_1,",
                                                                   "Samsung_Dario_Hard_Purse_2,")))]
    root = tmp_path / "oxford" / "optimisation"
    (root / "data").mkdir(parents=True)
    (root / "stats.csv").write_text("\n".join(picked) + "\n")
    for line in picked[1:]:
        name = line.split(",")[0]
        (root / "data" / name).symlink_to(real / "data" / name)
    summary = run_import(["oxford", "--root", str(tmp_path / "oxford"), "--out", str(tmp_path / "o")], capsys)
    assert summary["recordings"] == 2 and summary["events"] == {"step": 284 + 302}
    assert summary["users"] == ["oxford-dario", "oxford-jamie"]
    rec = load(tmp_path / "o" / "oxford-Pixel_Jamie_Hard_SwingingArm_1.rec")
    assert len(rec.events_of(["step"])) == 284  # SOURCE.md: 151 left + 133 right
    assert rec.meta.extra["placement"] == "SwingingArm" and rec.meta.mount == "hand"
    assert rec.meta.extra["source"] == "oxford-step-counter"


def test_oxford_wrong_root_is_explained(tmp_path):
    with pytest.raises(UserError, match="not the Oxford step-counter data .* pass --root"):
        importers.load_oxford(tmp_path)


def test_resampling_filters_what_would_alias():
    """A 40 Hz vibration sampled at ~400 Hz must not fold back to 10 Hz at 50 Hz."""
    rng = np.random.default_rng(0)
    t = np.cumsum(rng.uniform(0.0022, 0.0028, 8000))
    x = np.stack([np.sin(2 * np.pi * 40 * t), np.sin(2 * np.pi * 3 * t), np.ones_like(t)], axis=1)
    tr, y = importers.resample(t, x)
    assert np.allclose(np.diff(tr), 0.02)
    inner = slice(50, -50)
    assert np.abs(y[inner, 0]).max() < 0.05  # aliased: would be a full-amplitude 10 Hz sine
    assert np.abs(y[inner, 1] - np.sin(2 * np.pi * 3 * tr[inner])).max() < 0.05  # passes
    assert np.allclose(y[:, 2], 1.0, atol=0.01)  # gravity stays, edges too


# --- WISDM ----------------------------------------------------------------------------------

WISDM = """\
33,Jogging,49105962326000,-0.6946377,12.680544,0.50395286;
33,Jogging,49106062271000,5.012288,11.264028,0.95342433;
33,Jogging,49106112167000,4.903325,10.882658,-0.08172209;33,Jogging,49106162315000,-0.61291564,18.496431,3.0237172;
33,Jogging,49106212049000,-1.1849703,12.108489,7.205164,;

33,Jogging,49106262049000,1.3756552,-2.4925237,-6.510526
33,Jogging,49106262049000,1.3756552,-2.4925237,-6.510526;
33,Walking,49106312058000,-0.61291564,10.56939,5.706926;
33,Walking,49106362058000,-0.50395286,13.947236,7.0553403;
33,Walking,0,0,0,0;
33,Walking,49106412058000,4.4,4.4;
33,Walking,49106462058000,NaN,1,1;
33,Walking,49106512058000,x,1,1;
33,Skating,49106562058000,1,1,1;
7,Sitting,1000000000000,0.1,9.8,0.2;
7,Sitting,1000050000000,0.1,9.7,0.3;
7,Sitting,900000000000,0.1,9.8,0.2;
7,Sitting,900050000000,0.2,9.8,0.2;
7,Standing,900100000000,0.2,9.8,0.2
"""


def test_wisdm_sessions_segments_and_skipped_lines(tmp_path):
    path = tmp_path / "WISDM_raw.txt"
    path.write_text(WISDM)
    recs, report = importers.load_wisdm(path)
    assert [r.meta.user for r in recs] == ["wisdm-33", "wisdm-7", "wisdm-7"]
    jog = recs[0]
    assert len(jog.t) == 8
    assert jog.t[1] == pytest.approx(0.099945)
    assert [(s.activity, round(s.start, 3), round(s.end, 3)) for s in jog.segments] == [
        ("running", 0.0, 0.35), ("walking", 0.35, 0.45)]
    np.testing.assert_allclose(jog.acc[0], np.array([-0.6946377, 12.680544, 0.50395286]) / 9.80665)
    # Time going backwards starts a new session; sitting then standing are two segments.
    assert [s.activity for s in recs[2].segments] == ["sitting", "standing"]
    assert report.skipped == {
        "duplicated time stamp": 1, "zero time stamp": 1, "5 fields instead of 6": 1,
        "NaN or infinite value": 1, "a value is not a number": 1, "unknown activity": 1,
    }
    assert report.examples["duplicated time stamp"] == [7]
    assert report.examples["5 fields instead of 6"] == [11]
    assert report.records == 13 == sum(len(r.t) for r in recs)


def test_wisdm_cli_reports_what_it_skipped(tmp_path, capsys):
    path = tmp_path / "w.txt"
    path.write_text(WISDM)
    summary = run_import(["wisdm", str(path), "--out", str(tmp_path / "out")], capsys)
    assert summary["recordings"] == 3 and summary["skipped"] == 6
    assert summary["skipped_by_reason"]["zero time stamp"] == 1
    assert load(tmp_path / "out" / "wisdm-7-s2.rec").meta.sample_rate_hz == 20


def test_wisdm_missing_file(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        importers.load_wisdm(tmp_path / "nope.txt")


# --- CSV ------------------------------------------------------------------------------------

CSV = """\
timestamp,accX,accY,accZ,battery
1000,0,0,9.80665,99
1000,0,0,9.80665,99
1000,0,0,9.80665,99
1030,0,9.80665,0,99
1060,9.80665,0,0,99
1060,9.80665,0,0,98
"""


def test_csv_maps_columns_converts_units_and_spreads_shared_time_stamps(write_text):
    path = write_text(CSV, "phone.csv")
    rec = importers.load_csv(path, importers.parse_columns("t=timestamp,ax=accX,ay=accY,az=accZ"),
                             units="m/s^2", time_unit="ms", mount="pocket", activity="walking")
    np.testing.assert_allclose(rec.t, [0, 0.01, 0.02, 0.03, 0.06, 0.08])  # last run: median period
    np.testing.assert_allclose(rec.acc[0], [0, 0, 1])
    np.testing.assert_allclose(rec.acc[-1], [1, 0, 0])
    assert rec.meta.user == "phone" and rec.meta.mount == "pocket"
    assert rec.segments[0].activity == "walking"


def test_csv_columns_by_index_and_cli(write_text, tmp_path, capsys):
    path = write_text(CSV.replace("1000,", "1.000,").replace("1030,", "1.030,").replace("1060,", "1.060,"))
    summary = run_import(["csv", str(path), "--columns", "t=0,ax=1,ay=2,az=3", "--units", "m/s2",
                          "--user", "alice", "--out", str(tmp_path / "o")], capsys)
    assert summary["users"] == ["alice"]
    rec = load(tmp_path / "o" / "r.rec")
    assert len(rec.t) == 6 and np.all(np.diff(rec.t) > 0)


def test_spread_duplicates_keeps_distinct_stamps():
    t = np.array([0.0, 0.1, 0.1, 0.2, 0.3, 0.3, 0.3, 0.3])
    np.testing.assert_allclose(importers.spread_duplicates(t), [0, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6])


@pytest.mark.parametrize(
    "text,columns,message",
    [
        (CSV, "t=time,ax=accX,ay=accY,az=accZ", r":1: no column 'time' \(for t\) in header"),
        (CSV.replace("1030,0,9.80665", "1030,0,x"), "t=timestamp,ax=accX,ay=accY,az=accZ",
         r":5: column accY: 'x' is not a number"),
        (CSV.replace("1030,0,9.80665", "1030,0,nan"), "t=timestamp,ax=accX,ay=accY,az=accZ",
         r":5: NaN or infinite value"),
        (CSV.replace("1030,", "900,"), "t=timestamp,ax=accX,ay=accY,az=accZ", r":5: time goes backwards"),
        (CSV.replace("1030,0,9.80665,0,99", "1030,0"), "t=timestamp,ax=accX,ay=accY,az=accZ",
         r":5: 2 values, fewer than the header's 5"),
    ],
)
def test_csv_bad_input_names_file_and_line(write_text, text, columns, message):
    path = write_text(text, "bad.csv")
    with pytest.raises(UserError, match=f"^{path}{message}"):
        importers.load_csv(path, importers.parse_columns(columns), units="m/s^2")


def test_csv_bad_mapping_and_units(write_text):
    path = write_text(CSV, "p.csv")
    with pytest.raises(UserError, match="--columns does not say which column is az"):
        importers.parse_columns("t=timestamp,ax=accX,ay=accY")
    with pytest.raises(UserError, match="bad column mapping 'accZ'"):
        importers.parse_columns("t=timestamp,ax=accX,ay=accY,accZ")
    with pytest.raises(UserError, match="unknown unit 'furlong' for acceleration; use one of g, m/s"):
        importers.load_csv(path, importers.parse_columns("t=timestamp,ax=accX,ay=accY,az=accZ"),
                           units="furlong")


def import_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="repcount import")
    import_.add_arguments(parser)
    return parser.parse_args(argv)


def test_import_out_never_replaces_a_recording_without_force(write_text, tmp_path, capsys):
    a, b = write_text(CSV, "a.csv"), write_text(CSV, "b.csv")
    out = tmp_path / "out"
    cols = ["--columns", "t=timestamp,ax=accX,ay=accY,az=accZ", "--units", "m/s^2", "--time-unit", "ms"]
    assert import_.run(import_args(["csv", str(a), *cols, "--out", str(out)])) == 0
    before = (out / "a.rec").read_bytes()
    with pytest.raises(UserError, match=r"a\.rec: already exists; .* --force"):
        import_.run(import_args(["csv", str(a), *cols, "--activity", "walking", "--out", str(out)]))
    assert (out / "a.rec").read_bytes() == before
    assert import_.run(import_args(["csv", str(b), *cols, "--out", str(out)])) == 0  # beside, not over
    assert import_.run(import_args(["csv", str(a), *cols, "--activity", "walking", "--out", str(out),
                                    "--force"])) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.rec", "b.rec"]
    assert load(out / "a.rec").segments[0].activity == "walking"
    capsys.readouterr()


def test_import_out_onto_a_file_is_refused_before_reading(write_text, tmp_path):
    target = write_text("keep me", "taken")
    with pytest.raises(UserError, match=r"--out .*taken: is a file; name a directory"):
        import_.run(import_args(["oxford", "--root", str(tmp_path / "nowhere"), "--out", str(target)]))
    assert target.read_text() == "keep me"


def test_csv_beyond_the_largest_imu_range_is_a_unit_mistake(write_text):
    path = write_text(CSV.replace("9.80665", "98.0665"), "si.csv")  # m/s^2, read as g
    with pytest.raises(UserError, match=r"si\.csv: an acceleration of 98\.07 g lies beyond the largest "
                                        r"IMU range \(16 g\); is the unit right"):
        importers.load_csv(path, importers.parse_columns("t=timestamp,ax=accX,ay=accY,az=accZ"), units="g")
    assert importers.full_scale_for(np.array([[16.0, -16.0, 0.0]])) == 16  # clipped, not wrong


@pytest.mark.parametrize("case", ["out is a file", "existing recording", "beyond 16 g", "bad line"])
def test_import_through_the_cli_exits_2_with_one_line(case, write_text, tmp_path, capsys):
    """What a user types: one clear line on stderr, exit 2, never a traceback; nothing replaced."""
    text = {"beyond 16 g": CSV.replace("9.80665", "98.0665"), "bad line": CSV.replace("1030,", "1_030,")}
    path = write_text(text.get(case, CSV), "p.csv")
    out = tmp_path / "out"
    if case == "out is a file":
        out.write_text("keep")
    if case == "existing recording":
        out.mkdir()
        (out / "p.rec").write_text("keep")
    assert main(["import", "csv", str(path), "--columns", "t=timestamp,ax=accX,ay=accY,az=accZ",
                 "--time-unit", "ms", "--out", str(out)]) == 2
    _, err = capsys.readouterr()
    assert len(err.strip().splitlines()) == 1 and err.startswith("repcount import: error: ")
    assert "Traceback" not in err
    assert not out.exists() or out.is_file() or [p.read_text() for p in out.iterdir()] in ([], ["keep"])
