"""The portable core (rc_pipeline.c) built and run on the host, checked against Python.

The C is rendered from the real templates, compiled warning-free as C99 with the host
compiler (under AddressSanitizer and UBSan) and with arm-none-eabi-gcc for the
Cortex-M4F, then driven by tests/c/core_test_main.c with a stand-in engine. Every
behaviour is compared with the Python reference it must equal: `repcount.learn.quant`
(input quantisation), `repcount.learn.counting` (the counter, through the shared vectors in
tests/vectors/counting.json) and the resampling / remap rules written out below.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from repcount.firmware import boards
from repcount.firmware import render as firmware
from repcount.firmware.templates import write_to
from repcount.learn import quant
from repcount.learn.counting import CountingParams, count_events, stream

HERE = Path(__file__).parent
C_DIR = HERE / "c"
VECTORS = json.loads((HERE / "vectors" / "counting.json").read_text())
CC = shutil.which("cc") or shutil.which("gcc")
ARM_CC = shutil.which("arm-none-eabi-gcc")
WARNINGS = ["-std=c99", "-Wall", "-Wextra", "-Werror"]
ARM_FLAGS = ["-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard", "-Os"]

# A card like a shipped one, with an input rescale that exercises rounding and saturation.
CARD = {
    "name": "core-test", "task": "jump-rope", "mount": "wrist",
    "sample_rate_hz": 50, "full_scale_g": 8, "window": 24, "hop": 8, "input_len": 72, "output_len": 12,
    "input": {"scale": 0.0441941738, "zero_point": -3, "multiplier": 1518500250, "shift": -5},
    "output": {"scale": 1 / 256, "zero_point": -128},
    "counting": {"threshold": 30, "refractory": 2, "take_start": 4, "take_count": 4, "out_stride": 2,
                 "event_offset_s": 0.0},
    "model_hash": "0123456789abcdef", "tflite_bytes": 0, "ops": [],
}

COUNTING_KEYS = ("threshold", "refractory", "take_start", "take_count", "out_stride")  # CountingParams order


def model_context(card: dict) -> dict:
    """The model names rc_config.h.j2 reads, from a card (the renderer takes the same ones
    from the card and the .tflite)."""
    model_hash = card["model_hash"]
    return {
        **{k: card[k] for k in ("name", "task", "mount", "window", "hop", "input_len", "output_len",
                                "tflite_bytes")},
        "sample_rate_hz": int(card["sample_rate_hz"]),  # integers in C, as the renderer writes them
        "full_scale_g": int(card["full_scale_g"]),
        **{f"input_{k}": card["input"][k] for k in ("multiplier", "shift", "zero_point")},
        **{k: card["counting"][k] for k in COUNTING_KEYS},
        "hash": model_hash,
        "hash_bytes": [f"0x{model_hash[i:i + 2]}" for i in range(0, 16, 2)],
    }


def render_core(out: Path, board_id: str = "xiao-nrf52840-sense", mount: str = "handle",
                card: dict | None = None) -> Path:
    """rc_pipeline.[ch] and rc_engine.h as they stand, with rc_config.h rendered for this
    card and board as `repcount firmware` renders it."""
    context = {
        "model": model_context(card or CARD),
        "board": firmware.board_context(boards.load(board_id), mount),
        "engine": "test",
        "firmware_version": "test",
    }
    for name in ("rc_pipeline.h", "rc_pipeline.c", "rc_engine.h", "rc_requant.h", "rc_config.h.j2"):
        write_to(f"core/{name}", context, out / name.removesuffix(".j2"))
    return out


def build(out: Path) -> Path:
    exe = out / "core_test"
    cmd = [CC, *WARNINGS, "-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
           f"-I{out}", f"-I{C_DIR}", str(out / "rc_pipeline.c"), str(C_DIR / "core_fake_engine.c"),
           str(C_DIR / "core_test_main.c"), "-o", str(exe)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return exe


def run(exe: Path, mode: str, numbers: list[int] | np.ndarray) -> list[str]:
    stdin = " ".join(str(int(v)) for v in np.asarray(numbers).ravel())
    proc = subprocess.run([str(exe), mode], input=stdin, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def samples_of(lines: list[str]) -> np.ndarray:
    rows = [[int(v) for v in line.split()[1:]] for line in lines if line.startswith("S ")]
    return np.array(rows, dtype=np.int64).reshape(-1, 3)


pytestmark = pytest.mark.skipif(CC is None, reason="needs a host C compiler")


@pytest.fixture(scope="module")
def core(tmp_path_factory) -> Path:
    out = render_core(tmp_path_factory.mktemp("core"))
    return build(out)


# ---- Python statements of the rules the C follows ----

def resample_reference(x: np.ndarray, in_hz: int, out_hz: int) -> np.ndarray:
    """Output n at time n/out_hz, linear between the inputs around it, half away from zero;
    emitted once the input after it has arrived."""
    outputs = []
    n = 0
    while True:
        pos_num = n * in_hz  # position in input samples = pos_num / out_hz
        i0, frac = divmod(pos_num, out_hz)
        if i0 + 1 >= len(x):
            break
        diff = x[i0 + 1].astype(np.int64) - x[i0]
        prod = diff * frac
        step = np.where(prod >= 0, (prod + out_hz // 2) // out_hz, -((-prod + out_hz // 2) // out_hz))
        outputs.append(x[i0] + step)
        n += 1
    return np.array(outputs, dtype=np.int64).reshape(-1, 3)


def remap_reference(x: np.ndarray, board_id: str, mount: str) -> np.ndarray:
    r = boards.load(board_id).remap(mount)
    out = x[:, list(r.index)].astype(np.int64) * np.array(r.sign)
    return np.clip(out, -32768, 32767)


# ---- Tests ----

SHIPPED_CARDS = sorted((HERE.parent / "models").glob("*/card.json"))


@pytest.mark.parametrize("card_path", [None, *SHIPPED_CARDS],
                         ids=["test card", *(p.parent.name for p in SHIPPED_CARDS)])
def test_core_compiles_warning_free_for_cortex_m4f_without_floating_point(tmp_path, card_path):
    if ARM_CC is None:
        pytest.skip("needs arm-none-eabi-gcc (make toolchain)")
    card = json.loads(card_path.read_text()) if card_path else None
    out = render_core(tmp_path, board_id="nano33ble-sense-rev2", card=card)
    obj = tmp_path / "rc_pipeline.o"
    subprocess.run([ARM_CC, *WARNINGS, *ARM_FLAGS, f"-I{tmp_path}", "-c", str(out / "rc_pipeline.c"),
                    "-o", str(obj)], check=True, capture_output=True, text=True)
    # No floating point: no FPU instruction and no soft-float helper in the object.
    disassembly = subprocess.run(["arm-none-eabi-objdump", "-d", str(obj)], check=True,
                                 capture_output=True, text=True).stdout
    assert not re.search(r"\tv(add|sub|mul|div|cvt|mov|ldr|str)\.?", disassembly)
    undefined = subprocess.run(["arm-none-eabi-nm", "-u", str(obj)], check=True, capture_output=True,
                               text=True).stdout
    assert not re.search(r"__aeabi_[fd]|__(add|sub|mul|div)[sd]f", undefined), undefined


def test_core_has_no_heap(tmp_path):
    out = render_core(tmp_path)
    source = (out / "rc_pipeline.c").read_text()
    assert not re.search(r"\b(malloc|calloc|realloc|free)\s*\(", source)


def test_input_quantisation_equals_quantize_input(core):
    raw = np.concatenate([np.arange(-32768, 32768, 97), [-32768, -1, 0, 1, 32767],
                          np.random.default_rng(1).integers(-32768, 32768, 500)]).astype(np.int16)
    got = np.array([int(v) for v in run(core, "quantize", [raw.size, *raw])])
    i = CARD["input"]
    expected = quant.quantize_input(raw, i["multiplier"], i["shift"], i["zero_point"])
    assert np.array_equal(got, expected)
    assert got.min() == -128 and got.max() == 127  # saturation was exercised


def test_mbqm_equals_tflm_rounding_reference(core):
    rng = np.random.default_rng(7)
    triples = []
    for _ in range(400):
        m, s = quant.quantize_multiplier(float(rng.uniform(1e-6, 3.0)))
        x = int(rng.integers(-(2**20), 2**20)) if s > 0 else int(rng.integers(-(2**31), 2**31))
        triples.append((x, m, s))
    triples += [(-(2**31), 2**31 - 1, 0), (12345, 0, 0), (-5, 1 << 30, -1), (5, 1 << 30, -1)]
    got = [int(v) for v in run(core, "mbqm", [len(triples), *[v for t in triples for v in t]])]
    assert got == [quant.mbqm(x, m, s) for x, m, s in triples]


@pytest.mark.parametrize("case", VECTORS["cases"], ids=[c["name"] for c in VECTORS["cases"]])
def test_counting_vectors_python_reference(case):
    params = CountingParams(case["threshold"], case["refractory"], case["take_start"], case["take_count"],
                            case["out_stride"])
    assert count_events(case["outputs"], params) == case["events"]


@pytest.mark.parametrize("case", VECTORS["cases"], ids=[c["name"] for c in VECTORS["cases"]])
def test_counting_vectors_c_twin(core, case):
    params = CountingParams(case["threshold"], case["refractory"], case["take_start"], case["take_count"],
                            case["out_stride"])
    scores = list(stream(case["outputs"], params))
    lines = run(core, "counter", [case["threshold"], case["refractory"], len(scores), *scores])
    assert [int(line.split()[1]) for line in lines] == case["events"]


def test_pipeline_schedules_windows_quantises_and_counts_like_the_reference(core):
    """Ring buffer, window/hop scheduling and quantisation (the engine's inputs) and
    counting over the taken slice (the events), against Python over 50 inferences."""
    rng = np.random.default_rng(3)
    window, hop, out_len = CARD["window"], CARD["hop"], CARD["output_len"]
    n_samples = window + 50 * hop + 5  # 5 extra samples: no inference for a partial hop
    raw = rng.integers(-32768, 32768, (n_samples, 3)).astype(np.int16)
    n_inf = (n_samples - window) // hop + 1
    t = np.arange(n_inf * out_len)
    outputs = np.clip(120 * np.cos(t / 1.7) ** 6 - 90 + rng.normal(0, 20, t.size), -128, 127)
    outputs = outputs.astype(np.int64).reshape(n_inf, out_len)
    lines = run(core, "pipeline", [n_samples, n_inf, *outputs.ravel(), *raw.ravel()])

    i = CARD["input"]
    q = quant.quantize_input(raw, i["multiplier"], i["shift"], i["zero_point"])
    inferences = [line.split() for line in lines if line.startswith("I ")]
    assert [int(f[1]) for f in inferences] == list(range(n_inf))
    for k, fields in enumerate(inferences):
        expected = q[k * hop:k * hop + window].ravel()  # time-major, x y z interleaved
        assert np.array_equal(np.array(fields[2:], dtype=np.int64), expected), f"inference {k}"
    params = CountingParams(*(CARD["counting"][k] for k in COUNTING_KEYS))
    expected_events = count_events(outputs.tolist(), params)
    events = [line.split() for line in lines if line.startswith("E ")]
    assert [int(e[1]) for e in events] == expected_events
    assert [int(e[2]) for e in events] == list(range(1, len(expected_events) + 1))
    assert lines[-1] == f"T {len(expected_events)}"
    assert len(expected_events) >= 5  # the stream really had peaks
    assert not any(line.startswith("X") for line in lines)


@pytest.mark.parametrize("in_hz,out_hz", [(104, 50), (100, 50), (50, 50), (26, 50), (52, 50), (20, 50)])
def test_resampler_matches_linear_interpolation(core, in_hz, out_hz):
    x = np.random.default_rng(in_hz).integers(-32768, 32768, (300, 3)).astype(np.int64)
    x[:20] = [[32767, -32768, 0]] * 20  # extremes must not overflow the interpolation
    got = samples_of(run(core, "resample", [in_hz, out_hz, len(x), *x.ravel()]))
    expected = resample_reference(x, in_hz, out_hz)
    assert np.array_equal(got, expected)
    # the output rate is the model's: one output per 1/out_hz s of input
    assert abs(len(got) - (len(x) - 1) * out_hz / in_hz) <= 1


def test_imu_path_remaps_and_resamples_for_the_board(core):
    """xiao-nrf52840-sense, handle mount: remap (+y, -x, +z) then its IMU rate -> 50 Hz."""
    x = np.random.default_rng(5).integers(-32768, 32768, (208, 3)).astype(np.int64)
    x[0] = [-32768, -32768, -32768]  # negating -32768 saturates to 32767
    got = samples_of(run(core, "imu", [len(x), *x.ravel()]))
    remapped = remap_reference(x, "xiao-nrf52840-sense", "handle")
    assert remapped[0].tolist() == [-32768, 32767, -32768]
    odr = boards.load("xiao-nrf52840-sense").imu.odr_hz
    assert np.array_equal(got, resample_reference(remapped, odr, 50))


def test_imu_path_rescales_a_smaller_imu_range_to_the_models(tmp_path):
    """nano33ble-sense-rev2: the library's +-4 g counts become counts at the model's +-8 g."""
    exe = build(render_core(tmp_path, board_id="nano33ble-sense-rev2", mount="wrist"))
    x = np.array([[4096, -4096, 1], [-3, 3, 32767], [-32768, 0, 2]] * 4, dtype=np.int64)
    # 100 Hz -> 50 Hz keeps every other sample exactly (the interpolation phase is 0)
    got = samples_of(run(exe, "imu", [len(x), *x.ravel()]))
    x = remap_reference(x, "nano33ble-sense-rev2", "wrist")  # the library's mirrored x, y undone
    half = np.where(x >= 0, (x + 1) // 2, -((-x + 1) // 2))  # x * 4 / 8, half away from zero
    assert np.array_equal(got, half[0:len(x) - 1:2])


def test_remap_of_each_mount(tmp_path):
    x = np.array([[1, 2, 3], [-32768, 5, -6]])
    for board_id in ("m5stickc-plus", "nano33ble-sense-rev2"):
        for mount in ("wrist", "handle"):
            exe = build(render_core(tmp_path / f"{board_id}-{mount}", board_id=board_id, mount=mount))
            got = samples_of(run(exe, "remap", [len(x), *x.ravel()]))
            assert np.array_equal(got, remap_reference(x, board_id, mount)), (board_id, mount)
