"""evaluate's bookkeeping (without TensorFlow): events to times, false counts, pooling, groups,
and the classic peak-detection baseline. The model-driven path is in test_training.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from counting_data import impacts_recording
from repcount.data.recordings import Event, Meta, Recording, Segment
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
    from repcount.learn import training

    def fold(true_n: int, pred_n: int, placement: str) -> dict:
        res = evaluation.result_for(
            rec_with(list(np.arange(1, true_n + 1.0)), [Segment(80, 100, "car")], placement=placement),
            JR,
            np.concatenate([np.arange(1, pred_n + 1.0), [90.0]]),
        )
        run = {"results": {p: [res] for p in ("float", "int8", "baseline")}, "float_agreement": None}
        return evaluation.report(run, JR)

    pooled = training._pool_folds({"a": fold(40, 38, "InHand"), "b": fold(20, 21, "Purse")})
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
