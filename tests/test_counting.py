"""The counting post-processor (repcount/counting.py) and the training's fast copy of it."""

from __future__ import annotations

import numpy as np
import pytest
from repcount.learn import counting, thresholds

P = counting.CountingParams(threshold=0, refractory=2, take_start=2, take_count=3, out_stride=4)


def test_stream_takes_the_slice_that_tiles_time() -> None:
    outs = [[-128, -128, 1, 2, 3, -128], [-128, -128, 4, 5, 6, -128]]
    assert list(counting.stream(outs, P)) == [1, 2, 3, 4, 5, 6]


def test_plateau_gives_one_event_at_its_first_step() -> None:
    outs = [[-128, -128, -100, 50, 50], [-128, -128, 50, -100, -100]]
    # stream: -100, 50, 50, 50, -100, -100 -> one event at step 1
    assert counting.count_events(outs, P) == [1]


def test_threshold_and_refractory() -> None:
    params = counting.CountingParams(threshold=10, refractory=3, take_start=0, take_count=8, out_stride=4)
    outs = [[20, -50, 30, -50, -50, 40, -50, 5]]
    # peaks at 0 (20), 2 (30: only 2 steps later, refused), 5 (40); 7 (5) is below threshold
    assert counting.count_events(outs, params) == [0, 5]


def test_the_last_step_waits_for_its_successor() -> None:
    params = counting.CountingParams(threshold=0, refractory=1, take_start=0, take_count=3, out_stride=4)
    assert counting.count_events([[-50, -50, 100]], params) == []
    assert counting.count_events([[-50, -50, 100], [-50, -50, -50]], params) == [2]


def test_step_to_sample_is_the_centre_of_the_slice() -> None:
    assert counting.step_to_sample(0, P) == pytest.approx(2 * 4 + 2)
    assert counting.step_to_sample(5, P) == pytest.approx(7 * 4 + 2)


@pytest.mark.parametrize("seed", range(5))
def test_training_fast_path_equals_the_reference_counter(seed: int) -> None:
    """choose_counting searches thresholds with precomputed peaks: it must decide as Counter does."""
    rng = np.random.default_rng(seed)
    s = np.clip(np.round(np.cumsum(rng.normal(0, 30, 2000))) % 256 - 128, -128, 127).astype(np.int64)
    s[rng.integers(0, len(s), 300)] = 127  # plateaus and ties
    for threshold in (-128, -20, 0, 60, 127):
        for refractory in (1, 2, 5):
            c = counting.Counter(threshold, refractory)
            reference = [g for g in (c.push(int(v)) for v in s) if g is not None]
            fast = thresholds._accept(thresholds._peaks(s), s, threshold, refractory)
            assert fast.tolist() == reference
