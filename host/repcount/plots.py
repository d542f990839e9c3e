"""Plots of recordings: signal, labelled segments, true and predicted events, model scores.

One function serves `simulate --plot`, `show --plot`, `evaluate` and the HIL report, so
every picture of a recording reads the same way: the three axes and the magnitude on
top with segments shaded by activity, true events as markers above the signal and
predicted events below it (so misses and false counts stand out), and optionally a
second panel with the model's score stream and its threshold.
matplotlib is imported inside the function: importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from repcount import heavy
from repcount.data.recordings import Recording

# Stable colours per activity so plots of different recordings compare at a glance.
ACTIVITY_COLOURS = {
    "jump-rope": "#f4a261", "walking": "#90be6d", "running": "#43aa8b", "rest": "#d9d9d9",
    "standing": "#e9ecef", "sitting": "#cdb4db", "gestures": "#ffafcc", "stairs": "#a2d2ff",
    "car": "#adb5bd", "elevator": "#ffe066", "pickup": "#ffd6a5",
}
EVENT_MARKERS = {"jump": "v", "double-under": "D", "miss": "x", "step": "^", "stair-step": "1"}


def plot_recording(rec: Recording, out_png: str | Path, predicted_events: Sequence[float] | None = None,
                   title: str | None = None, scores: tuple[np.ndarray, np.ndarray] | None = None,
                   threshold: float | None = None, span: tuple[float, float] | None = None) -> Path:
    """Write a PNG of `rec`; `scores` is (times, values) for a second panel, `span` a time window."""
    plt = heavy.pyplot()
    t0, t1 = span if span else (float(rec.t[0]), float(rec.t[-1]))
    sel = (rec.t >= t0) & (rec.t <= t1)
    t, acc = rec.t[sel], rec.acc[sel]
    panels = 2 if scores is not None else 1
    width = float(np.clip((t1 - t0) / 6.0, 10, 40))
    fig, axes = plt.subplots(panels, 1, figsize=(width, 4.2 * panels), sharex=True, squeeze=False)
    ax = axes[0, 0]
    for i, name in enumerate(("ax", "ay", "az")):
        ax.plot(t, acc[:, i], lw=0.6, label=name, color=("#1f77b4", "#2ca02c", "#9467bd")[i])
    mag = np.linalg.norm(acc, axis=1) if len(acc) else np.zeros(0)
    ax.plot(t, mag, lw=0.8, color="black", label="|a|")
    top = float(max(mag.max(initial=1.0), 1.0)) + 0.6
    bottom = float(min(acc.min(initial=-1.0), -1.0)) - 0.6
    seen: set[str] = set()
    for s in rec.segments:
        if s.end < t0 or s.start > t1:
            continue
        colour = ACTIVITY_COLOURS.get(s.activity, "#eeeeee")
        for a in axes[:, 0]:
            a.axvspan(s.start, s.end, color=colour, alpha=0.45, lw=0,
                      label=None if s.activity in seen or a is not ax else s.activity)
        seen.add(s.activity)
    for kind in sorted({e.kind for e in rec.events}):
        times = [e.t for e in rec.events if e.kind == kind and t0 <= e.t <= t1]
        if not times:
            continue
        ax.scatter(times, np.full(len(times), top - 0.3), marker=EVENT_MARKERS.get(kind, "o"), s=22,
                   color="#d62828" if kind != "miss" else "black", label=f"true {kind} ({len(times)})",
                   zorder=3)
    if predicted_events is not None:
        pred = [p for p in predicted_events if t0 <= p <= t1]
        ax.scatter(pred, np.full(len(pred), bottom + 0.3), marker="^", s=22, color="#0077b6",
                   label=f"predicted ({len(pred)})", zorder=3)
    ax.set_ylim(bottom, top)
    ax.set_ylabel("acceleration (g)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    ax.set_title(title or f"{rec.name}: user {rec.meta.user}, mount {rec.meta.mount}", loc="left")
    if scores is not None:
        sa = axes[1, 0]
        st, sv = (np.asarray(x) for x in scores)
        keep = (st >= t0) & (st <= t1)
        sa.plot(st[keep], sv[keep], lw=0.8, color="#6a4c93", label="score")
        if threshold is not None:
            sa.axhline(threshold, color="#d62828", lw=0.8, ls="--", label="threshold")
        sa.set_ylabel("model score")
        sa.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    axes[-1, 0].set_xlabel("time (s)")
    axes[-1, 0].set_xlim(t0, t1)
    fig.tight_layout()
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out
