"""Size and cost figures of a firmware: flash, RAM, arenas, MACs, instructions per inference.

Measured, never estimated:
- flash (text + data) and RAM (data + bss, the stack included: the qemu board's linker
  script reserves it as a section) from `arm-none-eabi-size` on the built ELF;
- instructions per inference from the emulated Cortex-M4F: the firmware is replayed a few
  seconds of signal over its serial link, as in HIL, and its board counts the engine's
  instructions under QEMU's `-icount` (exact, see rc_board.c) and prints them on the
  semihosting console (`rc-cost inference=N instructions=M`). A streaming engine's first
  inference computes the whole window and every later one only the new steps, so the
  figure that spends the battery is the steady state (the median of the continuing
  inferences); the first is reported apart;
- the native engine's arena from its plan, TFLM's arena by running the model in the
  tflite_micro runtime (`repcount.learn.tflm.measure_arena`), and the model's MACs: those
  of a window and those the engine computes per continuing inference (fewer when it
  streams), the divisor of instructions per MAC.
`repcount firmware --json` prints these figures (named as in docs/architecture.md,
Metrics).
"""

from __future__ import annotations

import re
import shutil
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np

from repcount.device.link import Link
from repcount.errors import UserError
from repcount.firmware.native import generate as native
from repcount.firmware.native import stream

QEMU_BOARD = "qemu-mps2-an386"
SIZE_TOOL = "arm-none-eabi-size"
NM_TOOL = "arm-none-eabi-nm"
# Static buffers of the serial link, which the RAM target leaves out: the board's
# receive ring and the protocol's frame buffers, by C symbol name and the project file
# that defines each. A symbol missing from the ELF is an error, never 0 bytes: a rename
# in the C would otherwise silently move the buffers into the RAM figure.
SERIAL_BUFFER_SYMBOLS = {
    "rc_qemu_rx_ring": "src/rc_board.c",
    "rx": "src/rc_app.c",
    "tx_wire": "src/rc_app.c",
    "payload": "src/rc_app.c",
}
COST_LINE = re.compile(r"rc-cost inference=(\d+) instructions=(\d+) stack_peak=(\d+)")
DEFAULT_INFERENCES = 16
REPLAY_SEED = 6


class NoCostCounter(UserError):
    """The firmware ran but printed no instruction counts: it was linked without the wrap."""


def elf_sizes(elf: Path) -> dict[str, int]:
    """flash_bytes = text + data, ram_bytes = data + bss (Berkeley format of arm-none-eabi-size),
    with the stack's and the serial buffers' share of the RAM."""
    for tool in (SIZE_TOOL, NM_TOOL):
        if shutil.which(tool) is None:
            raise UserError(f"`{tool}` is not installed; install it with `make toolchain`")
    out = subprocess.run([SIZE_TOOL, "-B", "-d", str(elf)], capture_output=True, text=True)
    if out.returncode != 0:
        raise UserError(f"{SIZE_TOOL} {elf} failed: {out.stderr.strip()}")
    text, data, bss = (int(v) for v in out.stdout.splitlines()[1].split()[:3])
    symbols = _symbol_sizes(elf)
    return {
        "flash_bytes": text + data,
        "ram_bytes": data + bss,
        "stack_bytes": _section_size(elf, ".stack"),
        "serial_buffer_bytes": serial_buffer_bytes(elf, symbols),
    }


def serial_buffer_bytes(elf: Path, symbols: dict[str, int]) -> int:
    """Bytes of the serial buffers; UserError naming the first one the ELF lacks."""
    for name, source in SERIAL_BUFFER_SYMBOLS.items():
        if name not in symbols:
            raise UserError(
                f"{elf}: no static symbol {name!r}, the serial buffer that {source} defines; "
                "if it was renamed, rename it in SERIAL_BUFFER_SYMBOLS (repcount/firmware/sizes.py) too"
            )
    return sum(symbols[name] for name in SERIAL_BUFFER_SYMBOLS)


def _symbol_sizes(elf: Path) -> dict[str, int]:
    """Bytes per static (bss or data) symbol: the serial buffers are found by name."""
    out = subprocess.run([NM_TOOL, "-S", str(elf)], capture_output=True, text=True, check=True).stdout
    sizes: dict[str, int] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2].lower() in ("b", "d"):
            sizes[parts[3]] = sizes.get(parts[3], 0) + int(parts[1], 16)
    return sizes


