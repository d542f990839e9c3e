"""Choosing the counting post-processor's parameters for a trained model.

The int8 model's score stream (TFLite Micro's kernels, as on the device) is computed once
per training recording; the threshold and refractory interval the device will use are
then searched over that stream with the counter's own rule (`counting.Counter`, replayed
here from precomputed peaks so the search is fast), and the event offset is the median
lag between a labelled event and the step the counter reports. Only training users are
ever used: a parameter fitted on held-out users would make their figures flattering.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from repcount.data.recordings import Recording
from repcount.learn import counting, metrics, tasks, tflm
from repcount.learn.evaluation import inference_windows
from repcount.learn.model import Geometry, InputQuant, int8_input


@dataclass
class _Streams:
    """Per training recording: the int8 score stream, its peaks, true events and distractor steps."""

    scores: list[np.ndarray]
    peaks: list[np.ndarray]
    trues: list[np.ndarray]
    distractor: list[np.ndarray]


def _peaks(s: np.ndarray) -> np.ndarray:
    """Steps the counter could take as events (local maxima, ties resolved to the first)."""
    prev = np.concatenate([[counting.INT8_MIN], s[:-1]])
    nxt = np.concatenate([s[1:], [127]])
    idx = np.nonzero((s > prev) & (s >= nxt))[0]
    return idx[idx < len(s) - 1]  # the last step waits for a successor that never comes


def _accept(peaks: np.ndarray, scores: np.ndarray, threshold: int, refractory: int) -> np.ndarray:
    """What `counting.Counter` decides, from precomputed peaks (tests check they agree)."""
    kept, last = [], -(1 << 30)
    for p in peaks[scores[peaks] >= threshold]:
        if p - last >= refractory:
            kept.append(p)
            last = p
    return np.array(kept, dtype=np.int64)


def _times_of(rec: Recording, g: Geometry, steps: np.ndarray) -> np.ndarray:
    """The time the counter reports for each step of the stream (its centre)."""
    centres = (g.take_start + steps) * g.out_stride + g.out_stride / 2
    return np.interp(centres, np.arange(len(rec.t)), rec.t)


def _streams(
    recs: Sequence[Recording], task: tasks.Task, g: Geometry, q: InputQuant, model_bytes: bytes, base: dict
) -> _Streams:
    """The int8 model's score streams on `recs`, with what the search scores them against."""
    scores, trues, distractor = [], [], []
    for rec in recs:
        outs = tflm.run(model_bytes, inference_windows(int8_input(rec, q), g))
        s = np.fromiter(counting.stream(outs, counting.CountingParams(0, 1, **base)), dtype=np.int64)
        scores.append(s)
        trues.append(rec.events_of(task.event_kinds))
        times = _times_of(rec, g, np.arange(len(s)))
        mask = np.zeros(len(s), dtype=bool)
        for seg in rec.segments:
            if seg.activity not in task.target_activities:
                mask |= (times >= seg.start) & (times < seg.end)
        distractor.append(mask)
    return _Streams(scores, [_peaks(s) for s in scores], trues, distractor)


def _event_offset(recs: Sequence[Recording], task: tasks.Task, g: Geometry, st: _Streams) -> float:
    """Median lag between a labelled event and the step reported for it (threshold 0, refractory 2)."""
    lags = []
    for rec, s, p, t in zip(recs, st.scores, st.peaks, st.trues, strict=True):
        pred = _times_of(rec, g, _accept(p, s, 0, 2))
        pairs = metrics.match_events(t, pred, 3 * task.event_tolerance_s)
        lags += [t[i] - pred[j] for i, j in pairs]
    return float(np.median(lags)) if lags else 0.0


def _candidates(task: tasks.Task, g: Geometry, st: _Streams) -> list[tuple[float, int, int]]:
    """(cost, threshold, refractory) for every pair, best first.

    Cost: (|count error| + false counts in distractor segments) / true events. Equal cost:
    prefer the threshold nearest 0 (p = 0.5), the widest margin on both sides, rather
    than the lowest one, which unseen users' weaker double peaks would cross.
    """
    n_true = max(sum(len(t) for t in st.trues), 1)
    max_ref = max(1, int(0.25 * task.sample_rate_hz / g.out_stride))
    candidates = []
    for thr in range(-96, 125, 4):
        for ref in range(1, max_ref + 1):
            err = false = 0
            for s, p, t, m in zip(st.scores, st.peaks, st.trues, st.distractor, strict=True):
                acc = _accept(p, s, thr, ref)
                err += abs(len(acc) - len(t))
                false += int(m[acc].sum()) if len(acc) else 0
            candidates.append(((err + false) / n_true, thr, ref))
    candidates.sort(key=lambda c: (c[0], abs(c[1]), c[2]))
    return candidates


def choose_counting(
    recs: Sequence[Recording], task: tasks.Task, g: Geometry, q: InputQuant, model_bytes: bytes
) -> dict:
    """Threshold, refractory and event offset fitted on the (training) recordings' int8 scores.

    The offset is the median lag between an event and the step the counter reports; the
    threshold and refractory minimise count error plus false counts, and the best eight
    are compared by event F1 (F1 minus cost decides).
    """
    base = dict(take_start=g.take_start, take_count=g.take_count, out_stride=g.out_stride)
    st = _streams(recs, task, g, q, model_bytes, base)
    offset = _event_offset(recs, task, g, st)
    best = None
    for cost, thr, ref in _candidates(task, g, st)[:8]:
        tp = fp = fn = 0
        for rec, s, p, t in zip(recs, st.scores, st.peaks, st.trues, strict=True):
            sc = metrics.event_scores(
                t, _times_of(rec, g, _accept(p, s, thr, ref)) + offset, task.event_tolerance_s
            )
            tp, fp, fn = tp + int(sc["tp"]), fp + int(sc["fp"]), fn + int(sc["fn"])
        f1 = float(metrics.prf(tp, fp, fn)["event_f1"])
        key = (f1 - cost, thr, ref)
        if best is None or key[0] > best[0]:
            best = key
    assert best is not None
    return {
        "threshold": best[1],
        "refractory": best[2],
        **base,
        "event_offset_s": round(offset, 4),
        "train_objective": round(best[0], 5),
    }
