"""Count latency: how long after a true event the device's count showed it.

Measured on the device's own sample clock, so neither the serial link nor the host's
load enters it. Inference k of a stream runs once its window's last sample has arrived,
that is when the device has received k * hop + window samples; its OUTPUT is followed
by the EVENTs it decided (firmware_templates/core/rc_app.c `report`), so the inference
that reported each event is known from the order of the device's messages. For each
true event the device counted (matched one-to-one within the task's tolerance, as for
event F1), the latency is

    (k * hop + window - s_true) / sample_rate_hz

with k the inference that reported the matched count event and s_true the true event's
(fractional) sample index. It holds the whole wait of a streaming counter: the rest of
the window after the event, the hop until the next inference, and the peak picker's one
step of look-ahead; not the inference's own compute time (a fraction of a hop on the
device, docs/hil.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from repcount.learn import metrics


def emission_samples(event_inferences: Sequence[int], window: int, hop: int) -> np.ndarray:
    """Samples the device had received when it emitted each event: its inference's k * hop + window."""
    return np.asarray(event_inferences, dtype=np.float64) * hop + window


def count_latencies(
    true_t: np.ndarray,
    device_t: np.ndarray,
    true_samples: np.ndarray,
    emitted_samples: np.ndarray,
    sample_rate_hz: float,
    tolerance_s: float,
) -> np.ndarray:
    """Latency in seconds of each true event the device counted, in the order of the true events.

    `true_t` and `device_t` are the true and the device's event times (what event F1
    matches, within `tolerance_s`); `true_samples` the true events' sample indices and
    `emitted_samples` the samples received when each device event was emitted."""
    pairs = metrics.match_events(true_t, device_t, tolerance_s)
    return np.array(
        [(emitted_samples[j] - true_samples[i]) / sample_rate_hz for i, j in pairs], dtype=np.float64
    )


def latency_figures(latencies: Sequence[np.ndarray]) -> dict[str, Any]:
    """p50 and p95 of the count latency over every recording's counted events (None when none)."""
    pooled = np.concatenate([np.asarray(x, dtype=np.float64) for x in latencies] or [np.zeros(0)])
    if not len(pooled):
        return {"count_latency_p50_s": None, "count_latency_p95_s": None, "count_latency_max_s": None,
                "events_timed": 0}  # fmt: skip
    p50, p95 = np.percentile(pooled, [50, 95])
    return {
        "count_latency_p50_s": round(float(p50), 3),
        "count_latency_p95_s": round(float(p95), 3),
        "count_latency_max_s": round(float(pooled.max()), 3),
        "events_timed": len(pooled),
    }