def _section_size(elf: Path, name: str) -> int:
    """One section's size (the stack is a section of the linker script)."""
    out = subprocess.run([SIZE_TOOL, "-A", "-d", str(elf)], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == name:
            return int(parts[1])
    return 0


def inference_costs(elf: Path, inferences: int = DEFAULT_INFERENCES) -> tuple[list[int], int]:
    """Instructions of each of `inferences` inferences on the emulated Cortex-M4F, and the
    most stack the firmware used meanwhile (bytes).

    Replays a deterministic pseudo-random signal (the cost of the int8 kernels hardly
    depends on the values) in replay mode through `repcount.device.link.Link`, as HIL does."""
    from repcount.device.emulator import Emulator  # not at the top: the emulator renders firmware

    with Emulator(elf) as emu:
        info = emu.info
        total = info.window + (inferences - 1) * info.hop
        xyz = np.random.default_rng(REPLAY_SEED).integers(-4096, 4096, (total, 3), dtype=np.int16)
        with Link.open(emu.url) as link:
            for _message in link.replay(xyz):
                pass
        deadline = time.monotonic() + 5.0
        costs: dict[int, tuple[int, int]] = {}
        while len(costs) < inferences and time.monotonic() < deadline:
            lines = emu.console_lines()
            costs = {int(m[1]): (int(m[2]), int(m[3])) for m in map(COST_LINE.fullmatch, lines) if m}
            time.sleep(0.02)
    if len(costs) < inferences:
        raise NoCostCounter(
            f"{elf}: the firmware ran {inferences} inferences but reported the instructions of "
            f"{len(costs)}; it must be built for {QEMU_BOARD} with the link option "
            "-Wl,--wrap=rc_engine_invoke (the board's rc_cost.c counts through it)"
        )
    return [costs[i][0] for i in range(inferences)], max(peak for _, peak in costs.values())


def model_figures(tflite: Any, geometry: stream.Geometry | None = None) -> dict[str, int]:
    """Arena of each engine and MACs for one model (the .tflite is the source of truth).

    `macs_computed_per_inference` is what the native engine computes per continuing
    inference: a window's MACs, or with `geometry` (the card's windows) for a model that
    streams, only the new steps the counted slice needs (`stream.Plan.macs`); its arena
    is then the stream's state (rings and the previous window's overlap)."""
    from repcount.learn import tflm  # heavy: loads the tflite_micro runtime

    window_macs, arena = native.macs(tflite), native.arena_bytes(tflite)
    computed = window_macs
    if geometry is not None and native.streaming(tflite, geometry)[0]:
        plan = stream.plan(tflite, geometry)
        computed, arena = plan.macs, plan.state_bytes
    return {
        "macs_per_inference": window_macs,
        "macs_computed_per_inference": computed,
        "native_arena_bytes": arena,
        "tflm_arena_bytes": tflm.measure_arena(tflite.data),
    }


def cost_figures(
    elf: Path, sample_rate_hz: float, hop: int, macs: int, inferences: int = DEFAULT_INFERENCES
) -> dict[str, Any]:
    """Instructions per inference in the steady state (the median of the inferences that
    continue a window, what a device spends for hours) and of the first (cold) one, per
    second of signal (steady x inferences per second) and per MAC the engine computes
    (`macs` per continuing inference)."""
    counts, stack_peak = inference_costs(elf, inferences)
    steady = round(statistics.median(counts[1:]))
    per_second = sample_rate_hz / hop
    return {
        "instructions_per_inference": steady,
        "instructions_first_inference": counts[0],
        "instructions_per_inference_max": max(counts[1:]),
        "instructions_per_second": round(steady * per_second),
        "instructions_per_mac": round(steady / max(1, macs), 2),
        "inferences_per_second": per_second,
        "stack_peak_bytes": stack_peak,
    }


def measure(project: Any) -> dict[str, Any]:
    """All figures of a rendered project (a `repcount.firmware.render.Project`).

    For qemu-mps2-an386 the project is built (make) and run in the emulator; other boards
    get the model's figures only, since their images are built by their own toolchains."""
    from repcount.device.emulator import build  # not at the top: the emulator renders firmware

    tflite = project.model.tflite
    native_ctx = project.context.get("native")
    geometry = native_ctx["geometry"] if native_ctx and native_ctx["streaming"] else None
    figures: dict[str, Any] = {"tflite_bytes": len(tflite.data), **model_figures(tflite, geometry)}
    if project.board.id == QEMU_BOARD:
        elf = build(project.directory)
        model = project.context["model"]
        figures.update(elf_sizes(elf))
        try:
            macs = figures["macs_computed_per_inference"]
            figures.update(cost_figures(elf, model["sample_rate_hz"], model["hop"], macs))
        except NoCostCounter as exc:
            project.warnings.append(str(exc))
            figures.update(instructions_per_inference=None, instructions_per_second=None)
    return figures
