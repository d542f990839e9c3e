"""The one implementation of count MAPE, event F1, false counts per hour and float agreement."""

from __future__ import annotations

import numpy as np
import pytest
from repcount.learn import metrics


def test_greedy_matching_prefers_the_closest_pair_not_the_earliest() -> None:
    # the prediction at 1.06 is 0.06 s from the first true event and 0.04 s from the second:
    # matching in time order would pair it with the first; greedy by distance pairs the second
    assert metrics.match_events([1.0, 1.1], [1.06], 0.1) == [(1, 0)]


def test_matching_is_one_to_one_within_tolerance() -> None:
    pairs = metrics.match_events([1.0, 2.0], [0.99, 1.01, 2.2], 0.1)
    assert pairs == [(0, 0)]  # 1.01 finds no second partner; 2.2 is 0.2 s away
    s = metrics.event_scores([1.0, 2.0], [0.99, 1.01, 2.2], 0.1)
    assert (s["tp"], s["fp"], s["fn"]) == (1, 2, 1)
    assert s["event_f1"] == pytest.approx(2 * (1 / 3) * 0.5 / (1 / 3 + 0.5))


def test_matching_handles_unsorted_predictions() -> None:
    assert metrics.match_events([1.0, 2.0, 3.0], [3.01, 1.02, 1.98], 0.05) == [(0, 1), (1, 2), (2, 0)]


def test_f1_of_nothing_predicted_and_nothing_true() -> None:
    assert metrics.event_scores([], [], 0.1)["event_f1"] == 1.0
    assert metrics.event_scores([1.0], [], 0.1)["event_f1"] == 0.0


def test_count_mape_skips_recordings_with_fewer_than_20_true_events() -> None:
    counts = [(102, 100), (45, 50), (3, 1)]  # 2 %, 10 %, and a short one left out
    assert metrics.count_mape(counts) == pytest.approx(0.06)
    assert metrics.count_mape([(3, 1)]) is None
    assert metrics.count_error(90, 100) == pytest.approx(-0.1)
    assert metrics.count_error(3, 0) is None


def test_false_counts_per_hour() -> None:
    assert metrics.false_counts_per_hour(5, 1800.0) == pytest.approx(10.0)
    assert metrics.false_counts_per_hour(5, 0.0) is None


def test_float_agreement_of_identical_and_offset_outputs() -> None:
    r = np.array([0.1, 0.5, 0.9, 0.3])
    same = metrics.float_agreement(r, r)
    assert same["float_mae"] == 0 and same["float_max_abs"] == 0 and same["float_l2r"] == 0
    assert same["float_cosine"] == pytest.approx(1.0)
    off = metrics.float_agreement(r, r + 0.01)
    assert off["float_mae"] == pytest.approx(0.01)
    assert off["float_rmse"] == pytest.approx(0.01)
    assert off["float_l2r"] == pytest.approx(0.02 / np.linalg.norm(r))
    with pytest.raises(ValueError, match="differ in size"):
        metrics.float_agreement(r, r[:2])
