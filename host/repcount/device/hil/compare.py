"""The three comparisons of a HIL run and their verdicts.

a. bit-exact: the device's int8 outputs against the tflite_micro runtime (TFLM's own
   kernels) on the same int8 inputs, and its events against the Python counting reference;
   a difference is named (recording, inference, output index, both values). A run that
   compared no output is no pass either.
b. float: dequantised device outputs against the float (QAT) model (MAE, RMSE, max abs,
   L2 relative error, cosine: STM32Cube.AI's validation metrics) and the count difference
   between the int8 and the float pipelines; passes within int8 rounding.
Both compare the counted slice of each inference's outputs (`take_start` ..
`take_start + take_count`), the only scores the device counts from, for every engine: a
streaming native engine computes that slice alone and writes the output zero point
elsewhere. Output indices in a report are those of the whole output vector.
c. labels: per-recording count error, count MAPE, event F1 and false counts per hour
   (repcount.learn.metrics) against the model card's held-out int8 figures plus `Margins`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from repcount.device.hil.session import RecordingRun
from repcount.device.hil.target import Target
from repcount.learn import counting, metrics
from repcount.learn.card import ModelCard
from repcount.learn.evaluation import Result, summarize
from repcount.learn.model import dequantize

# Float agreement a device passes: the int8 pipeline may differ from the float one by a few
# output steps where the sigmoid is steep, not systematically.
FLOAT_MAX_MAE_STEPS = 2.0
FLOAT_MIN_COSINE = 0.98
FLOAT_MAX_COUNT_DIFFERENCE = 0.05  # |int8 - float| events, as a fraction of the float count
FLOAT_FIGURES = ("float_mae", "float_rmse", "float_max_abs", "float_l2r", "float_cosine")


@dataclass(frozen=True)
class Margins:
    """How much worse than its card's held-out figures the device may count and still pass.

    The defaults are the HIL suite's margins (hil_tests/conftest.py). On the card's own
    held-out recordings a device bit-exact with TFLite Micro counts exactly as the card
    says; on a few minutes of other held-out signal the figures scatter a little (the
    suite's simulated jump-rope users: count MAPE within 0.2 points, F1 within 0.001).
    Three points of MAPE or F1 is several miscounted events per recording more than the
    card: a regression (a wrong axis remap, full scale or resampler, a counting parameter
    out of step), not scatter."""

    count_mape: float = 0.03  # absolute: card 0.05 allows up to 0.08
    event_f1: float = 0.03  # absolute: card 0.95 allows down to 0.92
    false_counts_per_hour: float = 60.0  # one false count in 2 minutes of distractors passes, two fail


def counted_slice(params: counting.CountingParams) -> slice:
    """The output positions the device counts from (those a streaming engine computes)."""
    return slice(params.take_start, params.take_start + params.take_count)


def compare_bitexact(runs: Sequence[RecordingRun], params: counting.CountingParams) -> dict[str, Any]:
    """(a) Device int8 outputs vs the TFLM runtime on the counted slice, and device events
    vs the Python counter."""
    mismatches = compared = event_mismatches = 0
    first: dict[str, Any] | None = None
    first_event: dict[str, Any] | None = None
    counted = counted_slice(params)
    for r in runs:
        if r.device.outputs.shape != r.reference.shape:
            mismatches += max(r.device.outputs.size, r.reference.size)
            detail = f"device {r.device.outputs.shape} outputs, reference {r.reference.shape}"
            first = first or {"recording": r.name, "detail": detail}
            continue
        dev, ref = r.device.outputs[:, counted], r.reference[:, counted]
        compared += dev.size
        diff = np.argwhere(dev != ref)
        mismatches += len(diff)
        if len(diff) and first is None:
            k, j = (int(v) for v in diff[0])
            first = {"recording": r.name, "inference": k, "index": params.take_start + j,
                     "device": int(dev[k, j]), "reference": int(ref[k, j])}  # fmt: skip
        expected = counting.count_events(r.reference, params)
        if r.device.event_steps != expected:
            event_mismatches += 1
            if first_event is None:
                pairs = zip(r.device.event_steps, expected, strict=False)
                shorter = min(len(r.device.event_steps), len(expected))
                i = next((i for i, (a, b) in enumerate(pairs) if a != b), shorter)
                first_event = {
                    "recording": r.name, "event": i,
                    "device_step": r.device.event_steps[i] if i < len(r.device.event_steps) else None,
                    "reference_step": expected[i] if i < len(expected) else None,
                }  # fmt: skip
    return {
        "bitexact_mismatches": int(mismatches),
        "outputs_compared": int(compared),
        "first_mismatch": first,
        "event_mismatches": event_mismatches,
        "first_event_mismatch": first_event,
    }


def bitexact_failure(a: dict[str, Any]) -> str | None:
    """The message of a failed comparison (a), naming the first differing output.

    No output compared fails too: "0 of 0 outputs differ" would pass a device that
    answered nothing (`check_recordings` refuses such data before a replay)."""
    if not a["outputs_compared"] and not a["bitexact_mismatches"]:
        return "nothing was compared: the device gave no output to compare (no recording as long as a window)"
    if a["bitexact_mismatches"]:
        f = a["first_mismatch"]
        where = (
            f"recording {f['recording']}, inference {f['inference']}, output index {f['index']}: "
            f"device {f['device']}, reference {f['reference']}"
            if "inference" in f
            else f"recording {f['recording']}: {f['detail']}"
        )
        return (
            f"{a['bitexact_mismatches']} of {a['outputs_compared']} int8 outputs differ from the "
            f"tflite_micro runtime; first: {where}"
        )
    if a["event_mismatches"]:
        f = a["first_event_mismatch"]
        return (
            f"the device's events differ from the Python counting reference in {a['event_mismatches']} "
            f"recordings; first: recording {f['recording']}, event {f['event']}: device step "
            f"{f['device_step']}, reference step {f['reference_step']}"
        )
    return None


def compare_float(runs: Sequence[RecordingRun], card: ModelCard) -> dict[str, Any] | None:
    """(b) Dequantised device outputs vs the float model on the counted slice, and int8 vs
    float counts."""
    if not runs or any(r.float_outputs is None for r in runs):
        return None
    scale, zp = card.output.scale, card.output.zero_point
    counted = counted_slice(card.counting_params)
    ref = np.concatenate([np.asarray(r.float_outputs)[:, counted].ravel() for r in runs])
    got = np.concatenate([dequantize(r.device.outputs[:, counted], scale, zp).ravel() for r in runs])
    obj: dict[str, Any] = metrics.float_agreement(ref, got)
    obj["outputs_compared"] = int(ref.size)
    device_n = sum(len(r.device_t) for r in runs)
    float_n = sum(len(r.float_t) for r in runs if r.float_t is not None)
    obj["output_scale"] = scale
    obj["float_mae_steps"] = obj["float_mae"] / scale
    obj["device_count"], obj["float_count"] = device_n, float_n
    obj["count_difference"] = device_n - float_n
    device_mape = metrics.count_mape((len(r.device_t), len(r.true_t)) for r in runs)
    float_mape = metrics.count_mape((len(r.float_t), len(r.true_t)) for r in runs if r.float_t is not None)
    obj["count_mape_difference"] = (
        None if device_mape is None or float_mape is None else device_mape - float_mape
    )
    return obj


def float_failure(b: dict[str, Any] | None) -> str | None:
    """Why the device disagrees with the float model beyond int8 rounding, or None if it does not."""
    if b is None:
        return None
    problems = []
    if b["float_mae_steps"] > FLOAT_MAX_MAE_STEPS:
        problems.append(f"MAE {b['float_mae_steps']:.2f} output steps > {FLOAT_MAX_MAE_STEPS:g}")
    if b["float_cosine"] < FLOAT_MIN_COSINE:
        problems.append(f"cosine {b['float_cosine']:.4f} < {FLOAT_MIN_COSINE:g}")
    allowed = max(2.0, FLOAT_MAX_COUNT_DIFFERENCE * b["float_count"])
    if abs(b["count_difference"]) > allowed:
        problems.append(
            f"the device counted {b['device_count']} events, the float pipeline {b['float_count']} "
            f"(more than {allowed:.0f} apart)"
        )
    return "device outputs disagree with the float model: " + "; ".join(problems) if problems else None


def card_figures(card: ModelCard) -> dict[str, float | None] | None:
    """The int8 pipeline's held-out figures from the card (held-out users, else leave-one-out)."""
    m = card.metrics or {}
    held = (m.get("held_out") or {}).get("pipelines", {}).get("int8")
    if held:
        return {k: held.get(k) for k in ("count_mape", "event_f1", "false_counts_per_hour")}
    louo = (m.get("leave_one_user_out") or {}).get("pipelines", {}).get("int8")
    if louo:
        return {"count_mape": louo.get("count_mape"), "event_f1": louo.get("event_f1"),
                "false_counts_per_hour": None}  # fmt: skip
    return None


def compare_labels(runs: Sequence[RecordingRun], target: Target) -> dict[str, Any]:
    """(c) Device counts vs the labels (the metrics of repcount.learn.metrics)."""
    results = [
        Result(r.name, r.user, "", r.true_t, r.device_t, r.false_counts, r.distractor_s) for r in runs
    ]
    obj: dict[str, Any] = summarize(results, target.pipes.task)
    obj["per_recording"] = [
        {
            "recording": r.name,
            "user": r.user,
            "seconds": round(r.duration_s, 2),
            "true": len(r.true_t),
            "device": len(r.device_t),
            "float": None if r.float_t is None else len(r.float_t),
            "count_error": metrics.count_error(len(r.device_t), len(r.true_t)),
            "false_counts": r.false_counts,
            "distractor_s": round(r.distractor_s, 2),
        }
        for r in runs
    ]
    obj["card"] = card_figures(target.card)
    return obj


def labels_failure(c: dict[str, Any], margins: Margins) -> str | None:
    """Why the device counts worse than its card allows, or None (also None without card figures)."""
    card = c.get("card")
    if not card:
        return None
    problems = []
    if card.get("count_mape") is not None and c["count_mape"] is not None:
        limit = card["count_mape"] + margins.count_mape
        if c["count_mape"] > limit:
            problems.append(f"count MAPE {c['count_mape']:.3f} > card {card['count_mape']:.3f} + "
                            f"{margins.count_mape:g}")  # fmt: skip
    if card.get("event_f1") is not None and c["event_f1"] < card["event_f1"] - margins.event_f1:
        problems.append(f"event F1 {c['event_f1']:.3f} < card {card['event_f1']:.3f} - {margins.event_f1:g}")
    fph, card_fph = c["false_counts_per_hour"], card.get("false_counts_per_hour")
    if fph is not None and card_fph is not None and fph > card_fph + margins.false_counts_per_hour:
        problems.append(f"{fph:.0f} false counts per hour > card {card_fph:.0f} + "
                        f"{margins.false_counts_per_hour:g}")  # fmt: skip
    return "the device counts worse than the model card: " + "; ".join(problems) if problems else None
