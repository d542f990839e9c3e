"""The project's one implementation of its accuracy metrics (docs/architecture.md, "Metrics").

`evaluate`, `hil` and `bench` all call these functions, so a figure named `count_mape`
or `event_f1` means the same thing wherever it is printed. Ratios are fractions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

MIN_TRUE_EVENTS = 20  # recordings with fewer true events do not enter count MAPE
SECONDS_PER_HOUR = 3600.0


def count_error(predicted: int, true: int) -> float | None:
    """(predicted - true) / true; None when there is nothing to count (true == 0)."""
    return None if true == 0 else (predicted - true) / true


def count_mape(counts: Iterable[tuple[int, int]], min_true: int = MIN_TRUE_EVENTS) -> float | None:
    """Mean |count error| over (predicted, true) pairs with at least `min_true` true events.

    None when no recording qualifies: a short recording's error is dominated by one event
    and would make the mean meaningless, hence the minimum.
    """
    errors = [abs(p - t) / t for p, t in counts if t >= min_true]
    return float(np.mean(errors)) if errors else None


def match_events(true_t: Sequence[float], pred_t: Sequence[float], tolerance: float) -> list[tuple[int, int]]:
    """Pairs (i_true, j_pred) matched one-to-one, greedily by distance, within `tolerance`.

    Greedy by distance (closest pair first) rather than in time order, so one early
    prediction cannot steal the true event that a closer prediction belongs to.
    """
    true_a = np.asarray(true_t, dtype=np.float64)
    pred_a = np.asarray(pred_t, dtype=np.float64)
    order = np.argsort(pred_a, kind="stable")
    pred_sorted = pred_a[order]
    candidates: list[tuple[float, int, int]] = []
    for i, t in enumerate(true_a):
        lo = np.searchsorted(pred_sorted, t - tolerance, side="left")
        hi = np.searchsorted(pred_sorted, t + tolerance, side="right")
        for k in range(lo, hi):
            candidates.append((abs(float(pred_sorted[k]) - float(t)), i, int(order[k])))
    candidates.sort()
    used_true: set[int] = set()
    used_pred: set[int] = set()
    pairs = []
    for _, i, j in candidates:
        if i not in used_true and j not in used_pred:
            used_true.add(i)
            used_pred.add(j)
            pairs.append((i, j))
    return sorted(pairs)


def event_scores(
    true_t: Sequence[float], pred_t: Sequence[float], tolerance: float
) -> dict[str, float | int]:
    """Precision, recall and event F1 at `tolerance` seconds, with the raw tallies."""
    tp = len(match_events(true_t, pred_t, tolerance))
    return prf(tp, len(pred_t) - tp, len(true_t) - tp)


def prf(tp: int, fp: int, fn: int) -> dict[str, float | int]:
    """Precision, recall, F1 from tallies (summed over recordings for a pooled F1)."""
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "event_precision": precision,
        "event_recall": recall,
        "event_f1": f1,
        "tp": tp,
        "fp": fp,
        "fn": fn,
    }


def false_counts_per_hour(false_counts: int, seconds: float) -> float | None:
    """Events counted during non-target segments per hour of those segments."""
    return None if seconds <= 0 else false_counts * SECONDS_PER_HOUR / seconds


def float_agreement(reference: np.ndarray, other: np.ndarray) -> dict[str, float]:
    """STM32Cube.AI-style agreement of `other` (e.g. dequantised int8) with `reference` (float).

    MAE, RMSE, max abs error, L2 relative error ||o - r|| / ||r|| and cosine similarity,
    over all output values.
    """
    r = np.asarray(reference, dtype=np.float64).ravel()
    o = np.asarray(other, dtype=np.float64).ravel()
    if r.shape != o.shape:
        raise ValueError(f"outputs differ in size: {r.size} vs {o.size}")
    d = o - r
    norm_r, norm_o = float(np.linalg.norm(r)), float(np.linalg.norm(o))
    return {
        "float_mae": float(np.mean(np.abs(d))) if d.size else 0.0,
        "float_rmse": float(np.sqrt(np.mean(d * d))) if d.size else 0.0,
        "float_max_abs": float(np.max(np.abs(d))) if d.size else 0.0,
        "float_l2r": float(np.linalg.norm(d) / norm_r) if norm_r else float(np.linalg.norm(d)),
        "float_cosine": float(r @ o / (norm_r * norm_o)) if norm_r and norm_o else float(norm_r == norm_o),
    }
