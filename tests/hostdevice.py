"""Build and run the host-linux device (the firmware's portable core as a Linux program).

Two builds:
- `build_firmware`: the real thing, `repcount.firmware.render.render(model, "host-linux",
  engine="native")` and the generated Makefile, for the capture tests;
- `build_device`: the core templates rendered here with a tiny model geometry and the stub
  engine of tests/c/stub_engine.c, whose outputs a test can predict exactly (replay
  checks of the protocol and the app, engine failure reports). Everything else is the
  real firmware code: the protocol, the app, the pipeline and the host-linux board glue.
"""

from __future__ import annotations

import ctypes
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from repcount import __version__
from repcount.firmware.templates import write_to
from repcount.learn import quant

C_DIR = Path(__file__).parent / "c"
STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror"]
ARM = ["-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard", "-mthumb"]
INPUT_SCALE = 0.0625  # g per int8 step of the test geometry's input

CORE = ["rc_protocol.h", "rc_protocol.c", "rc_app.h", "rc_app.c", "rc_pipeline.h", "rc_pipeline.c",
        "rc_engine.h", "rc_requant.h", "rc_config.h.j2", "rc_protocol_defs.h.j2"]


def context(rate_hz: int = 50, full_scale_g: int = 8) -> dict:
    """A render context with the names the core templates use (a tiny model geometry)."""
    multiplier, shift = quant.input_rescale(full_scale_g, INPUT_SCALE)
    model_hash = "0123456789abcdef"
    model = {
        "name": "protocol-test", "task": "jump-rope", "mount": "wrist",
        "window": 20, "hop": 5, "input_len": 60, "output_len": 5,
        "take_start": 0, "take_count": 5, "out_stride": 1, "threshold": 64, "refractory": 3,
        "sample_rate_hz": rate_hz, "full_scale_g": full_scale_g,
        "input_multiplier": multiplier, "input_shift": shift, "input_zero_point": 0,
        "output_zero_point": 0, "hash": model_hash, "model_hash": model_hash,
        "hash_bytes": [f"0x{model_hash[i:i + 2]}" for i in range(0, 16, 2)], "tflite_bytes": 0,
    }
    board = {
        "id": "host-linux", "mount": "wrist",
        "remap": [{"index": i, "sign": 1} for i in range(3)],
        "imu": {"odr_hz": rate_hz, "full_scale_g": full_scale_g}, "baud": 115200, "platformio": {},
    }
    return {"model": model, "board": board, "engine": "stub", "model_rows": [],
            "firmware_version": __version__}


def render_core(out: Path, ctx: dict | None = None) -> list[Path]:
    ctx = ctx or context()
    files = [write_to(f"core/{name}", ctx, out / name.removesuffix(".j2")) for name in CORE]
    files.append(write_to("boards/host-linux/rc_board_linux.c", ctx, out / "rc_board_linux.c"))
    shutil.copy(C_DIR / "stub_engine.c", out / "stub_engine.c")
    return files + [out / "stub_engine.c"]


def build_device(out: Path, extra_flags: tuple[str, ...] = ()) -> Path:
    """Render and compile the host-linux device; returns the program's path."""
    render_core(out)
    exe = out / "repcount-device"
    sources = sorted(str(p) for p in out.glob("*.c"))
    cmd = ["cc", *STRICT, "-O1", *extra_flags, f"-I{out}", *sources, "-lm"]
    subprocess.run([*cmd, "-o", str(exe)], check=True, capture_output=True, text=True)
    return exe


def build_firmware(out: Path) -> Path:
    """Render the host-linux project with the native engine and `make` it; the program's path.

    The model is a shipped one when models/ has any, else a small one converted with
    TensorFlow by tests/firmware_models.py.
    """
    from repcount.firmware import render as firmware

    shipped = sorted(p.parent for p in (Path(__file__).parents[1] / "models").glob("*/card.json"))
    if shipped:
        model_dir = shipped[0]
    else:
        import firmware_models

        data = firmware_models.convert("sigmoid")
        model_dir = firmware_models.write_model_dir(out / "model", data, "fixture")
    project = firmware.render(model_dir, "host-linux", out / "project", engine="native")
    subprocess.run(["make", "-C", str(project.directory)], check=True, capture_output=True, text=True)
    return project.directory / "build" / "repcount-device"


def _die_with_parent() -> None:
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Device:
    """A running device: its serial URL, and the LED/count lines it printed."""

    def __init__(self, proc: subprocess.Popen, url: str) -> None:
        self.proc = proc
        self.url = url
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))


@contextmanager
def running_device(exe: Path, *args: str) -> Iterator[Device]:
    """Start the device and stop it (SIGTERM, then SIGKILL) whatever happens."""
    proc = subprocess.Popen([str(exe), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=_die_with_parent)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        if not first.startswith("serial: "):
            error = proc.stderr.read() if proc.stderr else ""
            raise RuntimeError(f"the device did not start: {first!r} {error}")
        yield Device(proc, first.removeprefix("serial: "))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
