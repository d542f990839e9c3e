"""Event placement (learn/placement.py): the exact optimum, exactly N, the counter's spacing,
clear errors, the confidence report, and the cold start on a simulated jump-rope session."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from repcount.data.recordings import Count, Event, Meta, Recording
from repcount.data.simulation import simulate_user
from repcount.errors import UserError
from repcount.learn import counting, metrics, placement, tasks


def brute_force(scores: np.ndarray, n: int, gap: int) -> int | None:
    """The best sum over every choice of n indices at least `gap` apart (None: none fits)."""
    sums = [
        int(scores[list(c)].sum())
        for c in itertools.combinations(range(len(scores)), n)
        if all(b - a >= gap for a, b in itertools.pairwise(c))
    ]
    return max(sums) if sums else None


def assert_valid(idx: np.ndarray, length: int, n: int, gap: int) -> None:
    assert len(idx) == n
    assert np.all(np.diff(idx) >= gap)
    assert np.all((idx >= 0) & (idx < length))


@pytest.mark.parametrize("low, high", [(-128, 128), (-2, 3)])  # wide scores, then many ties
def test_placement_is_the_brute_force_optimum(low: int, high: int) -> None:
    rng = np.random.default_rng(high)
    for _ in range(600):
        length, gap = int(rng.integers(1, 13)), int(rng.integers(1, 5))
        n = int(rng.integers(0, placement.capacity(length, gap) + 1))
        scores = rng.integers(low, high, length).astype(np.int8)
        idx = placement.place(scores, n, gap)
        assert_valid(idx, length, n, gap)
        assert int(scores[idx].astype(np.int64).sum()) == (brute_force(scores, n, gap) if n else 0)


def test_refractory_edges_and_the_tight_fit() -> None:
    scores = np.array([9, 9, 0, 0, 9, 9, 0], dtype=np.int8)
    assert placement.place(scores, 2, 3).tolist() == [0, 4]  # 4 - 0 >= 3: allowed, as the counter
    assert placement.place(scores, 2, 5).tolist() == [0, 5]
    # exactly as many as fit: the only placement is every gap-th step, whatever the scores
    assert placement.place(scores, 3, 3).tolist() == [0, 3, 6]
    assert placement.place(np.array([1], dtype=np.int8), 1, 4).tolist() == [0]
    # greedy would take the 10 and lose both 6s; the optimum takes the two 6s
    assert placement.place(np.array([6, 10, 6], dtype=np.int8), 2, 2).tolist() == [0, 2]


def test_placement_always_places_exactly_n_even_where_scores_say_nothing() -> None:
    scores = np.full(50, -128, dtype=np.int8)
    scores[[10, 30]] = 100
    idx = placement.place(scores, 5, 4)
    assert_valid(idx, 50, 5, 4)
    assert {10, 30} <= set(idx.tolist())


def test_long_streams_are_exact_against_a_slow_reference() -> None:
    rng = np.random.default_rng(3)
    scores = rng.integers(-128, 128, 400).astype(np.int8)
    n, gap = 60, 3
    # the same recurrence with every row kept: the checkpointed backtrack must agree
    width = len(scores) - (n - 1) * gap
    row = np.zeros(width, dtype=np.int64)
    for k in range(n):
        row = np.maximum.accumulate(row + scores[k * gap : k * gap + width])
    idx = placement.place(scores, n, gap)
    assert_valid(idx, len(scores), n, gap)
    assert int(scores[idx].astype(np.int64).sum()) == int(row[-1])


def test_infeasible_counts_are_a_user_error() -> None:
    with pytest.raises(UserError, match="at most 4 fit"):
        placement.place(np.zeros(10, dtype=np.int8), 5, 3)
    with pytest.raises(ValueError):
        placement.place(np.zeros(10, dtype=np.float32), 1, 3)
    assert placement.place(np.zeros(0, dtype=np.int8), 0, 3).tolist() == []


def test_min_gap_is_the_counters_never_adjacent() -> None:
    assert placement.min_gap(1) == 2
    assert placement.min_gap(3) == 3
    # the counter itself cannot report two adjacent steps, whatever its refractory
    counter = counting.Counter(threshold=0, refractory=1)
    events = [counter.push(s) for s in [0, 50, 50, 50, 0, 0]]
    assert [e for e in events if e is not None] == [1]


def _stream(scores: list[int], threshold: int = 0, own: list[float] | None = None) -> placement.ScoreStream:
    s = np.array(scores, dtype=np.int64)
    return placement.ScoreStream(s, np.arange(len(s)) * 0.1, threshold, 2, np.array(own or []), "test")


def _rec(counts: list[Count], events: list[Event] | None = None) -> Recording:
    t = np.arange(100) * 0.02
    return Recording(Meta(50, 8, "wrist", "u"), t, np.zeros((100, 3)), events=events or [], counts=counts,
                     path=Path("x.rec"))


def test_confidence_report_and_flags() -> None:
    stream = _stream([-128, 90, -128, -128, 80, -99, -128, -40, -128, -128, 70, -128], 10, [0.1, 0.4, 1.0])
    rec = _rec([])
    got = placement.place_count(rec, stream, Count(0.0, 1.2, "jump", 4))
    assert np.allclose(got.times, [0.1, 0.4, 0.7, 1.0])
    assert got.own_count == 3
    assert got.weakest_margin == -40 - 10
    assert got.flagged  # 3 vs 4: 25 % off
    assert not placement.place_count(rec, stream, Count(0.0, 1.2, "jump", 4), flag_share=0.3).flagged
    assert not placement.place_count(rec, stream, Count(0.0, 1.2, "jump", 3)).flagged
    zero = placement.place_count(rec, stream, Count(0.0, 0.3, "jump", 0))
    assert (len(zero.times), zero.weakest_margin, zero.flagged) == (0, None, True)  # own 1 event, N = 0
    with pytest.raises(UserError, match=r"x.rec: @count,0.0,0.3,jump,3: 3 events do not fit"):
        placement.place_count(rec, stream, Count(0.0, 0.3, "jump", 3))


def test_placed_recording_is_new_marked_and_keeps_timed_counts() -> None:
    timed = Count(0.0, 0.5, "jump", 1)
    untimed = Count(0.5, 1.2, "jump", 2)
    rec = _rec([timed, untimed], [Event(0.2, "jump")])
    assert placement.counts_to_place(rec) == [untimed]
    got = placement.place_count(rec, _stream([0, 0, 0, 0, 0, 0, 50, 0, 50, 0, 0, 0]), untimed)
    out = placement.with_placed_events(rec, [got])
    assert [e.t for e in out.events] == pytest.approx([0.2, 0.6, 0.8])
    assert out.meta.extra["events_placed_by"] == "test"
    assert out.meta.extra["placed_kinds"] == "jump"
    assert out.counts == rec.counts and out.path is None
    assert len(rec.events) == 1 and "events_placed_by" not in rec.meta.extra  # the input is unchanged


def test_model_stream_reports_steps_as_evaluate_does() -> None:
    rec = _rec([])
    params = counting.CountingParams(threshold=0, refractory=1, take_start=2, take_count=2, out_stride=4)
    outs = np.full((3, 6), -128, dtype=np.int8)
    outs[1, 3] = 100  # stream step 3
    stream = placement.model_stream(rec, outs, params, 0.01, "m")
    assert stream.scores.tolist() == [-128, -128, -128, 100, -128, -128]
    assert stream.times[3] == pytest.approx(((2 + 3) * 4 + 2) * 0.02 + 0.01)
    assert stream.own_times.tolist() == [stream.times[3]]


def test_cold_start_places_exactly_n_on_a_simulated_session() -> None:
    task = tasks.get("jump-rope")
    rec = simulate_user("jump-rope", "wrist", 2, 2.0, seed=1)
    truth = rec.events_of(task.event_kinds)
    stream = placement.cold_stream(rec, task)
    placed = []
    for seg in rec.segments_of(task.target_activities):
        n = int(np.count_nonzero((truth >= seg.start) & (truth < seg.end)))
        got = placement.place_count(rec, stream, Count(seg.start, seg.end, "jump", n))
        assert len(got.times) == n
        placed += list(got.times)
    assert len(placed) == len(truth) > 100
    matched = metrics.event_scores(truth, np.sort(placed), 0.1)["tp"]
    assert matched / len(truth) >= 0.9


def test_cold_start_needs_a_task_for_the_kind() -> None:
    assert placement.task_for_kind("step").name == "steps"
    assert placement.task_for_kind("double-under").name == "jump-rope"
    with pytest.raises(UserError, match="no counting task counts events of kind 'burpee'"):
        placement.task_for_kind("burpee")


def test_counted_only_hides_the_times_and_keeps_the_number() -> None:
    rec = simulate_user("jump-rope", "wrist", 7, 1.0, seed=3)
    task = tasks.get("jump-rope")
    counted = placement.counted_only(rec, task)
    bouts = rec.segments_of(task.target_activities)
    assert [(c.start, c.end, c.kind) for c in counted.counts] == [(s.start, s.end, "jump") for s in bouts]
    assert sum(c.n for c in counted.counts) == len(rec.events_of(task.event_kinds)) > 0
    assert not len(counted.events_of(task.event_kinds))
    assert [e for e in counted.events] == [e for e in rec.events if e.kind not in task.event_kinds]
