"""Run a firmware project on the emulated Cortex-M4F board (QEMU's Arm MPS2 AN386).

Builds the project if needed (`make` in its directory), starts qemu-system-arm with the
board's UART on a local TCP port, waits until the firmware answers the protocol's HELLO,
and prints the URL to give to any repcount command that takes `--port` (pyserial opens it
like a serial port) as the first line of stdout. It runs until you press Ctrl-C (or
SIGTERM, or the firmware ends the emulator), and never leaves QEMU behind.

Examples:
  repcount firmware --model models/jumprope-wrist --board qemu-mps2-an386 \\
      --engine native --out out/fw-qemu
  repcount emulate --firmware out/fw-qemu
      socket://127.0.0.1:40123            (first line of stdout: the URL)
  repcount hil --port socket://127.0.0.1:40123 ...   (in another terminal)

Exit code: 0 when the firmware ended the emulator with exit code 0 (or on Ctrl-C: 130),
1 when it ended with another code, 2 on bad input (a --port outside 1-65535 or taken, a
--timeout that is not a positive number of seconds) or a firmware that faulted or never
answered. The emulated board: docs/emulator.md.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
from pathlib import Path

from repcount.device.emulator import EXIT_FAULT, Emulator
from repcount.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--firmware", required=True, type=Path, metavar="DIR",
        help="a qemu-mps2-an386 project from `repcount firmware` (built with make if needed), or its .elf",
    )  # fmt: skip
    parser.add_argument(
        "--port", metavar="PORT",
        help="TCP port for the UART, 1-65535 (default: a free one, printed as socket://127.0.0.1:PORT)",
    )  # fmt: skip
    parser.add_argument(
        "--timeout", default="20", metavar="S",
        help="seconds to wait for the firmware to answer HELLO, more than 0 (default 20)",
    )  # fmt: skip


def tcp_port(text: str | None) -> int | None:
    """--port as a TCP port number, or None; a UserError for anything else (one line, no usage)."""
    if text is None:
        return None
    try:
        port = int(text)
    except ValueError:
        raise UserError(f"--port {text}: not a number; give a TCP port from 1 to 65535") from None
    if not 1 <= port <= 65535:
        raise UserError(f"--port {port}: not a TCP port; give one from 1 to 65535, or leave --port out")
    return port


def seconds(text: str) -> float:
    """--timeout as a positive, finite number of seconds; a UserError otherwise."""
    try:
        value = float(text)
    except ValueError:
        raise UserError(f"--timeout {text}: not a number of seconds; give e.g. --timeout 20") from None
    if not math.isfinite(value) or value <= 0:
        raise UserError(f"--timeout {text}: must be a number of seconds above 0, e.g. --timeout 20")
    return value


def _raise_interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    port, timeout = tcp_port(args.port), seconds(args.timeout)
    # SIGTERM (e.g. from a script or CI) ends the command like Ctrl-C: through `finally`.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    with Emulator(args.firmware, port=port, ready_timeout=timeout) as emu:
        print(emu.url, flush=True)
        info = emu.info
        print(
            f"repcount emulate: {info.board} running {info.engine} engine, model {info.model_hash}, "
            f"firmware {info.firmware_version}; QEMU pid {emu.pid}. Ctrl-C to stop.",
            file=sys.stderr,
            flush=True,
        )
        code = emu.wait()
        fault = emu.fault()
    if code == EXIT_FAULT:
        raise UserError(
            f"the firmware faulted: {fault or 'no report'}; find the pc with "
            "`arm-none-eabi-addr2line -e build/firmware.elf PC` in the project"
        )
    print(f"repcount emulate: the firmware ended the emulator with exit code {code}", file=sys.stderr)
    return 0 if code == 0 else 1
