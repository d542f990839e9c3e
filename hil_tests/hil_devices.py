"""Where the suite finds its device: a board on a port, or the emulator running firmware that
the suite renders and builds for the model under test."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

QEMU_BOARD = "qemu-mps2-an386"


def worker_index() -> int:
    """0 without xdist, N on worker gwN: picks this worker's --port on a bench of boards."""
    return int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)


@dataclass
class Device:
    """Where the device under test answers, and the emulator behind it (None for a board)."""

    url: str
    emulator: Any = None
    firmware: Path | None = None


def render_firmware(model_dir: Path, out: Path) -> Path:
    """Render the model's qemu-mps2-an386 project (native engine) into `out` and build it."""
    from repcount.device.emulator import build
    from repcount.firmware import render as firmware

    card_mount = firmware.open_model(model_dir).card.mount
    mount = card_mount if card_mount in ("wrist", "handle") else "wrist"
    firmware.render(model_dir, QEMU_BOARD, out, engine="native", mount=mount)
    build(out)
    return out
