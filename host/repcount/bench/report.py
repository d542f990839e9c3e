"""The benchmark's targets, its met/missed verdicts and its Markdown table.

Kept apart from the measuring (repcount/bench.py) so the table can be regenerated, and
tested, from a results object alone. Every target comes from an issue of the project and
is stated by what it is for (`Target.goal`), not by a tracker number a reader cannot open;
each figure is printed next to it and marked met or missed, so a regression shows up
as a missed mark in the README rather than in someone's memory of an older number.
`render` gives the table the README includes verbatim between the markers
`<!-- bench:start -->` and `<!-- bench:end -->`; `rewrite_readme` puts it there.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from repcount.errors import UserError

START, END = "<!-- bench:start -->", "<!-- bench:end -->"
KIB = 1024
QUICK_TRAINING_S = 180  # the quick configuration `make demo` trains, in at most 3 minutes
MET, MISSED = "✅", "❌ missed"
PIPELINE_NAMES = {
    "device": "int8 on the emulated Cortex-M4F (HIL)",
    "int8": "int8 in the tflite_micro runtime",
    "float": "float (QAT Keras) model",
    "baseline": "classic peak detector",
}
_OPS: dict[str, Callable[[float, float], bool]] = {"<=": operator.le, ">=": operator.ge, "==": operator.eq}

Getter = Callable[[dict[str, Any]], Any]


def _at(*path: str) -> Getter:
    """A getter of a nested value of one model's results (None where any level is missing)."""

    def get(model: dict[str, Any]) -> Any:
        value: Any = model
        for key in path:
            if not isinstance(value, dict):
                return None
            value = value.get(key)
        return value

    return get


def _abs_at(*path: str) -> Getter:
    inner = _at(*path)

    def get(model: dict[str, Any]) -> Any:
        v = inner(model)
        return None if v is None else abs(v)

    return get


def _ram_besides_serial(model: dict[str, Any]) -> Any:
    ram, serial = model.get("ram_bytes"), model.get("serial_buffer_bytes")
    return None if ram is None or serial is None else ram - serial


@dataclass(frozen=True)
class Target:
    """One figure of one model and the bound the project set for it."""

    key: str  # name in the results' `checks`
    label: str  # row label in the table
    value: Getter
    op: str  # "<=", ">=" or "=="
    limit: float | Getter  # a number, or another figure of the same model
    text: str  # how the table states the target
    goal: str  # what the target is for, in words a reader of the table needs no tracker for
    tasks: tuple[str, ...] = ("jump-rope", "steps")
    unit: str = "count"  # how the value is printed: see `fmt`

    def limit_of(self, model: dict[str, Any]) -> float | None:
        return self.limit(model) if callable(self.limit) else self.limit


