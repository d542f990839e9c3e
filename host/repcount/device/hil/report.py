"""The HIL report a person reads: report.md (the verdicts, the tables, two plots per
recording) and report.json (the same object `repcount hil --json` prints).

Per recording, one plot shows the signal with the true events above and the device's
below; the other the device's score stream against the float model's, with the counting
threshold: where a count went wrong, the two plots show whether the model or the counter did.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from repcount import heavy
from repcount.data.recordings import Recording
from repcount.device.hil.run import HilRun
from repcount.device.hil.session import RecordingRun
from repcount.learn.card import ModelCard
from repcount.learn.model import dequantize
from repcount.plots import plot_recording


def fmt_figure(v: Any, pct: bool = False) -> str:
    """A figure for a table: "-" when absent, a percentage for rates, 4 significant digits."""
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{100 * v:.2f} %" if pct else f"{v:.4g}"
    return str(v)


def _cpu_note(s: dict[str, Any]) -> str:
    """The emulator's own speed next to the wall-clock one: on a loaded machine they differ."""
    if s["emulator_cpu_speed_x"] is None:
        return ""
    return (f"; per CPU-second of the emulator {s['emulator_cpu_speed_x']}x (its speed on an idle core: "
            "the wall time includes waiting for a core on a loaded machine)")  # fmt: skip


def plot_outputs(r: RecordingRun, card: ModelCard, out_png: Path) -> Path:
    """Device vs float score streams of one recording (the counted slice of each inference)."""
    plt = heavy.pyplot()
    c = card.counter
    lo, hi = c.take_start, c.take_start + c.take_count
    scale, zp = card.output.scale, card.output.zero_point
    dev = dequantize(r.device.outputs[:, lo:hi], scale, zp).ravel()
    fig, ax = plt.subplots(1, 1, figsize=(float(np.clip(r.duration_s / 6.0, 10, 40)), 3.2))
    ax.plot(r.score_t, dev, lw=0.8, color="#0077b6", label="device (int8, dequantised)")
    if r.float_outputs is not None:
        ax.plot(r.score_t, np.asarray(r.float_outputs)[:, lo:hi].ravel(), lw=0.8, ls="--", color="#e76f51",
                label="float model")  # fmt: skip
    ax.axhline((c.threshold - zp) * scale, color="#d62828", lw=0.7, ls=":", label="threshold")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("score")
    ax.set_title(f"{r.name}: device vs float outputs", loc="left")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=90)
    plt.close(fig)
    return out_png


def _device_rows(s: dict[str, Any]) -> list[str]:
    """The devices that shared the run, when there were several or one failed: who replayed what."""
    devices = s["devices"]
    if len(devices) < 2 and not s["failed_devices"]:
        return []
    rows = ["| device | recordings replayed | seconds of signal | speed x | failed |",
            "|---|---|---|---|---|"]
    for d in devices:
        died = f"during {d['died']['recording']}: {d['died']['error']}" if d["died"] else "-"
        rows.append(f"| `{d['port']}` | {len(d['recordings'])} | {d['signal_seconds']:.0f} | "
                    f"{d['replay_speed_x']} | {died} |")  # fmt: skip
    return [*rows, ""]


def _verdict_rows(result: HilRun) -> list[str]:
    """The table of the three comparisons: verdict and figures of each."""
    b, fa, c = result.bitexact, result.float_agreement, result.labels
    fails = result.failures
    rows = [
        "| comparison | verdict | figures |",
        "|---|---|---|",
        f"| a. device vs tflite_micro | {'FAIL' if fails['bitexact'] else 'pass'} | "
        f"bitexact_mismatches {b['bitexact_mismatches']} of {b['outputs_compared']} outputs; "
        f"event mismatches {b['event_mismatches']} |",
    ]
    if fa is None:
        rows.append("| b. device vs float model | not run | no float.keras (or --no-float) |")
    else:
        rows.append(
            f"| b. device vs float model | {'FAIL' if fails['float'] else 'pass'} | "
            f"MAE {fa['float_mae']:.5f}, RMSE {fa['float_rmse']:.5f}, max abs {fa['float_max_abs']:.5f}, "
            f"L2r {fa['float_l2r']:.5f}, cosine {fa['float_cosine']:.5f}; counts device "
            f"{fa['device_count']}, float {fa['float_count']} |"
        )
    card = c["card"] or {}
    rows.append(
        f"| c. device vs labels | {'FAIL' if fails['labels'] else 'pass'} | count MAPE "
        f"{fmt_figure(c['count_mape'], True)} (card {fmt_figure(card.get('count_mape'), True)}), "
        f"event F1 {fmt_figure(c['event_f1'])} (card {fmt_figure(card.get('event_f1'))}), false counts/h "
        f"{fmt_figure(c['false_counts_per_hour'])} (card {fmt_figure(card.get('false_counts_per_hour'))}) |"
    )
    return [*rows, "", *[f"- **{k}**: {v}" for k, v in fails.items() if v]]


