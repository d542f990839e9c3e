"""Hardware-in-the-loop: replay labelled recordings to a device over serial and judge it.

The device (a board on a serial port, or the emulated Cortex-M4F board) must run
repcount firmware rendered from the model you name. `repcount hil`:
  1. asks the device who it is (HELLO) and refuses to go on when the firmware's model hash
     or counting parameters are not the model's (flash the right firmware);
  2. replays each recording in replay mode at full speed, with the device's credits as flow
     control, and collects every inference's int8 outputs and every count event; a
     recording whose answers arrived damaged (a CRC error, a lost frame) is replayed again,
     and a device that resets in the middle of a run stops the run with a clear message;
  3. compares, and prints a verdict for each comparison:
     a. bit-exact: the device's int8 outputs against the tflite_micro runtime (TFLM's own
        kernels) on the same int8 inputs (0 differing values, or the first difference
        named), and the device's events against the Python counting reference;
     b. float: dequantised device outputs against the float model (MAE, RMSE, max abs,
        L2 relative error, cosine: STM32Cube.AI's validation metrics) and the count
        difference between the int8 and the float pipelines;
     c. labels: per-recording count error, count MAPE, event F1 and false counts per hour
        on distractor segments, against the model card's held-out figures plus a margin.
The replay speed (seconds of signal per second of replay, `replay_speed_x`) is measured.

Examples:
  repcount firmware --model models/jumprope-wrist --board qemu-mps2-an386 --engine native \\
      --out out/fw-qemu
  repcount hil --firmware out/fw-qemu --model models/jumprope-wrist --data data/heldout
  repcount hil --port /dev/ttyACM0 --model models/steps --data oxford --users oxford-dario \\
      --report out/hil-steps --json
--firmware starts the emulator on that project for you; --port talks to a flashed board
(or any pyserial URL, e.g. socket://127.0.0.1:40123 from `repcount emulate`). --report DIR
writes report.md (the tables; per recording, the signal with true and device events, and the
device's outputs against the float model's) and report.json. The pytest suite in
hil_tests/ runs the same checks (docs/hil.md). Exit code: 0 all passed, 1 a comparison
failed, 2 the run could not be made (wrong firmware, no answer, damaged link).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from repcount.device import protocol as P
from repcount.errors import UserError
from repcount.learn import counting, metrics

Progress = Callable[[str], None]
CpuClock = Callable[[], float]
DEFAULT_ATTEMPTS = 3
RESET_SLACK_FRAMES = 8
STALL_TIMEOUT_S = 1.0  # no progress this long: Link.replay resends once, then gives up
# Float agreement a device passes: the int8 pipeline may differ from the float one by a few
# output steps where the sigmoid is steep, not systematically.
FLOAT_MAX_MAE_STEPS = 2.0
FLOAT_MIN_COSINE = 0.98
FLOAT_MAX_COUNT_DIFFERENCE = 0.05  # |int8 - float| events, as a fraction of the float count
FLOAT_FIGURES = ("float_mae", "float_rmse", "float_max_abs", "float_l2r", "float_cosine")


class HilError(UserError):
    """The run could not give a verdict: wrong firmware, a damaged link, a device reset."""


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


@dataclass
class Replayed:
    """What the device answered for one recording."""

    outputs: np.ndarray  # (inferences, output_len) int8
    event_steps: list[int]
    seconds: float  # wall time of the accepted replay
    attempts: int
    damage: list[str] = field(default_factory=list)  # why earlier attempts were refused
    device_cpu_s: float | None = None  # CPU time the emulator used meanwhile (None: a board)


@dataclass
class RecordingRun:
    """One recording through the device and through the host references."""

    name: str
    user: str
    duration_s: float
    true_t: np.ndarray
    device_t: np.ndarray
    float_t: np.ndarray | None
    device: Replayed
    reference: np.ndarray  # TFLM runtime outputs (int8)
    float_outputs: np.ndarray | None
    false_counts: int
    distractor_s: float
    score_t: np.ndarray  # time of each score-stream step (for plots)


# ----------------------------------------------------------------------------- the device


def model_identity(card: dict[str, Any], model_hash: str) -> dict[str, Any]:
    """What a firmware rendered from this model says in INFO (the fields HIL checks)."""
    c = card["counting"]
    return {
        "model_hash": model_hash,
        "window": int(card["window"]),
        "hop": int(card["hop"]),
        "output_len": int(card["output_len"]),
        "threshold": int(c["threshold"]),
        "refractory": int(c["refractory"]),
        "take_start": int(c["take_start"]),
        "take_count": int(c["take_count"]),
        "out_stride": int(c["out_stride"]),
        "sample_rate_hz": float(card["sample_rate_hz"]),
        "full_scale_g": int(card["full_scale_g"]),
    }


def check_identity(info: P.Info, wanted: dict[str, Any], model_name: str, port: str) -> None:
    """Refuse a firmware that was not rendered from the model HIL compares with."""
    if info.model_hash != wanted["model_hash"]:
        raise HilError(
            f"{port}: the firmware runs model {info.model_hash} ({info.board}, {info.engine} engine), "
            f"but {model_name} is {wanted['model_hash']}: comparing them would judge the wrong "
            f"model. Render and flash firmware from it: `repcount firmware --model {model_name} "
            f"--board {info.board} --out DIR`"
        )
    got = {k: getattr(info, k) for k in wanted if k != "model_hash"}
    diff = [f"{k} {got[k]} (card {wanted[k]})" for k in got if float(got[k]) != float(wanted[k])]
    if diff:
        raise HilError(
            f"{port}: the firmware runs model {info.model_hash} but with other settings than "
            f"{model_name}/card.json: {', '.join(diff)}; render the firmware again from this card"
        )


def _damage(before: P.LinkStats, after: P.LinkStats, bad_before: int, bad_after: int) -> str:
    """What went wrong on the way from the device since `before`, or '' if nothing."""
    parts = [
        f"{after.as_dict()[k] - before.as_dict()[k]} {k.replace('_', ' ')}"
        for k in ("crc_errors", "cobs_errors", "overlong", "lost", "duplicates")
        if after.as_dict()[k] != before.as_dict()[k]
    ]
    if bad_after != bad_before:
        parts.append(f"{bad_after - bad_before} bad messages")
    return ", ".join(parts)


class Session:
    """A checked session with one device: identity verified, resets and damage detected."""

    def __init__(
        self, link: Any, wanted: dict[str, Any], model_name: str, device_cpu: CpuClock | None = None
    ) -> None:
        self.link = link
        self.device_cpu = device_cpu
        self.wanted = wanted
        self.model_name = model_name
        self.info: P.Info = link.hello()
        check_identity(self.info, wanted, model_name, link.name)
        self.accounted, self.sent = self._accounting()

    def _cpu(self) -> float | None:
        try:
            return self.device_cpu() if self.device_cpu else None
        except OSError:  # the emulator has ended
            return None

    def _reset_error(self, name: str, why: str) -> HilError:
        return HilError(
            f"{self.link.name}: the device reset during the replay of {name}: {why}. A firmware "
            "that restarts under test fails HIL: look for a fault, a watchdog or a brown-out "
            "(`repcount emulate` prints the emulated board's fault report)"
        )

    def _accounting(self) -> tuple[int, int]:
        """(frames the device's receiver accounts for, frames the host has sent), together.

        The device counts every host frame once it knows of it: received (frames_ok), or
        missing (lost, duplicates) when the next good frame shows the gap."""
        d = self.link.device_stats()
        return d.frames_ok + d.lost + d.duplicates, self.link.sender.seq

    def _check_counters(self, name: str) -> None:
        """The device's counters grow with every frame the host sends; a device that accounts
        for fewer frames than were sent since the last check has restarted (it lost its count).
        The slack covers a frame damaged just before a HELLO, which starts a new sequence."""
        accounted, sent = self._accounting()
        expected = self.accounted + ((sent - self.sent) & 0xFFFF)
        if accounted + RESET_SLACK_FRAMES + expected // 50 < expected:
            raise self._reset_error(
                name, f"its receive counters restarted ({accounted} frames accounted for, {expected} sent)"
            )
        self.accounted, self.sent = accounted, sent

    def _after_failure(self, name: str, boots_before: int) -> None:
        """After a failed attempt: raise if the device restarted (BOOT, or its counters fell).

        A device that does not answer clearly now leaves the question open: the attempt
        counts as damaged, and the next attempt asks again."""
        try:
            self.link.hello()
            if self.link.boots > boots_before:
                raise self._reset_error(name, "it sent BOOT")
            self._check_counters(name)
        except HilError:
            raise
        except UserError:
            return

    def replay(self, name: str, raw: np.ndarray, attempts: int = DEFAULT_ATTEMPTS) -> Replayed:
        """Replay raw int16 samples; every inference's outputs and the events, undamaged.

        An attempt is refused when any frame from the device arrived damaged or went
        missing (a lost OUTPUT or EVENT would change the verdict); the recording is then
        replayed from the start (entering replay mode resets the device's pipeline)."""
        link, info = self.link, self.info
        expected = max(0, (len(raw) - info.window) // info.hop + 1)
        damage: list[str] = []
        for attempt in range(1, attempts + 1):
            boots = link.boots
            outputs: list[tuple[int, ...]] = []
            events: list[int] = []
            why, seconds, cpu = "", 0.0, None
            try:
                self._check_counters(name)
                before, bad_before = P.LinkStats(**link.stats.as_dict()), link.bad_messages
                started, cpu_started = time.monotonic(), self._cpu()
                for msg in link.replay(raw, stall_timeout=STALL_TIMEOUT_S):
                    if isinstance(msg, P.Output):
                        if msg.inference != len(outputs):
                            why = f"inference {msg.inference} arrived after {len(outputs) - 1}"
                            break
                        outputs.append(msg.values)
                    elif isinstance(msg, P.CountEvent):
                        if msg.total != len(events) + 1:
                            why = f"event total {msg.total} arrived after {len(events)}"
                            break
                        events.append(msg.step)
                seconds = time.monotonic() - started
                cpu_ended = self._cpu()
                cpu = None if cpu_started is None or cpu_ended is None else cpu_ended - cpu_started
                why = why or _damage(before, link.stats, bad_before, link.bad_messages)
            except HilError:
                raise
            except UserError as exc:
                why = str(exc)
            if why or link.boots > boots:
                self._after_failure(name, boots)
            if not why and len(outputs) != expected:
                why = f"{len(outputs)} of {expected} inferences"
            if not why:
                out = np.array(outputs, dtype=np.int8).reshape(len(outputs), info.output_len)
                return Replayed(out, events, seconds, attempt, damage, cpu)
            damage.append(f"attempt {attempt}: {why}")
        raise HilError(
            f"{link.name}: the answers to {name} arrived damaged in all {attempts} attempts "
            f"({'; '.join(damage)}); no verdict is given on damaged data. Check the cable and the "
            "baud rate, or use a shorter USB cable / a powered hub"
        )


def process_cpu_clock(pid: int) -> CpuClock | None:
    """User + system CPU seconds of a running process (Linux /proc), or None elsewhere.

    The emulator's CPU time per second of signal is its speed on an idle core: the wall
    time of a replay also holds the time QEMU waited for a core on a loaded machine."""
    stat = Path(f"/proc/{pid}/stat")
    if not stat.is_file():
        return None
    ticks = os.sysconf("SC_CLK_TCK")

    def read() -> float:
        fields = stat.read_text().rsplit(")", 1)[1].split()  # fields 14, 15: utime, stime
        return (int(fields[11]) + int(fields[12])) / ticks

    return read


# ----------------------------------------------------------------------------- the run


@dataclass
class Target:
    """The model HIL compares with: card, int8 model, host pipelines (repcount.learn.evaluation)."""

    directory: Path
    card: dict[str, Any]
    pipes: Any  # repcount.learn.evaluation.Pipelines
    has_float: bool

    @property
    def name(self) -> str:
        return str(self.card.get("name", self.directory.name))

    @property
    def identity(self) -> dict[str, Any]:
        from repcount.learn.tflite_model import model_hash

        return model_identity(self.card, model_hash(self.pipes.model_bytes))


def load_target(model_dir: Path, with_float: bool = True) -> Target:
    """The model directory's card and pipelines; the float model if it is there and wanted."""
    from repcount.learn import evaluation

    has_float = with_float and (Path(model_dir) / "float.keras").is_file()
    pipes = evaluation.load_model(Path(model_dir), has_float)
    return Target(Path(model_dir), pipes.card, pipes, has_float)


def check_recording(rec: Any, card: dict[str, Any]) -> None:
    """The device is sent samples at the model's rate, so a recording must be at that rate."""
    if abs(float(rec.meta.sample_rate_hz) - float(card["sample_rate_hz"])) > 1e-6:
        raise UserError(
            f"{rec.name}: recorded at {rec.meta.sample_rate_hz:g} Hz but the model runs at "
            f"{card['sample_rate_hz']:g} Hz; resample it to {card['sample_rate_hz']:g} Hz first "
            "(`repcount capture` records at the model's rate; `repcount import oxford` resamples)"
        )


def recording_names(recordings: Sequence[Any]) -> list[str]:
    """A distinct name per recording for tables and plot files: the file name, else the
    imported trace's name (Oxford), else the user; repeats get -2, -3, ..."""
    names: list[str] = []
    for rec in recordings:
        base = rec.name if rec.path is not None else str(rec.meta.extra.get("trace", rec.name))
        name, k = base, 1
        while name in names:
            k += 1
            name = f"{base}-{k}"
        names.append(name)
    return names


def run_recording(
    session: Session, target: Target, rec: Any, attempts: int = DEFAULT_ATTEMPTS, name: str | None = None
) -> RecordingRun:
    """Replay one recording to the device and compute the host references for it."""
    from repcount.learn import quant
    from repcount.learn.evaluation import event_times, float_to_int8_scores, result_for
    from repcount.learn.model import sample_time

    check_recording(rec, target.card)
    name = name or rec.name
    pipes = target.pipes
    raw = quant.raw_from_g(rec.acc, float(target.card["full_scale_g"]))
    replayed = session.replay(name, raw, attempts)
    reference = pipes.int8_outputs(rec)
    params = pipes.params
    samples = np.array([counting.step_to_sample(s, params) for s in replayed.event_steps], dtype=np.float64)
    device_t = sample_time(rec, samples) + pipes.offset_s if len(samples) else np.zeros(0)
    tally = result_for(rec, pipes.task, device_t)
    float_out = float_t = None
    if target.has_float:
        float_out = pipes.float_outputs(rec)
        float_t = event_times(rec, float_to_int8_scores(float_out), params, pipes.offset_s)
    steps = np.arange(len(replayed.outputs) * params.take_count)
    score_t = sample_time(rec, np.array([counting.step_to_sample(int(s), params) for s in steps]))
    return RecordingRun(
        name=name,
        user=rec.meta.user,
        duration_s=rec.duration,
        true_t=tally.true_t,
        device_t=tally.pred_t,
        float_t=float_t,
        device=replayed,
        reference=reference,
        float_outputs=float_out,
        false_counts=tally.false_counts,
        distractor_s=tally.distractor_s,
        score_t=score_t,
    )


# ----------------------------------------------------------------------------- comparisons


def compare_bitexact(runs: Sequence[RecordingRun], params: counting.CountingParams) -> dict[str, Any]:
    """(a) Device int8 outputs vs the TFLM runtime, and device events vs the Python counter."""
    mismatches = compared = event_mismatches = 0
    first: dict[str, Any] | None = None
    first_event: dict[str, Any] | None = None
    for r in runs:
        dev, ref = r.device.outputs, r.reference
        if dev.shape != ref.shape:
            mismatches += max(dev.size, ref.size)
            detail = f"device {dev.shape} outputs, reference {ref.shape}"
            first = first or {"recording": r.name, "detail": detail}
            continue
        compared += dev.size
        diff = np.argwhere(dev != ref)
        mismatches += len(diff)
        if len(diff) and first is None:
            k, j = (int(v) for v in diff[0])
            first = {"recording": r.name, "inference": k, "index": j, "device": int(dev[k, j]),
                     "reference": int(ref[k, j])}  # fmt: skip
        expected = counting.count_events(ref, params)
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
    """The message of a failed comparison (a), naming the first differing output."""
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


def compare_float(runs: Sequence[RecordingRun], card: dict[str, Any]) -> dict[str, Any] | None:
    """(b) Dequantised device outputs vs the float model, and int8 vs float counts."""
    if not runs or any(r.float_outputs is None for r in runs):
        return None
    from repcount.learn.model import dequantize

    scale, zp = float(card["output"]["scale"]), int(card["output"]["zero_point"])
    ref = np.concatenate([np.asarray(r.float_outputs).ravel() for r in runs])
    got = np.concatenate([dequantize(r.device.outputs, scale, zp).ravel() for r in runs])
    obj: dict[str, Any] = metrics.float_agreement(ref, got)
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


def unseen_oxford_traces(card: dict[str, Any]) -> list[Any]:
    """The Oxford traces of the people a steps model never saw: its card's held-out users
    (--test-users) who are not among its training users (a --cv-users fold's user is).
    The HIL suite and the benchmark replay them; UserError when there are none."""
    from repcount.data.importers import load_oxford

    training = card.get("training") or {}
    users = sorted(set(training.get("held_out_users", [])) - set(training.get("train_users", [])))
    if not users:
        raise UserError(f"{card['name']}: its card names no held-out user (train it with --test-users)")
    traces = [r for r in load_oxford() if r.meta.user in users]
    if not traces:
        raise UserError(f"{card['name']}: no Oxford traces of its held-out users {', '.join(users)}")
    return traces


def card_figures(card: dict[str, Any]) -> dict[str, float | None] | None:
    """The int8 pipeline's held-out figures from the card (held-out users, else leave-one-out)."""
    m = card.get("metrics") or {}
    held = (m.get("held_out") or {}).get("pipelines", {}).get("int8")
    if held:
        return {k: held.get(k) for k in ("count_mape", "event_f1", "false_counts_per_hour")}
    louo = (m.get("leave_one_user_out") or {}).get("pipelines", {}).get("int8")
    if louo:
        return {"count_mape": louo.get("count_mape"), "event_f1": louo.get("event_f1"),
                "false_counts_per_hour": None}  # fmt: skip
    return None


def compare_labels(runs: Sequence[RecordingRun], target: Target) -> dict[str, Any]:
    """(c) Device counts vs the labels, with ARCHITECTURE.md's metrics."""
    from repcount.learn.evaluation import Result, summarize

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


# ----------------------------------------------------------------------------- the whole run


@dataclass
class HilRun:
    """A finished run: the device, every recording, the three comparisons and the verdicts."""

    target: Target
    info: P.Info
    port: str
    runs: list[RecordingRun]
    margins: Margins
    host_link: dict[str, int]
    device_link: dict[str, int]
    bitexact: dict[str, Any] = field(init=False)
    float_agreement: dict[str, Any] | None = field(init=False)
    labels: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.bitexact = compare_bitexact(self.runs, self.target.pipes.params)
        self.float_agreement = compare_float(self.runs, self.target.card)
        self.labels = compare_labels(self.runs, self.target)

    @property
    def replay_speed_x(self) -> float:
        seconds = sum(r.device.seconds for r in self.runs)
        return sum(r.duration_s for r in self.runs) / seconds if seconds else 0.0

    @property
    def emulator_cpu_speed_x(self) -> float | None:
        """Seconds of signal per CPU-second of the emulator (its speed on an idle core)."""
        cpu = [r.device.device_cpu_s for r in self.runs if r.device.device_cpu_s is not None]
        if len(cpu) < len(self.runs) or not sum(cpu):
            return None
        return sum(r.duration_s for r in self.runs) / sum(cpu)

    @property
    def failures(self) -> dict[str, str | None]:
        return {
            "bitexact": bitexact_failure(self.bitexact),
            "float": float_failure(self.float_agreement),
            "labels": labels_failure(self.labels, self.margins),
        }

    def summary(self) -> dict[str, Any]:
        """The --json object (ARCHITECTURE.md names at the top level)."""
        fa = self.float_agreement or {}
        failures = self.failures
        cpu_x = self.emulator_cpu_speed_x
        return {
            "model": self.target.name,
            "model_hash": self.info.model_hash,
            "device": {"port": self.port, "board": self.info.board, "engine": self.info.engine,
                       "firmware_version": self.info.firmware_version},  # fmt: skip
            "bitexact_mismatches": self.bitexact["bitexact_mismatches"],
            **{k: fa.get(k) for k in FLOAT_FIGURES},
            "count_mape": self.labels["count_mape"],
            "event_f1": self.labels["event_f1"],
            "false_counts_per_hour": self.labels["false_counts_per_hour"],
            "replay_speed_x": round(self.replay_speed_x, 1),
            "emulator_cpu_speed_x": None if cpu_x is None else round(cpu_x, 1),
            "signal_seconds": round(sum(r.duration_s for r in self.runs), 2),
            "replay_seconds": round(sum(r.device.seconds for r in self.runs), 3),
            "retries": sum(r.device.attempts - 1 for r in self.runs),
            "bitexact": self.bitexact,
            "float": self.float_agreement,
            "labels": self.labels,
            "margins": asdict(self.margins),
            "link": {"host_received": self.host_link, "device_received": self.device_link},
            "failures": {k: v for k, v in failures.items() if v},
            "passed": not any(failures.values()),
        }


def run_hil(
    link: Any,
    target: Target,
    recordings: Sequence[Any],
    margins: Margins | None = None,
    attempts: int = DEFAULT_ATTEMPTS,
    progress: Progress | None = None,
    device_cpu: CpuClock | None = None,
) -> HilRun:
    """The whole HIL run over an open `seriallink.Link`: identity, replays, comparisons.

    `device_cpu` (the emulator's CPU clock, `process_cpu_clock(emu.pid)`) adds the replay
    speed per CPU-second of the emulator to the figures."""
    if not recordings:
        raise UserError("no recordings to replay; give --data with recording files or directories")
    session = Session(link, target.identity, str(target.directory), device_cpu)
    runs = []
    for n, (rec, name) in enumerate(zip(recordings, recording_names(recordings), strict=True), 1):
        if progress:
            progress(f"[{n}/{len(recordings)}] {name}: {rec.duration:.0f} s of signal")
        runs.append(run_recording(session, target, rec, attempts, name))
    device_link = link.device_stats().as_dict()
    host_link = link.stats.as_dict()
    return HilRun(target, session.info, link.name, runs, margins or Margins(), host_link, device_link)


# ----------------------------------------------------------------------------- reports


def _fmt(v: Any, pct: bool = False) -> str:
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


def plot_outputs(r: RecordingRun, card: dict[str, Any], out_png: Path) -> Path:
    """Device vs float score streams of one recording (the counted slice of each inference)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from repcount.learn.model import dequantize

    c = card["counting"]
    lo, hi = int(c["take_start"]), int(c["take_start"]) + int(c["take_count"])
    scale, zp = float(card["output"]["scale"]), int(card["output"]["zero_point"])
    dev = dequantize(r.device.outputs[:, lo:hi], scale, zp).ravel()
    fig, ax = plt.subplots(1, 1, figsize=(float(np.clip(r.duration_s / 6.0, 10, 40)), 3.2))
    ax.plot(r.score_t, dev, lw=0.8, color="#0077b6", label="device (int8, dequantised)")
    if r.float_outputs is not None:
        ax.plot(r.score_t, np.asarray(r.float_outputs)[:, lo:hi].ravel(), lw=0.8, ls="--", color="#e76f51",
                label="float model")  # fmt: skip
    ax.axhline((int(c["threshold"]) - zp) * scale, color="#d62828", lw=0.7, ls=":", label="threshold")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("score")
    ax.set_title(f"{r.name}: device vs float outputs", loc="left")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=90)
    plt.close(fig)
    return out_png


def write_report(result: HilRun, recordings: Sequence[Any], out_dir: Path) -> Path:
    """report.md (verdicts, tables, plots per recording) and report.json in `out_dir`."""
    from repcount.plots import plot_recording

    out_dir.mkdir(parents=True, exist_ok=True)
    s = result.summary()
    (out_dir / "report.json").write_text(json.dumps(s, indent=2) + "\n")
    lines = [
        f"# HIL report: {s['model']} ({s['model_hash']})",
        "",
        f"Device: {s['device']['board']} on `{s['device']['port']}`, {s['device']['engine']} engine, "
        f"firmware {s['device']['firmware_version']}. {len(result.runs)} recordings, "
        f"{s['signal_seconds']:.0f} s of signal replayed in {s['replay_seconds']:.1f} s: "
        f"**replay_speed_x {s['replay_speed_x']}** (target >= 50){_cpu_note(s)}. Retries: {s['retries']}.",
        "",
        "| comparison | verdict | figures |",
        "|---|---|---|",
    ]
    b, fa, c = result.bitexact, result.float_agreement, result.labels
    fails = result.failures
    lines.append(
        f"| a. device vs tflite_micro | {'FAIL' if fails['bitexact'] else 'pass'} | "
        f"bitexact_mismatches {b['bitexact_mismatches']} of {b['outputs_compared']} outputs; "
        f"event mismatches {b['event_mismatches']} |"
    )
    if fa is None:
        lines.append("| b. device vs float model | not run | no float.keras (or --no-float) |")
    else:
        lines.append(
            f"| b. device vs float model | {'FAIL' if fails['float'] else 'pass'} | "
            f"MAE {fa['float_mae']:.5f}, RMSE {fa['float_rmse']:.5f}, max abs {fa['float_max_abs']:.5f}, "
            f"L2r {fa['float_l2r']:.5f}, cosine {fa['float_cosine']:.5f}; counts device "
            f"{fa['device_count']}, float {fa['float_count']} |"
        )
    card = c["card"] or {}
    lines.append(
        f"| c. device vs labels | {'FAIL' if fails['labels'] else 'pass'} | count MAPE "
        f"{_fmt(c['count_mape'], True)} (card {_fmt(card.get('count_mape'), True)}), event F1 "
        f"{_fmt(c['event_f1'])} (card {_fmt(card.get('event_f1'))}), false counts/h "
        f"{_fmt(c['false_counts_per_hour'])} (card {_fmt(card.get('false_counts_per_hour'))}) |"
    )
    lines += ["", *[f"- **{k}**: {v}" for k, v in fails.items() if v]]
    lines += [
        "",
        f"Margins over the card: count MAPE +{result.margins.count_mape:g}, event F1 "
        f"-{result.margins.event_f1:g}, false counts/h +{result.margins.false_counts_per_hour:g}.",
        "",
        "## Recordings",
        "",
        "| recording | user | seconds | true | device | float | count error | false counts | "
        "speed x | attempts |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r, row in zip(result.runs, c["per_recording"], strict=True):
        speed = r.duration_s / r.device.seconds if r.device.seconds else 0.0
        lines.append(
            f"| {r.name} | {r.user} | {r.duration_s:.0f} | {row['true']} | {row['device']} | "
            f"{_fmt(row['float'])} | {_fmt(row['count_error'], True)} | {r.false_counts} | {speed:.0f} | "
            f"{r.device.attempts} |"
        )
    lines += ["", "## Link", "", f"Host received: {s['link']['host_received']}",
              "", f"Device received: {s['link']['device_received']}", ""]  # fmt: skip
    for rec, r in zip(recordings, result.runs, strict=True):
        signal = plot_recording(
            rec, out_dir / "plots" / f"{r.name}.png", predicted_events=list(r.device_t),
            title=f"{r.name}: true events above, device events below",
        )  # fmt: skip
        outputs = plot_outputs(r, result.target.card, out_dir / "plots" / f"{r.name}-outputs.png")
        lines += [f"### {r.name}", "", f"![signal and events]({signal.relative_to(out_dir)})", "",
                  f"![device vs float outputs]({outputs.relative_to(out_dir)})", ""]  # fmt: skip
    path = out_dir / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def print_summary(s: dict[str, Any]) -> None:
    """The human-readable verdict of `repcount hil` (--json prints everything)."""
    print(f"HIL {s['model']} ({s['model_hash']}) on {s['device']['board']} at {s['device']['port']}")
    b, c = s["bitexact"], s["labels"]
    print(f"  a. bit-exact: {b['bitexact_mismatches']} of {b['outputs_compared']} outputs differ, "
          f"{b['event_mismatches']} recordings with other events")  # fmt: skip
    if s["float"]:
        f = s["float"]
        print(f"  b. float: MAE {f['float_mae']:.5f}, RMSE {f['float_rmse']:.5f}, "
              f"max abs {f['float_max_abs']:.5f}, L2r {f['float_l2r']:.5f}, cosine {f['float_cosine']:.5f}, "
              f"count difference {f['count_difference']:+d}")  # fmt: skip
    print(f"  c. labels: count MAPE {_fmt(c['count_mape'], True)}, event F1 {_fmt(c['event_f1'])}, "
          f"false counts/h {_fmt(c['false_counts_per_hour'])}")  # fmt: skip
    for row in c["per_recording"]:
        print(f"     {row['recording']}: true {row['true']}, device {row['device']}, "
              f"error {_fmt(row['count_error'], True)}")  # fmt: skip
    print(f"  replay {s['signal_seconds']:.0f} s of signal at {s['replay_speed_x']}x real time, "
          f"{s['retries']} retries")  # fmt: skip
    for k, v in s["failures"].items():
        print(f"  FAIL {k}: {v}")
    print("  PASS" if s["passed"] else "  FAILED")


def add_arguments(p: argparse.ArgumentParser) -> None:
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--firmware", type=Path, metavar="DIR",
                       help="a qemu-mps2-an386 project (or its .elf): run it in the emulator")  # fmt: skip
    where.add_argument("--port", help="the device: /dev/ttyACM0, COM3, socket://127.0.0.1:PORT")
    p.add_argument("--baud", type=int, default=115200, help="baud rate of a serial port (default 115200)")
    p.add_argument("--model", required=True, type=Path, help="model directory the firmware was rendered from")
    p.add_argument("--data", required=True, nargs="+", help="recording files/directories, or `oxford`")
    p.add_argument("--users", nargs="+", help="replay only these users' recordings (e.g. held-out users)")
    p.add_argument("--no-float", action="store_true", help="skip comparison b (no TensorFlow import)")
    p.add_argument("--attempts", type=int, default=DEFAULT_ATTEMPTS,
                   help=f"replays of a recording whose answers arrive damaged (default {DEFAULT_ATTEMPTS})")
    p.add_argument("--report", type=Path, metavar="DIR", help="write report.md, report.json and plots here")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def select(recordings: Sequence[Any], users: Sequence[str] | None) -> list[Any]:
    """The recordings of --users (all if none given); a UserError naming the users present if none match."""
    if not users:
        return list(recordings)
    kept = [r for r in recordings if r.meta.user in set(users)]
    if not kept:
        present = ", ".join(sorted({r.meta.user for r in recordings}))
        raise UserError(f"no recordings of users {', '.join(users)} (users present: {present})")
    return kept


def run(args: argparse.Namespace) -> int:
    from repcount.bench.stages import TRAIN_ENV
    from repcount.device.link import Link
    from repcount.learn.evaluation import load_data

    if args.attempts < 1:
        raise UserError(f"--attempts must be at least 1, got {args.attempts}")
    for key, value in TRAIN_ENV.items():  # TensorFlow quiet, Keras 2 for the float QAT model
        os.environ.setdefault(key, value)

    def progress(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    target = load_target(args.model, with_float=not args.no_float)
    recs = select(load_data(args.data), args.users)
    if args.firmware is not None:
        from repcount.device.emulator import Emulator

        with Emulator(args.firmware) as emu, Link.open(emu.url) as link:
            cpu = process_cpu_clock(emu.pid) if emu.pid else None
            result = run_hil(link, target, recs, attempts=args.attempts, progress=progress, device_cpu=cpu)
    else:
        with Link.open(args.port, args.baud) as link:
            result = run_hil(link, target, recs, attempts=args.attempts, progress=progress)
    s = result.summary()
    if args.report:
        s["report"] = str(write_report(result, recs, args.report))
    if args.json:
        print(json.dumps(s, indent=2))
    else:
        print_summary(s)
    return 0 if s["passed"] else 1
