"""The HIL session with one device: who it is, and every answer to a replay, undamaged.

The device must run firmware rendered from the model HIL compares with: its INFO (model
hash, window, hop, counting parameters) is checked before anything is replayed. Each
recording is then replayed in replay mode at full speed, the device's credits the flow
control, and every inference's int8 outputs and every count event are collected. An
attempt whose answers arrived damaged (a CRC error, a lost frame, a total out of order)
is refused and replayed from the start: a lost OUTPUT or EVENT would change the verdict.
A device that restarts under test (BOOT, or receive counters that fell) stops the run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from repcount.data.recordings import Recording
from repcount.device import protocol as P
from repcount.device.hil.latency import count_latencies, emission_samples
from repcount.device.hil.target import Identity, Target, check_recording
from repcount.device.link import Link
from repcount.errors import UserError
from repcount.learn import counting, quant
from repcount.learn.evaluation import event_times, float_to_int8_scores, result_for
from repcount.learn.model import sample_index, sample_time

CpuClock = Callable[[], float]
DEFAULT_ATTEMPTS = 3
RESET_SLACK_FRAMES = 8
STALL_TIMEOUT_S = 1.0  # no progress this long: Link.replay resends once, then gives up


class HilError(UserError):
    """The run could not give a verdict: wrong firmware, a damaged link, a device reset."""


@dataclass
class Replayed:
    """What the device answered for one recording."""

    outputs: np.ndarray  # (inferences, output_len) int8
    event_steps: list[int]
    seconds: float  # wall time of the accepted replay
    attempts: int
    damage: list[str] = field(default_factory=list)  # why earlier attempts were refused
    device_cpu_s: float | None = None  # CPU time the emulator used meanwhile (None: a board)
    event_inferences: list[int] = field(default_factory=list)  # the inference that reported each event


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
    latency_s: np.ndarray  # count latency of each true event the device counted (hil.latency)


def check_identity(info: P.Info, wanted: Identity, model_name: str, port: str) -> None:
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
        self, link: Link, wanted: Identity, model_name: str, device_cpu: CpuClock | None = None
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
            reported_by: list[int] = []
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
                        reported_by.append(len(outputs) - 1)  # an inference's EVENTs follow its OUTPUT
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
                return Replayed(out, events, seconds, attempt, damage, cpu, reported_by)
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


def raw_samples(target: Target, rec: Recording) -> np.ndarray:
    """The int16 counts an IMU at the model's full scale would read for the recording."""
    check_recording(rec, target.card)
    return quant.raw_from_g(rec.acc, target.card.full_scale_g)


def run_recording(
    session: Session, target: Target, rec: Recording, attempts: int = DEFAULT_ATTEMPTS,
    name: str | None = None,
) -> RecordingRun:
    """Replay one recording to the device and compute the host references for it."""
    name = name or rec.name
    return judge_recording(target, rec, session.replay(name, raw_samples(target, rec), attempts), name)


def judge_recording(target: Target, rec: Recording, replayed: Replayed, name: str) -> RecordingRun:
    """The host side of one replayed recording: the references, the events' times, the latencies."""
    pipes = target.pipes
    reference = pipes.int8_outputs(rec)
    params = pipes.params
    samples = np.array([counting.step_to_sample(s, params) for s in replayed.event_steps], dtype=np.float64)
    device_t = sample_time(rec, samples) + pipes.offset_s if len(samples) else np.zeros(0)
    tally = result_for(rec, pipes.task, device_t)
    emitted = emission_samples(replayed.event_inferences, target.card.window, target.card.hop)
    latency_s = count_latencies(tally.true_t, tally.pred_t, sample_index(rec, tally.true_t), emitted,
                                target.card.sample_rate_hz, pipes.task.event_tolerance_s)  # fmt: skip
    float_out = float_t = None
    if target.has_float:
        float_out = pipes.float_outputs(rec)
        float_scores = float_to_int8_scores(float_out, target.card.output)
        float_t = event_times(rec, float_scores, params, pipes.offset_s)
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
        latency_s=latency_s,
    )
