"""Firmware that must not pass: built for another model (refused before any replay), and
built with one weight byte changed (fails comparison a, naming the first differing output).
On the emulator, for the first model."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from hil_devices import Device
from repcount.data.recordings import Recording
from repcount.device import hil
from repcount.device.emulator import Emulator, build, model_firmware
from repcount.device.link import Link
from repcount.learn import tflite_model

pytestmark = [pytest.mark.device, pytest.mark.one_model]

# The native engine stores convolution weights as int8 or, packed two int16 to a word for
# the Cortex-M4's dual multiply-accumulate, as int32: either way bit 6 of the first number
# belongs to one weight.
FIRST_WEIGHTS = re.compile(r"static const (int8_t|int32_t) rc_k\d+_w\[\] = \{\s*(-?\d+)")


def flip(value: int, ctype: str = "int8_t") -> int:
    """`value` with bit 6 flipped: one weight changed by 64 steps (sign kept in range)."""
    if ctype == "int32_t":
        return value ^ 0x40
    return ((value & 0xFF) ^ 0x40) - (256 if (value & 0xFF) ^ 0x40 >= 128 else 0)


def another_model(model_dir: Path, out: Path) -> Path:
    """A copy of the model with one weight byte of its first convolution changed: another model."""
    m = tflite_model.read(model_dir / "model.tflite")
    conv = next(op for op in m.ops if op.name == "CONV_2D")
    weights = m.tensors[conv.inputs[1]].data
    assert weights is not None
    data = bytearray(m.data)
    at = data.find(weights.tobytes())
    assert at > 0 and data.find(weights.tobytes(), at + 1) < 0
    data[at] ^= 0x40
    out.mkdir(parents=True)
    (out / "model.tflite").write_bytes(bytes(data))
    card = json.loads((model_dir / "card.json").read_text())
    (out / "card.json").write_text(json.dumps({**card, "model_hash": tflite_model.model_hash(bytes(data))}))
    return out


def test_firmware_built_for_another_model_is_refused(
    hil_target: hil.Target, hil_data: list[Recording], needs_emulator: Device, tmp_path: Path
) -> None:
    other = another_model(hil_target.directory, tmp_path / "other-model")
    project = model_firmware(other, tmp_path / "fw-other")
    with Emulator(project) as emu, Link.open(emu.url) as link:
        with pytest.raises(hil.HilError) as exc:
            hil.run_hil(link, hil_target, hil_data[:1])
        assert link.device_stats().frames_ok <= 4  # HELLO and STATS only: nothing was replayed
    other_hash = tflite_model.model_hash((other / "model.tflite").read_bytes())
    message = str(exc.value)
    assert f"the firmware runs model {other_hash}" in message
    assert f"but {hil_target.directory} is {hil_target.identity['model_hash']}" in message
    assert f"repcount firmware --model {hil_target.directory}" in message


def test_firmware_with_a_perturbed_weight_fails_comparison_a_naming_the_first_difference(
    hil_target: hil.Target, hil_data: list[Recording], needs_emulator: Device, tmp_path: Path
) -> None:
    assert needs_emulator.firmware is not None
    project = tmp_path / "fw-broken"
    shutil.copytree(needs_emulator.firmware, project, ignore=shutil.ignore_patterns("build", "*.o", "*.elf"))
    source = project / "src" / "rc_engine_native.c"
    text = source.read_text()
    m = FIRST_WEIGHTS.search(text)
    assert m is not None, "no weight table in the generated engine"
    source.write_text(text[: m.start(2)] + str(flip(int(m[2]), m[1])) + text[m.end(2) :])
    build(project)
    with Emulator(project) as emu, Link.open(emu.url) as link:
        result = hil.run_hil(link, hil_target, hil_data[:1])  # same model hash: accepted, then compared
    failure = result.failures["bitexact"]
    assert failure is not None and result.bitexact["bitexact_mismatches"] > 0
    first = result.bitexact["first_mismatch"]
    name = re.escape(hil.recording_names(hil_data)[0])
    assert re.fullmatch(
        rf"\d+ of \d+ int8 outputs differ from the tflite_micro runtime; first: recording "
        rf"{name}, inference {first['inference']}, output index {first['index']}: "
        rf"device {first['device']}, reference {first['reference']}",
        failure,
    )
    assert first["device"] != first["reference"]
    summary = result.summary()
    assert not summary["passed"] and summary["error"].startswith(f"comparison bitexact failed: {failure}")