TARGETS: tuple[Target, ...] = (
    Target("count_mape", "count MAPE, device, held-out users", _at("pipelines", "device", "count_mape"),
           "<=", 0.02, "≤ 2 %", "jump-rope accuracy goal", ("jump-rope",), "pct"),
    Target("event_f1", "event F1, device, held-out users", _at("pipelines", "device", "event_f1"),
           ">=", 0.97, "≥ 0.97", "jump-rope accuracy goal", ("jump-rope",), "f1"),
    Target("false_counts_per_hour", "false counts per hour of distractors, device",
           _at("pipelines", "device", "false_counts_per_hour"), "<=", 10.0, "≤ 10",
           "jump-rope goal: almost no counts while not jumping",
           ("jump-rope",), "rate"),
    Target("louo_count_mape", "count MAPE, leave-one-user-out (int8)",
           _at("leave_one_user_out", "int8", "count_mape"), "<=", 0.05, "≤ 5 %",
           "steps accuracy goal, people the model never saw",
           ("steps",), "pct"),
    Target("heldout_count_mape", "count MAPE, device, held-out user",
           _at("pipelines", "device", "count_mape"), "<=", 0.05, "≤ 5 %", "steps accuracy goal",
           ("steps",), "pct"),
    Target("bitexact_mismatches", "int8 outputs differing device vs tflite_micro",
           _at("bitexact_mismatches"), "==", 0, "0",
           "the device computes exactly what TFLite Micro computes"),
    Target("count_mape_difference", "count MAPE, int8 minus float (absolute)",
           _abs_at("count_mape_difference"), "<=", 0.005, "≤ 0.5 points",
           "int8 counts as well as the float model", unit="points"),
    Target("tflite_bytes", ".tflite size", _at("tflite_bytes"), "<=", 20 * KIB, "≤ 20 KiB",
           "model size budget", unit="bytes"),
    Target("tflm_arena_bytes", "TFLM arena (measured in tflite_micro)", _at("tflm_arena_bytes"), "<=",
           16 * KIB, "≤ 16 KiB", "TFLM RAM budget", unit="bytes"),
    Target("native_arena_bytes", "native engine arena", _at("native_arena_bytes"), "<=",
           _at("tflm_arena_bytes"), "≤ TFLM arena",
           "the native engine needs no more RAM than TFLM", unit="bytes"),
    Target("macs_per_second", "multiply-accumulates per second of signal", _at("macs_per_second"), "<=",
           150_000, "≤ 150,000", "compute budget of a wearable"),
    Target("flash_bytes", "firmware flash (text+data), qemu-mps2-an386", _at("flash_bytes"), "<=",
           32 * KIB, "≤ 32 KiB", "fits a small MCU's flash", unit="bytes"),
    Target("ram_bytes_besides_serial", "firmware RAM (data+bss) besides serial buffers", _ram_besides_serial,
           "<=", 16 * KIB, "≤ 16 KiB", "fits a small MCU's RAM", unit="bytes"),
    Target("instructions_per_second", "Cortex-M4 instructions per second of signal",
           _at("instructions_per_second"), "<=", 640_000, "≤ 640,000",
           "1 % of a 64 MHz Cortex-M4 at real time"),
    Target("instructions_per_mac", "instructions per multiply-accumulate", _at("instructions_per_mac"), "<=",
           1.5, "≤ 1.5", "near the Cortex-M4's DSP limit, SMLAD's 0.5 in the inner loop", unit="g3"),
    Target("count_latency_p95_s", "count latency p95, device (true event to its count)",
           _at("count_latency_p95_s"), "<=", 0.8, "≤ 0.8 s", "a count shows soon after the jump",
           unit="s2"),
    Target("hil_scaling_x", "HIL replay speed, 2 emulators over one", _at("hil_scaling_x"), ">=", 1.7,
           "≥ 1.7×", "HIL runs scale with the devices", unit="x2"),
    Target("replay_speed_x", "HIL replay speed (× real time)", _at("replay_speed_x"), ">=", 50, "≥ 50×",
           "hours of recordings checked in minutes", unit="x"),
    Target("training_seconds", "training time, measured now", _at("training", "seconds"), "<=",
           _at("training", "limit_s"), "≤ 10 min (quick ≤ 3 min)",
           "training on 2 cores: a model in 10 min, `make demo` in 3", unit="s"),
    Target("card_training_seconds", "training time per model of the card's command (card)",
           _at("training", "card_seconds_per_model"), "<=", 600, "≤ 10 min",
           "a model trained in 10 min on 2 cores", unit="s"),
)

# The fixed reference model's cost target (bench/reference-model: jumprope-wrist as it was when the
# target was set, so that later model changes do not move the figure).
REFERENCE, REFERENCE_DIR = "reference-model", "bench/reference-model"
REFERENCE_TARGET = Target("reference_instructions_per_second",
                          "Cortex-M4 instructions per second of signal, reference model",
                          _at("instructions_per_second"), "<=", 150_000, "≤ 150,000",
                          "battery life: about a quarter of TFLM + CMSIS-NN's cost", ())  # fmt: skip
