"""Placing exactly N events where a count label says N happened, times unknown.

A person can always say "that set was 87 jumps" (`@count,START,END,KIND,N`); nobody can
time 87 jumps by hand. This module turns such a count into 87 timed `@event` labels that
training can use: the placement of exactly N events that maximises the summed score of a
score stream, with consecutive events at least a refractory interval apart.

Why exact, not greedy: greedily taking the highest scores and suppressing their
neighbours can spend an event on the shoulder of a strong peak and then have no room for
a weak jump between two strong ones; the dynamic programme below finds the true optimum
of the sum under the spacing constraint, so the only thing that decides where an event
goes is the score stream, never the order of a search.

The score streams, both in integers as the device computes them:
- a model's: the int8 stream the counting post-processor consumes (learn/counting.py),
  one score per `out_stride` samples, each mapped to the time `evaluate` reports for an
  event on that step (its slice's centre plus the card's `event_offset_s`);
- the cold start's, which needs no model: the classic peak detector's decision variable
  (learn/baseline.py) on every sample, scaled so that its own threshold is `COLD_UNIT`.

The spacing is the counter's: an event at least `refractory` steps after the previous
one (`Counter.push` tests `candidate - last_event >= refractory`), and never on two
adjacent steps, which the counter cannot report either (an event must be strictly above
the step before it): `min_gap` gives max(refractory, 2). The cold start keeps the
baseline's minimum interval between peaks.

How sure a placement is, per count: the stream's own unconstrained count over the span
(the model's counter, or the peak detector) against N, and the margin of the weakest
placed event (its score minus the stream's threshold; negative: the stream would not
have counted it). A span is flagged when the own count and N differ by more than
`flag_share` of N (default 10 %): a person looks at those first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from repcount.data.recordings import Count, Event, Recording
from repcount.errors import UserError
from repcount.learn import baseline, counting, tasks
from repcount.learn.model import sample_time

if TYPE_CHECKING:
    from repcount.learn.evaluation import Pipelines

FLAG_SHARE = 0.10  # a span is flagged when |own count - N| / N exceeds this
COLD_UNIT = 32  # the cold start's score at the peak detector's threshold
COLD_SOURCE = "cold-start"


def capacity(length: int, refractory: int) -> int:
    """The most events that fit in `length` steps at least `refractory` steps apart."""
    return 0 if length <= 0 else (length - 1) // refractory + 1


def place(scores: np.ndarray, n: int, refractory: int) -> np.ndarray:
    """Exactly `n` step indices, at least `refractory` apart, with the largest summed score.

    Dynamic programming over the score stream. Event k (0-based) can only sit in the band
    [k * r, k * r + W) with W = len - (n - 1) * r, and with offsets into that band the
    recurrence needs no shifting: F_k[j] = max over j' <= j of F_{k-1}[j'] + s[k*r + j'],
    a running maximum (`np.maximum.accumulate`), so each event costs one vector pass over
    W. Backtracking needs every row; rows are checkpointed every ~sqrt(n) events and
    recomputed block by block, so memory is O(sqrt(n) * W) for twice the arithmetic
    (a 10-minute recording at 12.5 steps/s with n = 1500 runs in well under a second).
    Ties go to the earliest index.
    """
    s = np.asarray(scores)
    if s.ndim != 1 or not (len(s) == 0 or np.issubdtype(s.dtype, np.integer)):
        raise ValueError("scores must be a 1-D array of integers")
    if refractory < 1 or n < 0:
        raise ValueError(f"need refractory >= 1 and n >= 0, got {refractory} and {n}")
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    fit = capacity(len(s), refractory)
    if n > fit:
        raise UserError(
            f"cannot place {n} events in {len(s)} steps at least {refractory} apart: at most {fit} fit"
        )
    s = s.astype(np.int64)
    r, width = refractory, len(s) - (n - 1) * refractory
    block = max(1, math.isqrt(n))
    checkpoints: dict[int, np.ndarray] = {}
    row = np.zeros(width, dtype=np.int64)  # F_{-1}: no event yet, nothing scored
    for k in range(n):
        if k % block == 0:
            checkpoints[k] = row
        row = np.maximum.accumulate(row + s[k * r : k * r + width])
    out = np.empty(n, dtype=np.int64)
    limit = width - 1
    for first in reversed(range(0, n, block)):
        rows = [checkpoints.pop(first)]
        for k in range(first, min(first + block, n) - 1):
            rows.append(np.maximum.accumulate(rows[-1] + s[k * r : k * r + width]))
        for k in reversed(range(first, min(first + block, n))):
            g = rows[k - first][: limit + 1] + s[k * r : k * r + limit + 1]
            limit = int(np.argmax(g))
            out[k] = k * r + limit
    return out


def min_gap(refractory: int) -> int:
    """The spacing the device's counter enforces: its refractory, and never adjacent steps."""
    return max(int(refractory), 2)


@dataclass(frozen=True)
class ScoreStream:
    """Integer scores on a time grid, with the counter that reads them unconstrained.

    `times[i]` is the event time a placement on step i reports; `own_times` are the
    events the stream's own counter finds (the model's post-processor or the peak
    detector), for the confidence report.
    """

    scores: np.ndarray
    times: np.ndarray
    threshold: int
    gap: int
    own_times: np.ndarray
    source: str


def model_stream(
    rec: Recording, outputs: np.ndarray, params: counting.CountingParams, offset_s: float, source: str
) -> ScoreStream:
    """A model's stream from its per-inference int8 outputs on `rec` (as `evaluate` runs it).

    Step g is reported at the centre of its slice plus `offset_s`, exactly as
    `evaluation.event_times` reports the counter's events, so placed and counted events
    of the same step have the same time.
    """
    scores = np.fromiter(counting.stream(outputs, params), dtype=np.int64)
    centres = np.array([counting.step_to_sample(g, params) for g in range(len(scores))], dtype=np.float64)
    times = sample_time(rec, centres) + offset_s if len(scores) else np.zeros(0)
    own = np.array(counting.count_events(outputs, params), dtype=np.int64)
    return ScoreStream(scores, times, params.threshold, min_gap(params.refractory), times[own], source)


def cold_stream(rec: Recording, task: tasks.Task) -> ScoreStream:
    """The stream that needs no model: the peak detector's decision variable on every sample.

    The baseline counts a peak where the smoothed magnitude x is at least `floor_g` and at
    least `relative` local standard deviations above the local mean; the score is
    COLD_UNIT * min(x / floor_g, z / relative) (z: x above the local mean, in local standard
    deviations), so it reaches COLD_UNIT exactly where both of the detector's conditions
    hold; clipped to int8.
    """
    p = baseline.params_for(task)
    x, mean, std = baseline.detection_function(rec, p)
    z = (x - mean) / np.maximum(std, 1e-9)
    decision = np.minimum(x / p.floor_g, z / p.relative)
    scores = np.clip(np.round(COLD_UNIT * decision), -128, 127).astype(np.int64)
    gap = max(1, round(p.min_interval_s * rec.meta.sample_rate_hz))
    return ScoreStream(scores, rec.t + p.offset_s, COLD_UNIT, gap, baseline.detect(rec, task, p), COLD_SOURCE)


def task_for_kind(kind: str) -> tasks.Task:
    """The counting task whose events include `kind` (the cold start needs one per count)."""
    for task in tasks.TASKS.values():
        if kind in task.event_kinds:
            return task
    known = sorted(k for t in tasks.TASKS.values() for k in t.event_kinds)
    raise UserError(f"no counting task counts events of kind {kind!r}; known kinds: {', '.join(known)}")


@dataclass(frozen=True)
class SegmentPlacement:
    """One count label's placed events and how sure the placement is."""

    count: Count
    times: np.ndarray
    own_count: int
    weakest_margin: int | None  # lowest placed score minus the threshold; None when N = 0
    flagged: bool
    source: str

    def as_dict(self) -> dict:
        c = self.count
        return {
            "start": c.start,
            "end": c.end,
            "kind": c.kind,
            "n": c.n,
            "own_count": self.own_count,
            "weakest_margin": self.weakest_margin,
            "flagged": self.flagged,
            "source": self.source,
            "placed": [round(float(t), 4) for t in self.times],
        }


def disagrees(own: int, n: int, share: float) -> bool:
    """Whether the own count is off N by more than `share` of N (any own event when N is 0)."""
    return own > 0 if n == 0 else abs(own - n) / n > share


def place_count(
    rec: Recording, stream: ScoreStream, count: Count, flag_share: float = FLAG_SHARE
) -> SegmentPlacement:
    """Exactly `count.n` events on the steps whose event times lie in [start, end)."""
    inside = np.flatnonzero((stream.times >= count.start) & (stream.times < count.end))
    where = f"{rec.path or rec.name}: @count,{count.start},{count.end},{count.kind},{count.n}"
    fit = capacity(len(inside), stream.gap)
    if count.n > fit:
        raise UserError(
            f"{where}: {count.n} events do not fit in {count.end - count.start:.2f} s at the "
            f"{stream.source} spacing (at most {fit}, {stream.gap} steps apart); check N and the span"
        )
    steps = inside[place(stream.scores[inside], count.n, stream.gap)]
    own = int(np.count_nonzero((stream.own_times >= count.start) & (stream.own_times < count.end)))
    margin = int(stream.scores[steps].min()) - stream.threshold if len(steps) else None
    return SegmentPlacement(
        count, stream.times[steps], own, margin, disagrees(own, count.n, flag_share), stream.source
    )


def counted_only(rec: Recording, task: tasks.Task,
                 spans: list[tuple[float, float]] | None = None) -> Recording:
    """`rec` as a person who only counted would label it: in each span (default: the task's
    target segments) its timed events of the task become one @count of the task's first kind.

    The inverse of placement, with the truth held back: what the tests, the measurements in
    tools/ and anyone checking `repcount label` on timed data need to make count-only data.
    """
    kinds = set(task.event_kinds)
    if spans is None:
        spans = [(s.start, s.end) for s in rec.segments_of(task.target_activities)]
    timed = np.array([e.t for e in rec.events if e.kind in kinds])
    counts = [Count(a, b, task.event_kinds[0], int(np.count_nonzero((timed >= a) & (timed < b))))
              for a, b in spans]
    return replace(rec, events=[e for e in rec.events if e.kind not in kinds], counts=counts)


def counts_to_place(rec: Recording) -> list[Count]:
    """The count labels whose span holds no timed event of their kind yet (those are kept)."""
    return [
        c
        for c in rec.counts
        if not any(e.kind == c.kind and c.start <= e.t < c.end for e in rec.events)
    ]


def with_placed_events(rec: Recording, placements: list[SegmentPlacement]) -> Recording:
    """A new recording: `rec` plus the placed events, its metadata naming how they were placed.

    `events_placed_by` names the stream (a model's name and hash, or the cold start) and
    `placed_kinds` the kinds placed, so training and a reviewer can tell placed events
    from timed ones. The count labels stay: they are still true.
    """
    events = list(rec.events) + [Event(round(float(t), 4), p.count.kind) for p in placements for t in p.times]
    extra = dict(rec.meta.extra)
    if placements:
        extra["events_placed_by"] = " | ".join(sorted({p.source for p in placements}))
        extra["placed_kinds"] = ",".join(sorted({p.count.kind for p in placements}))
    meta = replace(rec.meta, extra=extra)
    return replace(rec, meta=meta, events=sorted(events, key=lambda e: e.t), path=None)


@dataclass(frozen=True)
class Labelled:
    """A recording with its placed events, each count's report, and the streams used."""

    recording: Recording
    placements: list[SegmentPlacement]
    streams: list[ScoreStream]


def model_source(pipes: Pipelines) -> str:
    """How a model's placements are marked: its name and hash (the firmware reports the same)."""
    return f"model {pipes.card.name} {pipes.card.model_hash}"


def label_recording(rec: Recording, pipes: Pipelines | None, flag_share: float = FLAG_SHARE) -> Labelled:
    """Place every untimed count of `rec` with the model (int8, TFLM runtime) or the cold start.

    The recording must be at the model's rate (`ModelDir.check_recording`). The model is
    run once over the whole recording, as the device would see it, and each count's span
    is cut from that stream. The cold start builds one stream per task the counts' kinds
    belong to.
    """
    counts = counts_to_place(rec)
    if not counts:
        return Labelled(rec, [], [])
    where = rec.path or rec.name
    if pipes is None:
        streams = {t.name: cold_stream(rec, t) for t in {task_for_kind(c.kind) for c in counts}}
        chosen = [streams[task_for_kind(c.kind).name] for c in counts]
    else:
        wrong = sorted({c.kind for c in counts} - set(pipes.task.event_kinds))
        if wrong:
            raise UserError(
                f"{where}: counts of {', '.join(wrong)}, but model {pipes.card.name} counts "
                f"{', '.join(pipes.task.event_kinds)}; use a model of that task, or the cold start"
            )
        outputs = pipes.int8_outputs(rec)
        stream = model_stream(rec, outputs, pipes.params, pipes.offset_s, model_source(pipes))
        streams, chosen = {"model": stream}, [stream] * len(counts)
    placements = [place_count(rec, st, c, flag_share) for st, c in zip(chosen, counts, strict=True)]
    return Labelled(with_placed_events(rec, placements), placements, list(streams.values()))
