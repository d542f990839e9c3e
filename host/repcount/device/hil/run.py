"""A whole HIL run: the devices' identity checked, every recording replayed, the three
comparisons made, and the summary `repcount hil --json`, report.json and the bench read.

`run_devices` runs over open links (boards, or any pyserial URLs), sharing the recordings
out among them (`pool`: a work queue; a device that fails is reported and its recording
finishes on the others); `run_hil` is the same over one link. `run_on_emulator` starts
emulated boards for the run (one per core by default) and always stops them, rendering
and building the model's firmware for them first when no firmware is given (the default
of `repcount hil`).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from repcount.data.recordings import Recording
from repcount.device import protocol as P
from repcount.device.emulator import BOARD, Emulator, model_firmware
from repcount.device.hil.compare import (
    FLOAT_FIGURES,
    Margins,
    bitexact_failure,
    compare_bitexact,
    compare_float,
    compare_labels,
    float_failure,
    labels_failure,
)
from repcount.device.hil.latency import latency_figures
from repcount.device.hil.pool import Progress, replay_on_devices
from repcount.device.hil.session import (
    DEFAULT_ATTEMPTS,
    CpuClock,
    RecordingRun,
    Replayed,
    Session,
    judge_recording,
    process_cpu_clock,
    raw_samples,
)
from repcount.device.hil.target import Target, check_recordings, recording_names
from repcount.device.link import Link
from repcount.errors import UserError


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
    latency: dict[str, Any] = field(init=False)
    wall_seconds: float = 0.0  # of the whole replay, all devices together (0: not measured)
    devices: list[dict[str, Any]] = field(default_factory=list)  # what each device did (pool.DeviceWork)

    def __post_init__(self) -> None:
        self.bitexact = compare_bitexact(self.runs, self.target.pipes.params)
        self.float_agreement = compare_float(self.runs, self.target.card)
        self.labels = compare_labels(self.runs, self.target)
        self.latency = latency_figures([r.latency_s for r in self.runs])

    @property
    def replay_speed_x(self) -> float:
        """Seconds of signal per wall second of the whole replay (all devices together)."""
        seconds = self.wall_seconds or sum(r.device.seconds for r in self.runs)
        return sum(r.duration_s for r in self.runs) / seconds if seconds else 0.0

    @property
    def failed_devices(self) -> list[dict[str, Any]]:
        """The devices that failed during the run (their recordings finished on the others)."""
        return [d for d in self.devices if d["died"]]

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
        """The --json object: the figures by their documented names at the top level (docs/hil.md),
        the details below them, `passed`, and `error` (None, or the failed comparisons in one line)."""
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
            "count_latency_p50_s": self.latency["count_latency_p50_s"],
            "count_latency_p95_s": self.latency["count_latency_p95_s"],
            "replay_speed_x": round(self.replay_speed_x, 1),
            "emulator_cpu_speed_x": None if cpu_x is None else round(cpu_x, 1),
            "signal_seconds": round(sum(r.duration_s for r in self.runs), 2),
            "replay_seconds": round(self.wall_seconds or sum(r.device.seconds for r in self.runs), 3),
            "retries": sum(r.device.attempts - 1 for r in self.runs),
            "bitexact": self.bitexact,
            "float": self.float_agreement,
            "labels": self.labels,
            "latency": self.latency,
            "devices": self.devices,
            "failed_devices": self.failed_devices,
            "margins": asdict(self.margins),
            "link": {"host_received": self.host_link, "device_received": self.device_link},
            "failures": {k: v for k, v in failures.items() if v},
            "passed": not any(failures.values()),
            "error": "; ".join(f"comparison {k} failed: {v}" for k, v in failures.items() if v) or None,
        }


def _sum_counters(counters: Sequence[dict[str, int]]) -> dict[str, int]:
    """The link counters of several devices added up, key by key."""
    total: dict[str, int] = {}
    for c in counters:
        for k, v in c.items():
            total[k] = total.get(k, 0) + v
    return total


def _device_counters(link: Link) -> dict[str, int] | None:
    """The device's receive counters (STATS), or None from a device that no longer answers."""
    try:
        return link.device_stats().as_dict()
    except (UserError, OSError):
        return None