# TensorFlow Lite Micro on the same model and emulated board, measured by the project (QEMU
# -icount, the same instruction counter as rc_cost.c); documented anchors, not built by the bench.
TFLM_ANCHORS = (
    ("TensorFlow Lite Micro, reference kernels", 1_294_558, 14.9, 2_022_747),
    ("TensorFlow Lite Micro + CMSIS-NN", 374_234, 4.32, 584_741),
)
ANCHOR_NOTE = ("The TensorFlow Lite Micro rows are anchors: measured once by the project on the shipped "
               "models (the reference model's architecture) on the same emulated Cortex-M4F (QEMU -icount, "
               "the same instruction counter); the bench does not build TFLM.")

# Figures without a target, shown in the figures table under the targeted ones.
PLAIN_ROWS: tuple[tuple[str, Getter, str], ...] = (
    ("float MAE (device outputs vs float model)", _at("float_mae"), "g4"),
    ("float cosine", _at("float_cosine"), "g6"),
    ("float L2 relative error", _at("float_l2r"), "g4"),
    ("events counted, device minus float", _at("count_difference"), "count"),
    ("multiply-accumulates per inference", _at("macs_per_inference"), "count"),
    ("Cortex-M4 instructions per inference", _at("instructions_per_inference"), "count"),
    ("count latency p50, device", _at("count_latency_p50_s"), "s2"),
    ("HIL replay speed with 2 emulators (× real time)", _at("replay_speed_x_devices"), "x"),
    ("HIL verdicts with 2 emulators identical to one", _at("hil_same_verdicts"), "yesno"),
    ("RAM of the serial buffers", _at("serial_buffer_bytes"), "bytes"),
    ("models the card's command trained (with leave-one-user-out folds)",
     _at("training", "card_models_trained"), "count"),
    ("retrained model identical to the shipped one (same hash)", _at("training", "same_model_hash"), "yesno"),
)


def fmt(value: Any, unit: str) -> str:
    """A figure as the table prints it; '-' for a figure that was not measured."""
    if value is None:
        return "-"
    if unit == "yesno":
        return "yes" if value else "no"
    if unit == "pct":
        return f"{100 * value:.2f} %"
    if unit == "points":
        return f"{100 * value:.2f} points"
    if unit == "f1":
        return f"{value:.3f}"
    if unit == "rate":
        return f"{value:.1f}"
    if unit == "x":  # one decimal, so a speed just under its bound never prints as the bound
        return f"{value:.1f}×"
    if unit == "x2":
        return f"{value:.2f}×"
    if unit == "s":
        return f"{value:.0f} s"
    if unit == "s2":
        return f"{value:.2f} s"
    if unit.startswith("g"):
        return f"{value:.{unit[1:]}g}"
    if unit == "bytes":
        return f"{value:,} B"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.0f}"


def check(target: Target, model: str, results: dict[str, Any]) -> dict[str, Any]:
    """The verdict on one target for one model: met (bool), or None when not measured."""
    value, limit = target.value(results), target.limit_of(results)
    met = None if value is None or limit is None else bool(_OPS[target.op](value, limit))
    return {"key": target.key, "model": model, "value": value, "op": target.op, "limit": limit,
            "target": target.text, "goal": target.goal, "met": met}  # fmt: skip


