"""Where the suite finds its device: a board on a port, or the emulator running firmware that
the suite renders and builds for the model under test (repcount.device.emulator.model_firmware)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from repcount.device.emulator import Emulator


def worker_index() -> int:
    """0 without xdist, N on worker gwN: picks this worker's --port on a bench of boards."""
    return int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)


@dataclass
class Device:
    """Where the device under test answers, and the emulator behind it (None for a board)."""

    url: str
    emulator: Emulator | None = None
    firmware: Path | None = None
