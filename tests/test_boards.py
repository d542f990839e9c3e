"""The real boards' axes: what each IMU library returns, and what the model sees.

The simulator's IMU and the shipped models assume a right-handed sensor frame that reads
+1 g on +z when it lies flat, face up (specific force, docs/signal-model.md, "Frames and
units"); training turns recordings by rotations only, so a mirrored frame is something no
shipped model has seen. Each real board's profile says what its library returns relative
to the axes printed on the board (`[imu] frame`) and, per mount, the remap from what is
read to the model's axes. These tests push gravity through both, with the remap taken
from the rc_config.h the renderer writes and applied with the core's rules (negation
saturates, counts rescaled to the model's range, rounded half away from zero).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from hostdevice import build_device, running_device
from repcount.device import emulator
from repcount.device import protocol as P
from repcount.device.link import Link
from repcount.firmware import boards, templates
from repcount.firmware import render as firmware

REAL_BOARDS = ("nano33ble-sense-rev2", "xiao-nrf52840-sense", "m5stickc-plus")
# Each mount in the printed axes (docs/firmware.md, "Walkthrough"): wrist: flat on the
# back of the left wrist, the model's axes are the printed ones; handle: along the rope
# handle, model x, y, z = printed y, -x, z.
MOUNT_IN_PRINTED_AXES = {"wrist": ["+x", "+y", "+z"], "handle": ["+y", "-x", "+z"]}
MODEL_FULL_SCALE_G = 8  # the shipped models' range (their cards)


def matrix(r: boards.Remap) -> np.ndarray:
    """out = M @ in for `out[i] = sign[i] * in[index[i]]`."""
    m = np.zeros((3, 3), dtype=int)
    for i in range(3):
        m[i, r.index[i]] = r.sign[i]
    return m


def axes(spec: list[str]) -> np.ndarray:
    return matrix(boards._parse_remap("test", "test", spec))


def rendered_remap(board_id: str, mount: str, tmp_path) -> boards.Remap:
    """The remap as the firmware has it: RC_REMAP_INDEX_i / RC_REMAP_SIGN_i of rc_config.h."""
    context = {
        "model": {"name": "m", "task": "t", "mount": mount, "window": 64, "hop": 16, "input_len": 192,
                  "output_len": 16, "tflite_bytes": 0, "sample_rate_hz": 50,
                  "full_scale_g": MODEL_FULL_SCALE_G, "input_multiplier": 1 << 30, "input_shift": -7,
                  "input_zero_point": 0, "threshold": 0, "refractory": 1, "take_start": 0,
                  "take_count": 16, "out_stride": 4, "hash": "0" * 16, "hash_bytes": ["0x00"] * 8},
        "board": firmware.board_context(boards.load(board_id), mount),
        "engine": "test",
        "firmware_version": "test",
    }
    header = tmp_path / f"{board_id}-{mount}.h"
    templates.write_to("core/rc_config.h.j2", context, header)
    text = header.read_text()
    index = [int(re.search(rf"#define RC_REMAP_INDEX_{i} (\d)", text).group(1)) for i in range(3)]
    sign = [int(re.search(rf"#define RC_REMAP_SIGN_{i} \((-?1)\)", text).group(1)) for i in range(3)]
    return boards.Remap(index=tuple(index), sign=tuple(sign))  # type: ignore[arg-type]


def core_imu_path(read: np.ndarray, remap: boards.Remap, imu_g: int, model_g: int) -> list[int]:
    """rc_remap then rc_rescale_counts, as rc_pipeline.c does them."""
    out = []
    for i in range(3):
        v = int(np.clip(remap.sign[i] * int(read[remap.index[i]]), -32768, 32767))
        num = v * imu_g
        scaled = (num + model_g // 2) // model_g if num >= 0 else -((-num + model_g // 2) // model_g)
        out.append(int(np.clip(scaled, -32768, 32767)))
    return out


@pytest.mark.parametrize("mount", sorted(MOUNT_IN_PRINTED_AXES))
@pytest.mark.parametrize("board_id", REAL_BOARDS)
def test_board_flat_face_up_gives_the_model_plus_one_g_on_z(board_id, mount, tmp_path):
    board = boards.load(board_id)
    one_g = 32768 // board.imu.full_scale_g
    printed = np.array([0, 0, one_g])  # at rest, face up: +1 g out of the component side
    read = matrix(board.imu.frame) @ printed  # what the library hands the glue
    model = core_imu_path(read, rendered_remap(board_id, mount, tmp_path), board.imu.full_scale_g,
                          MODEL_FULL_SCALE_G)
    assert model == [0, 0, 32768 // MODEL_FULL_SCALE_G], (board_id, mount, read.tolist())


@pytest.mark.parametrize("mount", sorted(MOUNT_IN_PRINTED_AXES))
@pytest.mark.parametrize("board_id", REAL_BOARDS)
def test_each_mount_is_the_documented_rotation_of_the_printed_axes(board_id, mount):
    board = boards.load(board_id)
    printed_to_model = matrix(board.remap(mount)) @ matrix(board.imu.frame)
    assert np.array_equal(printed_to_model, axes(MOUNT_IN_PRINTED_AXES[mount])), (board_id, mount)
    # right-handed: a rotation the models were trained on, never a mirror image
    assert round(np.linalg.det(printed_to_model)) == 1


def test_the_nano_librarys_mirrored_frame_is_undone():
    """Arduino_BMI270_BMM150 returns x = -chip y, y = -chip x on the Nano 33 BLE targets
    (upstream issue #44): a left-handed frame that the remaps must undo, not build on."""
    nano = boards.load("nano33ble-sense-rev2")
    assert nano.imu.frame == boards.Remap(index=(1, 0, 2), sign=(-1, -1, 1))
    assert round(np.linalg.det(matrix(nano.imu.frame))) == -1
    for mount in nano.mounts:
        assert round(np.linalg.det(matrix(nano.remap(mount)))) == -1, mount


def test_a_profile_frame_must_be_a_signed_permutation():
    with pytest.raises(ValueError, match="imu.frame"):
        boards._parse({**_profile("xiao-nrf52840-sense"),
                       "imu": {**_profile("xiao-nrf52840-sense")["imu"], "frame": ["+x", "+x", "+z"]}})


def _profile(board_id: str) -> dict:
    return tomllib.loads(resources.files("repcount.firmware.boards").joinpath(f"{board_id}.toml").read_text())


@pytest.mark.parametrize("board_id", REAL_BOARDS)
def test_every_dependency_is_pinned(board_id):
    pio = boards.load(board_id).platformio
    assert re.search(r"@\d+\.\d+\.\d+$|#\d+\.\d+\.\d+$", pio["platform"]), pio["platform"]
    for lib in [*pio["lib_deps"], *pio["tflm_lib_deps"]]:
        assert re.fullmatch(r"[\w.-]+/[\w .-]+@\d+\.\d+\.\d+", lib), lib
    # the TFLM library registers as Chirale_TensorFLowLite (capital L in "FLow")
    assert pio["tflm_lib_deps"] == ["spaziochirale/Chirale_TensorFLowLite@2.0.0"]


CXX = shutil.which("g++") or shutil.which("c++")
STUBS = Path(__file__).parent / "c" / "arduino"


@pytest.mark.skipif(CXX is None, reason="needs a host C++ compiler")
@pytest.mark.parametrize("board_id", REAL_BOARDS)
def test_arduino_glue_compiles_warning_free(board_id, tmp_path):
    """The board's glue and the shared Arduino glue, as rendered, against declarations of
    the real libraries' signatures (tests/c/arduino/): -Wall -Wextra -Werror."""
    firmware.render("jumprope-wrist", board_id, tmp_path, engine="tflm")
    src = tmp_path / "src"
    glue = sorted(src.glob("*.cpp"))
    assert {p.name for p in glue} == {"rc_board.cpp", "rc_arduino.cpp"}
    for source in glue:
        proc = subprocess.run([CXX, "-std=gnu++14", "-fsyntax-only", "-Wall", "-Wextra", "-Werror",
                               f"-I{STUBS}", f"-I{src}", str(source)], capture_output=True, text=True)
        assert proc.returncode == 0, f"{board_id} {source.name}:\n{proc.stderr}"


# ---- The sample path: a slow app loses samples visibly, never silently ----

RATE_HZ = 50  # hostdevice's test geometry: window 20, hop 5 at 50 Hz, IMU at the model's rate


def _recording(path: Path, n: int) -> Path:
    path.write_text("# units: g\n" + "".join(f"{i / RATE_HZ:.3f},0,0,1\n" for i in range(n)))
    return path


def _run_mode_until_the_imu_ends(url: str, timeout: float = 10.0) -> tuple[int, int]:
    """Run mode until the device's IMU ends: (samples the app took, the device's imu_overruns)."""
    with Link.open(url) as link:
        link.hello()
        link.set_mode(P.MODE_RUN)
        ended = next(m for _, m in link.messages(timeout) if isinstance(m, P.Error) and m.code == P.ERR_IMU)
        assert ended.arg0 == 2, ended.describe()  # the stream ended, the IMU did not fail
        return ended.arg1, link.device_stats().imu_overruns


def _run_until_the_imu_ends(exe: Path, recording: Path, speed: str) -> tuple[int, int]:
    """Run mode over the whole recording on a host-linux device."""
    with running_device(exe, "--imu", str(recording), "--speed", speed) as dev:
        return _run_mode_until_the_imu_ends(dev.url)


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a host C compiler")
def test_a_slow_engine_makes_overruns_that_are_counted_never_a_silently_shorter_stream(tmp_path):
    """The host-linux device plays its IMU in real time (10x) like a sensor that does not wait;
    an engine busy for 50 ms per 5-sample hop cannot keep up. Every sample of the recording is
    either taken by the app or counted in STATS as an overrun."""
    n = 2000
    recording = _recording(tmp_path / "imu.rec", n)
    slow = build_device(tmp_path / "slow", extra_flags=("-DRC_STUB_ENGINE_SLOW_MS=50",))
    taken, overruns = _run_until_the_imu_ends(slow, recording, "10")
    assert overruns > 0 and taken + overruns == n, (taken, overruns)
    # the same device with an engine that keeps up loses nothing
    fast = build_device(tmp_path / "fast")
    taken, overruns = _run_until_the_imu_ends(fast, _recording(tmp_path / "short.rec", 300), "2")
    assert (taken, overruns) == (300, 0)


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a host C compiler")
def test_capture_reports_the_devices_imu_overruns(tmp_path):
    """`repcount capture` asks the device's STATS when it stops and reports imu_overruns."""
    exe = build_device(tmp_path / "device")
    out = tmp_path / "cap.rec"
    with running_device(exe, "--imu", str(_recording(tmp_path / "imu.rec", 200)), "--speed", "0") as dev:
        result = subprocess.run(
            [sys.executable, "-m", "repcount.cli", "capture", "--port", dev.url, "--out", str(out),
             "--activity", "jump-rope", "--user", "u01", "--mount", "wrist", "--duration", "2", "--json"],
            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["samples"] == 100 and report["imu_overruns"] == 0


# The emulated board's IMU: timer 0 queues a synthetic sample at the IMU's rate, whatever the
# main loop does (boards/qemu-mps2-an386/rc_imu.c); under -icount its clock is the emulator's
# virtual time, so what an inference costs in samples does not depend on this machine's speed.
SHIPPED_MODEL = Path(__file__).parent.parent / "models" / "jumprope-wrist"
QEMU_TOOLS = ("make", "arm-none-eabi-gcc", emulator.QEMU)


def _emulated_firmware(out: Path, defines: str) -> Path:
    """The shipped model's firmware for the emulated board, built with the board's test options."""
    project = firmware.render(SHIPPED_MODEL, emulator.BOARD, out, engine="native")
    proc = subprocess.run(["make", "-C", str(project.directory), f"DEFINES={defines}"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return emulator.find_elf(project.directory)


@pytest.mark.skipif(any(shutil.which(t) is None for t in QEMU_TOOLS), reason="needs the Arm tools")
def test_on_the_emulated_board_a_slow_engine_makes_overruns_counted_never_a_shorter_stream(tmp_path):
    """An engine that busy-waits 2 s per inference (a hop is 32 samples, 640 ms at 50 Hz) fills
    the board's 256-sample queue: every sample the IMU made is taken or counted in STATS."""
    n = 1000
    slow = _emulated_firmware(tmp_path / "slow", f"-DRC_QEMU_IMU_SAMPLES={n} -DRC_QEMU_ENGINE_SLOW_MS=2000")
    with emulator.Emulator(slow) as emu:
        taken, overruns = _run_mode_until_the_imu_ends(emu.url, timeout=120.0)
    assert overruns > 0 and taken + overruns == n, (taken, overruns)
    # the same board with the real engine's speed keeps up (250 samples: 5 s of virtual time),
    # and a capture streams every sample the IMU made, in order (x is the sample's number)
    fast = _emulated_firmware(tmp_path / "fast", "-DRC_QEMU_IMU_SAMPLES=250")
    with emulator.Emulator(fast) as emu:
        assert _run_mode_until_the_imu_ends(emu.url, timeout=60.0) == (250, 0)
        with Link.open(emu.url) as link:
            link.hello()
            link.set_mode(P.MODE_CAPTURE)
            batches = []
            for _, m in link.messages(60.0):
                if isinstance(m, P.Samples):
                    batches.append(m.xyz)
                elif isinstance(m, P.Error):
                    assert (m.code, m.arg0, m.arg1) == (P.ERR_IMU, 2, 250), m.describe()
                    break
            assert link.device_stats().imu_overruns == 0
    xyz = np.concatenate(batches)
    assert xyz[:, 0].tolist() == list(range(250))
    assert (xyz[:, 1:] == [0, 32768 // MODEL_FULL_SCALE_G]).all()