def _recording_rows(result: HilRun) -> list[str]:
    """The table of recordings: counts, count error, speed and attempts of each."""
    rows = [
        "| recording | user | seconds | true | device | float | count error | false counts | "
        "speed x | attempts |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r, row in zip(result.runs, result.labels["per_recording"], strict=True):
        speed = r.duration_s / r.device.seconds if r.device.seconds else 0.0
        rows.append(
            f"| {r.name} | {r.user} | {r.duration_s:.0f} | {row['true']} | {row['device']} | "
            f"{fmt_figure(row['float'])} | {fmt_figure(row['count_error'], True)} | {r.false_counts} | "
            f"{speed:.0f} | {r.device.attempts} |"
        )
    return rows


def _plot_sections(result: HilRun, recordings: Sequence[Recording], out_dir: Path) -> list[str]:
    """Two plots per recording, drawn under out_dir/plots, and their Markdown sections."""
    lines: list[str] = []
    for rec, r in zip(recordings, result.runs, strict=True):
        signal = plot_recording(
            rec, out_dir / "plots" / f"{r.name}.png", predicted_events=list(r.device_t),
            title=f"{r.name}: true events above, device events below",
        )  # fmt: skip
        outputs = plot_outputs(r, result.target.card, out_dir / "plots" / f"{r.name}-outputs.png")
        lines += [f"### {r.name}", "", f"![signal and events]({signal.relative_to(out_dir)})", "",
                  f"![device vs float outputs]({outputs.relative_to(out_dir)})", ""]  # fmt: skip
    return lines


def write_report(result: HilRun, recordings: Sequence[Recording], out_dir: Path) -> Path:
    """report.md (verdicts, tables, plots per recording) and report.json in `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    s = result.summary()
    (out_dir / "report.json").write_text(json.dumps(s, indent=2) + "\n")
    m = result.margins
    lines = [
        f"# HIL report: {s['model']} ({s['model_hash']})",
        "",
        f"Device: {s['device']['board']} on `{s['device']['port']}`, {s['device']['engine']} engine, "
        f"firmware {s['device']['firmware_version']}. {len(result.runs)} recordings, "
        f"{s['signal_seconds']:.0f} s of signal replayed in {s['replay_seconds']:.1f} s: "
        f"**replay_speed_x {s['replay_speed_x']}** (target >= 50){_cpu_note(s)}. Retries: {s['retries']}.",
        "",
        f"Count latency (true event to the device's count, on its sample clock; docs/hil.md): "
        f"**p50 {fmt_figure(s['count_latency_p50_s'])} s, p95 {fmt_figure(s['count_latency_p95_s'])} s** "
        f"over {s['latency']['events_timed']} counted events (target p95 <= 0.8 s).",
        "",
        *_device_rows(s),
        *_verdict_rows(result),
        "",
        f"Margins over the card: count MAPE +{m.count_mape:g}, event F1 -{m.event_f1:g}, "
        f"false counts/h +{m.false_counts_per_hour:g}.",
        "",
        "## Recordings",
        "",
        *_recording_rows(result),
        "", "## Link", "", f"Host received: {s['link']['host_received']}",
        "", f"Device received: {s['link']['device_received']}", "",
        *_plot_sections(result, recordings, out_dir),
    ]  # fmt: skip
    path = out_dir / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path