def run_devices(
    devices: Sequence[tuple[Link, CpuClock | None]],
    target: Target,
    recordings: Sequence[Recording],
    margins: Margins | None = None,
    attempts: int = DEFAULT_ATTEMPTS,
    progress: Progress | None = None,
) -> HilRun:
    """The whole HIL run over open links (each with the emulator's CPU clock, or None).

    Every device must run the model's firmware (checked on all before any replay); the
    recordings are shared out by a work queue (`pool`), and a device that fails during a
    replay is reported while its recording finishes on the others. One verdict, over every
    recording in their given order, whatever device replayed it."""
    check_recordings(recordings, target.card)
    names = recording_names(recordings)
    sessions = [Session(link, target.identity, str(target.directory), cpu) for link, cpu in devices]
    jobs = [(name, raw_samples(target, rec)) for name, rec in zip(names, recordings, strict=True)]
    runs: dict[int, RecordingRun] = {}

    def judge(i: int, replayed: Replayed) -> None:
        runs[i] = judge_recording(target, recordings[i], replayed, names[i])

    work, wall = replay_on_devices(sessions, jobs, attempts, judge, progress)
    alive = [s for s, w in zip(sessions, work, strict=True) if not w.died]
    device_link = _sum_counters([c for s in alive if (c := _device_counters(s.link)) is not None])
    host_link = _sum_counters([s.link.stats.as_dict() for s in sessions])
    port = ", ".join(s.link.name for s in sessions)
    ordered = [runs[i] for i in range(len(jobs))]
    return HilRun(target, alive[0].info, port, ordered, margins or Margins(), host_link, device_link,
                  wall_seconds=wall, devices=[w.as_dict() for w in work])  # fmt: skip


def run_hil(
    link: Link,
    target: Target,
    recordings: Sequence[Recording],
    margins: Margins | None = None,
    attempts: int = DEFAULT_ATTEMPTS,
    progress: Progress | None = None,
    device_cpu: CpuClock | None = None,
) -> HilRun:
    """The whole HIL run over one open `Link`: identity, recordings checked, replays, comparisons.

    `device_cpu` (the emulator's CPU clock, `process_cpu_clock(emu.pid)`) adds the replay
    speed per CPU-second of the emulator to the figures."""
    return run_devices([(link, device_cpu)], target, recordings, margins, attempts, progress)


def default_emulators() -> int:
    """One emulator per core: QEMU runs one guest CPU per process, so more would only share cores."""
    return os.cpu_count() or 1


def run_on_emulator(
    target: Target,
    recordings: Sequence[Recording],
    firmware: Path | None = None,
    margins: Margins | None = None,
    attempts: int = DEFAULT_ATTEMPTS,
    progress: Progress | None = None,
    emulators: int = 1,
) -> HilRun:
    """The whole run on `emulators` emulated boards (at most one per recording), started for
    it and always stopped.

    `firmware` is a qemu-mps2-an386 project or ELF; None renders the model's firmware
    (native engine) into a temporary directory, builds it and removes it afterwards. The
    recordings are checked first, so data that cannot give a verdict costs no build."""
    check_recordings(recordings, target.card)
    with contextlib.ExitStack() as stack:
        if firmware is None:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="repcount-hil-")))
            if progress:
                progress(f"rendering {target.directory}'s firmware for {BOARD} (native engine), building it")
            firmware = model_firmware(target.directory, tmp / "firmware")
        devices = []
        for _ in range(max(1, min(emulators, len(recordings)))):
            emu = stack.enter_context(Emulator(firmware))  # started here: QEMU ends with its thread
            link = stack.enter_context(Link.open(emu.url))
            devices.append((link, process_cpu_clock(emu.pid) if emu.pid else None))
        return run_devices(devices, target, recordings, margins, attempts, progress)
