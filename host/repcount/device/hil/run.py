"""A whole HIL run: the device's identity checked, every recording replayed, the three
comparisons made, and the summary `repcount hil --json`, report.json and the bench read.

`run_hil` runs over an open link (a board, or any pyserial URL); `run_on_emulator` starts
the emulated board for the run and always stops it, rendering and building the model's
firmware for it first when no firmware is given (the default of `repcount hil`).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Sequence
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
from repcount.device.hil.session import (
    DEFAULT_ATTEMPTS,
    CpuClock,
    RecordingRun,
    Session,
    process_cpu_clock,
    run_recording,
)
from repcount.device.hil.target import Target, check_recordings, recording_names
from repcount.device.link import Link

Progress = Callable[[str], None]


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
            "error": "; ".join(f"comparison {k} failed: {v}" for k, v in failures.items() if v) or None,
        }


def run_hil(
    link: Link,
    target: Target,
    recordings: Sequence[Recording],
    margins: Margins | None = None,
    attempts: int = DEFAULT_ATTEMPTS,
    progress: Progress | None = None,
    device_cpu: CpuClock | None = None,
) -> HilRun:
    """The whole HIL run over an open `Link`: identity, recordings checked, replays, comparisons.

    `device_cpu` (the emulator's CPU clock, `process_cpu_clock(emu.pid)`) adds the replay
    speed per CPU-second of the emulator to the figures."""
    check_recordings(recordings, target.card)
    session = Session(link, target.identity, str(target.directory), device_cpu)
    runs = []
    for n, (rec, name) in enumerate(zip(recordings, recording_names(recordings), strict=True), 1):
        if progress:
            progress(f"[{n}/{len(recordings)}] {name}: {rec.duration:.0f} s of signal")
        runs.append(run_recording(session, target, rec, attempts, name))
    device_link = link.device_stats().as_dict()
    host_link = link.stats.as_dict()
    return HilRun(target, session.info, link.name, runs, margins or Margins(), host_link, device_link)


def run_on_emulator(
    target: Target,
    recordings: Sequence[Recording],
    firmware: Path | None = None,
    margins: Margins | None = None,
    attempts: int = DEFAULT_ATTEMPTS,
    progress: Progress | None = None,
) -> HilRun:
    """The whole run on the emulated board, which is started for it and always stopped.

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
        emu = stack.enter_context(Emulator(firmware))
        link = stack.enter_context(Link.open(emu.url))
        cpu = process_cpu_clock(emu.pid) if emu.pid else None
        return run_hil(link, target, recordings, margins, attempts, progress, cpu)
