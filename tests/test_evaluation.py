"""evaluate's bookkeeping (without TensorFlow): events to times, false counts, pooling, groups,
and the classic peak-detection baseline. The model-driven path is in test_training.py."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from counting_data import impacts_recording
from repcount.data.recordings import Event, Meta, Recording, Segment, save
from repcount.errors import UserError
from repcount.learn import baseline, counting, evaluation, tasks
from repcount.learn.card import ModelDir, OutputScaling

JR = tasks.get("jump-rope")


def rec_with(events: list[float], segments: list[Segment], seconds: float = 100.0, **extra: str) -> Recording:
    t = np.arange(int(seconds * 50)) / 50.0
    meta = Meta(50.0, 8.0, "wrist", "u1", extra=dict(extra))
    return Recording(meta, t, np.zeros((len(t), 3)), None, segments, [Event(e, "jump") for e in events])


def test_false_counts_are_predictions_inside_non_target_segments() -> None:
    segs = [Segment(0, 30, "walking"), Segment(30, 90, "jump-rope"), Segment(90, 100, "gestures")]
    rec = rec_with([40.0, 41.0], segs)
    res = evaluation.result_for(rec, JR, np.array([5.0, 40.01, 41.0, 95.0, 99.0]))
    assert res.false_counts == 3
    assert res.distractor_s == pytest.approx(40.0)
    s = evaluation.summarize([res], JR)
    assert s["false_counts_per_hour"] == pytest.approx(3 * 3600 / 40)
    assert s["event_f1"] == pytest.approx(2 * 2 / (2 * 2 + 3))  # tp 2, fp 3, fn 0
    assert s["count_mape"] is None  # 2 true events: too few for count MAPE


def test_summary_pools_events_and_groups_by_placement() -> None:
    a = evaluation.result_for(
        rec_with(list(np.arange(1, 41.0)), [], placement="BackPocket"), JR, np.arange(1, 43.0)
    )
    b = evaluation.result_for(rec_with(list(np.arange(1, 21.0)), []), JR, np.arange(1, 20.0))
    s = evaluation.summarize([a, b], JR)
    assert s["count_mape"] == pytest.approx((2 / 40 + 1 / 20) / 2)
    assert (s["true_events"], s["predicted_events"]) == (60, 61)
    br = evaluation.breakdown([a, b], JR)
    assert set(br["by_group"]) == {"BackPocket", "wrist"}
    assert br["per_recording"][0]["count_error"] == pytest.approx(0.05)


def test_float_scores_go_on_the_int8_output_grid() -> None:
    grid = OutputScaling(1 / 256, -128)
    got = evaluation.float_to_int8_scores(np.array([0.0, 0.5, 0.999, 1.0, 0.25]), grid)
    assert got.tolist() == [-128, 0, 127, 127, -64]
    # the grid is the card's, never a constant: a symmetric output grid puts 0.0 at 0
    got = evaluation.float_to_int8_scores(np.array([0.0, 0.5, -2.0]), OutputScaling(1 / 64, 0))
    assert got.tolist() == [0, 32, -128]


def test_event_times_follow_the_recordings_own_clock() -> None:
    rec = rec_with([], [], seconds=10.0)
    rec.t = rec.t * 1.01  # a clock 1 % slow: sample n is at 1.01 * n / 50 s
    params = counting.CountingParams(threshold=0, refractory=1, take_start=2, take_count=2, out_stride=4)
    outs = np.full((3, 6), -128, dtype=np.int8)
    outs[1, 3] = 100  # stream step 3 -> samples (2 + 3) * 4 + 2 = 22
    times = evaluation.event_times(rec, outs, params, offset_s=0.01)
    assert times == pytest.approx([22 / 50 * 1.01 + 0.01])


def test_baseline_counts_clean_impacts_and_ignores_slow_swings() -> None:
    rec = impacts_recording("u", 60.0, 0.45, seed=4)
    found = baseline.detect(rec, JR)
    res = evaluation.result_for(rec, JR, found)
    assert abs(len(found) - len(rec.events)) <= 2
    assert res.false_counts == 0


def test_baseline_without_parameters_for_a_task_says_so() -> None:
    with pytest.raises(ValueError, match="no baseline parameters for task 'activity'"):
        baseline.detect(impacts_recording("u", 5.0), tasks.get("activity"))


def test_missing_data_is_a_user_error() -> None:
    with pytest.raises(UserError, match="no such file or directory"):
        evaluation.load_data(["/nonexistent/recordings"])


def test_leave_one_user_out_pools_every_fold() -> None:
    from repcount.learn import folds

    def fold(true_n: int, pred_n: int, placement: str) -> dict:
        res = evaluation.result_for(
            rec_with(list(np.arange(1, true_n + 1.0)), [Segment(80, 100, "car")], placement=placement),
            JR,
            np.concatenate([np.arange(1, pred_n + 1.0), [90.0]]),
        )
        run = {"results": {p: [res] for p in ("float", "int8", "baseline")}, "float_agreement": None}
        return evaluation.report(run, JR)

    pooled = folds.pool_folds({"a": fold(40, 38, "InHand"), "b": fold(20, 21, "Purse")})
    int8 = pooled["pipelines"]["int8"]
    # counts 39/40 and 22/20 (one false count each, in the car)
    assert int8["count_mape"] == pytest.approx((1 / 40 + 2 / 20) / 2)
    assert int8["by_group"]["Purse"]["count_mape"] == pytest.approx(0.1)
    assert int8["false_counts_per_hour"] == pytest.approx(2 * 3600 / 40)
    assert int8["event_f1"] == pytest.approx(2 * 58 / (2 * 58 + 3 + 2))  # tp 58, fp 1 + 2, fn 2


def test_a_broken_card_is_a_clear_error_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "card.json").write_text("{not json")
    (tmp_path / "model.tflite").write_bytes(b"")
    with pytest.raises(UserError, match=r"card\.json: not valid JSON .*restore its card\.json"):
        ModelDir.open(tmp_path)


# ---------------------------------------------------------------- the command, as a user runs it

REPO = Path(__file__).resolve().parents[1]


def run_evaluate(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "repcount.cli", "evaluate", *map(str, args)],
                          capture_output=True, text=True, timeout=600)  # fmt: skip


def assert_refused(proc: subprocess.CompletedProcess, pattern: str) -> None:
    """Exit 2, one clear line on stderr matching `pattern`, no traceback, nothing measured."""
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert re.search(pattern, lines[0]), lines[0]
    assert proc.stdout == ""


@pytest.fixture
def wrist(tmp_path: Path) -> Path:
    """A copy of the shipped wrist model (card and .tflite) to break."""
    out = tmp_path / "wrist"
    out.mkdir()
    for name in ("card.json", "model.tflite"):
        shutil.copy(REPO / "models" / "jumprope-wrist" / name, out / name)
    return out


@pytest.fixture
def data(tmp_path: Path) -> Path:
    out = tmp_path / "data"
    save(impacts_recording("u1", 40.0, 0.45, seed=1), out / "u1.rec")
    save(impacts_recording("u2", 40.0, 0.5, seed=2), out / "u2.rec")
    return out


def edit_card(model: Path, edit: Callable[[dict], object]) -> None:
    card = json.loads((model / "card.json").read_text())
    edit(card)
    (model / "card.json").write_text(json.dumps(card, indent=2))


def test_another_models_tflite_under_the_card_is_refused(wrist: Path, data: Path) -> None:
    shutil.copy(REPO / "models" / "steps" / "model.tflite", wrist / "model.tflite")
    proc = run_evaluate("--model", wrist, "--data", data, "--no-float")
    assert_refused(proc, r"card\.json: field model_hash: 1b008a37b6c2e4fb is not the hash of .*model\.tflite "
                         r"\(ca3c105c35787ea1\); the card belongs to another model")


@pytest.mark.parametrize("full_scale_g", [4.0, 16.0])
def test_an_edited_full_scale_is_refused(wrist: Path, data: Path, full_scale_g: float) -> None:
    """The card's input rescale was computed for 8 g and the .tflite's input scale: any other
    full scale would feed the model wrongly scaled samples (7.38 % MAPE instead of 0.00 %)."""
    edit_card(wrist, lambda c: c.update(full_scale_g=full_scale_g))
    proc = run_evaluate("--model", wrist, "--data", data, "--no-float")
    assert_refused(proc, rf"full_scale_g {full_scale_g:g} do not match .*model\.tflite .*another model")


def test_a_made_up_hash_is_refused(wrist: Path, data: Path) -> None:
    edit_card(wrist, lambda c: c.update(model_hash="deadbeef"))
    assert_refused(run_evaluate("--model", wrist, "--data", data, "--no-float"),
                   r"card\.json: field model_hash: 'deadbeef' is not 16 lowercase hex digits")  # fmt: skip
    edit_card(wrist, lambda c: c.update(model_hash="deadbeefdeadbeef"))
    assert_refused(run_evaluate("--model", wrist, "--data", data, "--no-float"),
                   r"field model_hash: deadbeefdeadbeef is not the hash of")  # fmt: skip


@pytest.mark.parametrize("field", ["model_hash", "window"])
def test_a_card_missing_a_field_is_refused_naming_it(wrist: Path, data: Path, field: str) -> None:
    edit_card(wrist, lambda c: c.pop(field))
    assert_refused(run_evaluate("--model", wrist, "--data", data, "--no-float"),
                   rf"{re.escape(str(wrist / 'card.json'))}: field {field}: missing$")  # fmt: skip


@pytest.mark.parametrize("size", [0, 100, 5000])
def test_a_truncated_or_empty_tflite_is_refused(wrist: Path, data: Path, size: int) -> None:
    tfl = wrist / "model.tflite"
    tfl.write_bytes(tfl.read_bytes()[:size])
    assert_refused(run_evaluate("--model", wrist, "--data", data, "--no-float"),
                   r"model\.tflite: not a TFLite flatbuffer")  # fmt: skip


def test_a_recording_at_another_rate_than_the_model_is_refused(wrist: Path, tmp_path: Path) -> None:
    """17.4: a 100 Hz recording under a 50 Hz model gave 96.64 % MAPE and exit 0."""
    rec = impacts_recording("u1", 40.0, 0.45, seed=1)
    rec.t = np.arange(len(rec.t)) / 100.0
    rec.meta.sample_rate_hz = 100.0
    rec.events = [Event(e.t / 2, e.kind) for e in rec.events]
    rec.segments = [Segment(s.start / 2, s.end / 2, s.activity) for s in rec.segments]
    path = save(rec, tmp_path / "fast" / "u1-100hz.rec")
    assert_refused(run_evaluate("--model", wrist, "--data", path, "--no-float"),
                   rf"{re.escape(str(path))}: recorded at 100 Hz but the model runs at 50 Hz; resample it")


def test_plot_onto_a_file_or_under_one_is_refused_first(wrist: Path, data: Path, tmp_path: Path) -> None:
    taken = tmp_path / "taken.png"
    taken.write_bytes(b"not mine to replace")
    assert_refused(run_evaluate("--model", wrist, "--data", data, "--no-float", "--plot", taken),
                   r"--plot .*taken\.png: is a file; name a directory")  # fmt: skip
    assert_refused(run_evaluate("--model", wrist, "--data", data, "--no-float", "--plot", taken / "plots"),
                   r"--plot .*taken\.png/plots: .*taken\.png is a file, not a directory")  # fmt: skip
    plots = tmp_path / "plots"
    plots.mkdir()
    assert_refused(run_evaluate("--model", wrist, "--data", data, "--no-float", "--plot", plots),
                   r"--plot .*plots: already exists; choose another name, or pass --force")  # fmt: skip
    assert taken.read_bytes() == b"not mine to replace"


def test_figures_per_person_and_the_worst_person_for_every_pipeline(wrist: Path, data: Path) -> None:
    both_ways = (data, data / "u1.rec")
    proc = run_evaluate("--model", wrist, "--data", *both_ways, "--no-float", "--baseline", "peaks", "--json")
    assert proc.returncode == 0, proc.stderr
    obj = json.loads(proc.stdout)
    assert obj["model_hash"] == "1b008a37b6c2e4fb"
    for name in ("int8", "baseline"):
        p = obj["pipelines"][name]
        assert p["recordings"] == 2  # u1.rec named twice (directly and through its folder) counts once
        assert set(p["per_user"]) == {"u1", "u2"}
        mapes = {u: s["count_mape"] for u, s in p["per_user"].items()}
        worst = max(sorted(mapes), key=lambda u: mapes[u])  # the first by name on a tie
        assert p["worst_user"]["user"] == worst and p["worst_user"]["count_mape"] == mapes[worst]
        assert p["count_mape"] == pytest.approx(sum(mapes.values()) / 2)  # one recording each
    table = run_evaluate("--model", wrist, "--data", data, "--no-float")
    assert table.returncode == 0 and "by person:" in table.stdout and "worst person: u" in table.stdout


def test_worst_user_is_the_largest_count_mape_and_none_without_one() -> None:
    per_user = {"a": {"count_mape": 0.02, "event_f1": 0.9, "false_counts_per_hour": None},
                "b": {"count_mape": 0.65, "event_f1": 0.5, "false_counts_per_hour": 3.0},
                "c": {"count_mape": None, "event_f1": 1.0, "false_counts_per_hour": 0.0}}  # fmt: skip
    assert evaluation.worst_user(per_user) == {"user": "b", "count_mape": 0.65, "event_f1": 0.5,
                                               "false_counts_per_hour": 3.0}  # fmt: skip
    assert evaluation.worst_user({"c": per_user["c"]}) is None
    tie = {u: {**per_user["a"], "count_mape": 0.1} for u in ("y", "x")}
    assert evaluation.worst_user(tie)["user"] == "x"  # a tie names the first person by name