def checks(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target that applies to every model of a results object, and the reference model's."""
    models = results["models"].items()
    found = [check(t, name, m) for name, m in models for t in TARGETS if m.get("task") in t.tasks]
    if "reference" in results:
        found.append(check(REFERENCE_TARGET, REFERENCE, results["reference"]))
    return found


def _anchor_rows(results: dict[str, Any], by_key: dict[tuple[str, str], Any]) -> list[str]:
    """The reference model's cost on the emulated M4 next to TensorFlow Lite Micro's (anchors)."""
    ref = results.get("reference")
    if ref is None:
        return []
    c = by_key.get((REFERENCE, REFERENCE_TARGET.key))
    why = (ref.get("not_measured") or {}).get(REFERENCE_TARGET.key)
    ips = _cell(ref.get("instructions_per_second"), "count", c["met"] if c else None, why)
    lines = ["**Cost of the reference model on the emulated Cortex-M4F, next to TensorFlow Lite Micro**", "",
             "| engine | instructions / inference | instructions / MAC | instructions / s of signal |",
             "|---|---|---|---|",
             f"| repcount native, {ref.get('model', 'reference model')} as fixed in `{REFERENCE_DIR}` "
             f"(target ≤ 150,000 / s) | {fmt(ref.get('instructions_per_inference'), 'count')} | "
             f"{fmt(ref.get('instructions_per_mac'), 'g3')} | {ips} |"]  # fmt: skip
    for name, per_inference, per_mac, per_second in TFLM_ANCHORS:
        lines.append(f"| {name} (anchor) | {per_inference:,} | {per_mac:g} | {per_second:,} |")
    return [*lines, "", ANCHOR_NOTE, ""]


def _cell(value: Any, unit: str, met: bool | None, reason: str | None = None) -> str:
    if value is None:
        return f"not measured ({reason})" if reason else "-"
    text = fmt(value, unit)
    return text if met is None else f"{text} {MET if met else MISSED}"


# Which target judges a column of the accuracy table, for the device row and the LOUO int8 row.
DEVICE_TARGETS = {"count_mape": ("count_mape", "heldout_count_mape"), "event_f1": ("event_f1",),
                  "false_counts_per_hour": ("false_counts_per_hour",)}  # fmt: skip
COLUMNS = (("count_mape", "pct"), ("event_f1", "f1"), ("false_counts_per_hour", "rate"))


def _accuracy_rows(name: str, m: dict[str, Any], verdicts: dict[tuple[str, str], Any]) -> list[str]:
    """Rows of one model: each pipeline on the held-out data, then the card's LOUO figures."""

    def met(pipe: str, column: str, louo: bool) -> bool | None:
        if louo:
            keys = ("louo_count_mape",) if pipe == "int8" and column == "count_mape" else ()
        else:
            keys = DEVICE_TARGETS[column] if pipe == "device" else ()
        return next((verdicts[(name, k)]["met"] for k in keys if (name, k) in verdicts), None)

    rows = []
    blocks = [(m["heldout"]["description"], m.get("pipelines") or {}, False)]
    louo = m.get("leave_one_user_out") or {}
    if louo:
        blocks.append((louo.get("description", "leave-one-user-out"), louo, True))
    for description, pipes, is_louo in blocks:
        first = True
        for pipe, p in pipes.items():
            if not isinstance(p, dict):
                continue
            cells = [_cell(p.get(k), unit, met(pipe, k, is_louo)) for k, unit in COLUMNS]
            lead = f"{name} | {description}" if first else " | "
            rows.append(f"| {lead} | {PIPELINE_NAMES.get(pipe, pipe)} | " + " | ".join(cells) + " |")
            first = False
    return rows


def _placement_table(name: str, m: dict[str, Any]) -> list[str]:
    """Count MAPE per placement: leave-one-user-out per pipeline, and the held-out user now."""
    louo = m.get("leave_one_user_out") or {}
    pipes = [p for p in ("float", "int8", "baseline") if isinstance(louo.get(p), dict)]
    device = (m.get("pipelines") or {}).get("device") or {}
    groups = sorted({g for p in pipes for g in louo[p].get("by_group", {})} | set(device.get("by_group", {})))
    if not groups:
        return []
    head = [f"LOUO {p}" for p in pipes] + [f"device, {m['heldout'].get('users_text', 'held-out user')}"]
    lines = [f"**{name}: count MAPE per placement**", "", "| placement | " + " | ".join(head) + " |",
             "|---" * (len(head) + 1) + "|"]  # fmt: skip
    for g in groups:
        cells = [fmt(louo[p].get("by_group", {}).get(g, {}).get("count_mape"), "pct") for p in pipes]
        cells.append(fmt(device.get("by_group", {}).get(g, {}).get("count_mape"), "pct"))
        lines.append(f"| {g} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _figure_rows(results: dict[str, Any], names: list[str]) -> list[str]:
    verdicts = {(c["model"], c["key"]): c for c in results.get("checks") or checks(results)}
    rows = []
    for t in TARGETS:
        applies = [n for n in names if results["models"][n].get("task") in t.tasks]
        if not applies:
            continue
        cells = []
        for n in names:
            c = verdicts.get((n, t.key))
            reason = (results["models"][n].get("not_measured") or {}).get(t.key)
            if n not in applies or c is None:
                cells.append("n/a")
            else:
                cells.append(_cell(c["value"], t.unit, c["met"], reason))
        rows.append(f"| {t.label} | {t.text} ({t.goal}) | " + " | ".join(cells) + " |")
    models = [results["models"][n] for n in names]
    for label, get, unit in PLAIN_ROWS:
        rows.append(f"| {label} | - | " + " | ".join(fmt(get(m), unit) for m in models) + " |")
    how = [(m.get("training") or {}).get("how", "-") for m in models]
    rows.append("| how the training time was measured | - | " + " | ".join(how) + " |")
    return rows


def render(results: dict[str, Any]) -> str:
    """The Markdown the README includes: accuracy, per-placement, figures, verdict count, notes."""
    names = list(results["models"])
    mach = results["machine"]
    verdicts = results.get("checks") or checks(results)
    by_key = {(c["model"], c["key"]): c for c in verdicts}
    met = sum(1 for c in verdicts if c["met"])
    missed = [f"{c['model']} {c['key']}" for c in verdicts if c["met"] is False]
    unmeasured = sum(1 for c in verdicts if c["met"] is None)
    lines = [
        f"Measured by `make bench` ({results['configuration']} configuration) on {results['date'][:10]}, "
        f"commit `{(results.get('git_commit') or 'unknown')[:10]}`, in {results['seconds'] / 60:.1f} min on "
        f"{mach['cores']} cores ({mach['cpu']}, {mach['memory_gb']} GB, {mach['os']}). "
        f"Targets met: **{met} of {len(verdicts)}**"
        + (f"; missed: {', '.join(missed)}" if missed else "")
        + (f"; not measured: {unmeasured}" if unmeasured else "") + ".",
        "",
        "**Counting accuracy on data the model never trained on**",
        "",
        "| model | data | pipeline | count MAPE | event F1 | false counts/h |",
        "|---|---|---|---|---|---|",
    ]
    for n in names:
        lines += _accuracy_rows(n, results["models"][n], by_key)
    lines.append("")
    for n in names:
        if results["models"][n].get("leave_one_user_out"):
            lines += _placement_table(n, results["models"][n])
    lines += _anchor_rows(results, by_key)
    lines += ["**Agreement, size, cost and speed**", "", "| figure | target | " + " | ".join(names) + " |",
              "|---|---|" + "---|" * len(names)]  # fmt: skip
    lines += _figure_rows(results, names)
    demo = results.get("demo") or {}
    lines += ["", "Notes:"]
    train = demo.get("train_seconds")
    quick = "" if train is None else (f"its quick training step took {fmt(train, 's')} (target ≤ 3 min) "
                                      f"{MET if train <= QUICK_TRAINING_S else MISSED}")  # fmt: skip
    if demo.get("seconds") is not None:
        lines.append(f"- `make demo` (tools/demo.sh, run by the bench): {demo['seconds']:.0f} s in all; "
                     f"{quick or 'its training step was not timed'}.")  # fmt: skip
    else:
        lines.append(f"- `make demo` was not timed: {demo.get('not_measured', 'not run')}"
                     + (f"; before that, {quick}." if quick else "."))  # fmt: skip
    lines += [f"- {note}" for note in results.get("notes", [])]
    return "\n".join(lines) + "\n"


def rewrite_readme(text: str, table: str, where: str = "README.md") -> str:
    """`text` with everything between the bench markers replaced by `table`."""
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        raise UserError(
            f"{where}: no `{START}` ... `{END}` markers to put the table between; add the two lines "
            "where the benchmark table belongs and run again"
        )
    return text[: start + len(START)] + "\n" + table + text[end:]
