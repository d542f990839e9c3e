"""The native engine generator: refusals, the arena plan, MAC counts, and the Cortex-M4 build.

Bit-exactness itself is tests/test_native_bitexact.py; here: what a user sees when the
model cannot run natively, that the planned arena never lets two live tensors share a
byte and is no larger than TFLM's measured arena, that the convolution weights laid out
for SMLAD give the plain dot products, and that the generated C builds for a Cortex-M4F
warning-free, with no floating point and no external symbol at all.
"""

from __future__ import annotations

import shutil
import subprocess
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from native_harness import compiler, render_model
from repcount.errors import UserError
from repcount.firmware import engines
from repcount.firmware.native import generate as native
from repcount.firmware.native import ops as native_ops
from repcount.firmware.native import stream
from repcount.learn import tflm
from repcount.learn.tflite_model import read
from tflite_builder import GENERATORS, INT8, ModelBuilder, random_model

ARM_GCC = shutil.which("arm-none-eabi-gcc")
# the flags the brief asks for, plus -pedantic -Wconversion: boards' builds may be stricter
ARM_FLAGS = ["-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-Wconversion", "-mcpu=cortex-m4",
             "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard", "-Os"]


def _conv_chain(length: int = 64, channels: tuple[int, ...] = (3, 16, 16, 8), tail: str = "") -> bytes:
    """Input (1, length, 1, c0) through (5, 1) SAME convolutions, optionally one more op."""
    b = ModelBuilder()
    x = b.act((1, length, 1, channels[0]), 0.05, 3)
    first = x
    rng = np.random.default_rng(5)
    for c_in, c_out in zip(channels, channels[1:], strict=False):
        w = b.tensor((c_out, 5, 1, c_in), INT8, np.full(c_out, 0.01, np.float32), np.zeros(c_out, np.int64),
                     0, rng.integers(-127, 128, (c_out, 5, 1, c_in)).astype(np.int8))
        bias = b.tensor((c_out,), 2, np.full(c_out, np.float32(0.05) * np.float32(0.01)),
                        np.zeros(c_out, np.int64), 0, np.zeros(c_out, np.int32))
        y = b.act((1, length, 1, c_out), 0.05, -5)
        o = b.s.Conv2DOptionsT()
        o.padding, o.strideH, o.strideW, o.dilationHFactor, o.dilationWFactor = 0, 1, 1, 1, 1
        b.op("CONV_2D", [x.index, w, bias], [y.index], o, "Conv2DOptions")
        x = y
    if tail:
        y = b.act(x.shape, 1 / 256, -128) if tail == "LOGISTIC" else b.act(x.shape, 0.05, 0)
        b.op(tail, [x.index], [y.index])
        x = y
    return b.finish([first.index], [x.index])


def test_unsupported_op_fails_at_generation_with_its_name(tmp_path: Path) -> None:
    model = read(_conv_chain(tail="TANH"))
    refusal = r"operator #3 is TANH, which the native engine does not support .*adding-an-op"
    with pytest.raises(UserError, match=refusal):
        native.generate(model, tmp_path)
    assert not (tmp_path / "rc_engine_native.c").exists()
    with pytest.raises(UserError, match=refusal):  # the builders' dispatch refuses it too
        native_ops.kernels_of(model, model.ops[3])


def test_op_registry_is_complete() -> None:
    """Every op of engines.toml [native.ops] has its builder, every C kernel its section in
    kernels.c.j2 and its helpers in arith.c.j2, and the random models can emit every op:
    so the bit-exact test covers whatever the registry lists."""
    ops = engines.supported_ops("native")
    assert set(native_ops.builders()) == set(ops)
    templates = Path(str(resources.files("repcount.firmware_templates"))) / "engines" / "native"
    kernels, arith = (templates / "kernels.c.j2").read_text(), (templates / "arith.c.j2").read_text()
    for kernel, helpers in engines.native_kernel_helpers().items():
        assert f'"{kernel}" in kernels' in kernels and f"static void {kernel}(" in kernels, kernel
        for helper in helpers:
            assert f'"{helper}" in helpers' in arith, (kernel, helper)
    assert set(GENERATORS) == set(ops), "tests/tflite_builder.GENERATORS must cover the registry"


def test_registry_naming_a_missing_builder_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    native_ops.builders.cache_clear()
    monkeypatch.setattr(engines, "native_builders", lambda: {"CONV_2D": "conv", "TANH": "tanh"})
    try:
        with pytest.raises(UserError, match=r"\[native.ops\] TANH = 'tanh'.*no function of that name"):
            native_ops.builders()
    finally:
        native_ops.builders.cache_clear()


def test_kernel_missing_from_the_registry_is_reported(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    helpers = {k: v for k, v in engines.native_kernel_helpers().items() if k != "rc_conv"}
    monkeypatch.setattr(engines, "native_kernel_helpers", lambda: helpers)
    with pytest.raises(UserError, match=r"rc_conv \(built for CONV_2D\) has no entry in \[native.kernels\]"):
        native.generate(read(_conv_chain()), tmp_path)


def test_float_tensor_is_refused_with_the_fix(tmp_path: Path) -> None:
    b = ModelBuilder()
    x = b.act((1, 4), 0.1, 0)
    f = b.tensor((1, 4), 0)  # float32
    b.op("DEQUANTIZE", [x.index], [f])
    y = b.act((1, 4), 0.1, 0)
    b.op("QUANTIZE", [f], [y.index])
    model = read(b.finish([x.index], [y.index]))
    with pytest.raises(UserError, match="DEQUANTIZE"):
        native.generate(model, tmp_path)
    model.ops = model.ops[1:]  # QUANTIZE from a float tensor alone: the dtype check speaks
    model.inputs = [f]
    with pytest.raises(UserError, match="float32 tensor .*int8 models only"):
        native.generate(model, tmp_path)


def test_macs_count_every_kernel_tap() -> None:
    model = read(_conv_chain(length=64, channels=(3, 16, 16, 8)))
    assert native.macs(model) == 64 * 5 * (3 * 16 + 16 * 16 + 16 * 8)


@pytest.mark.parametrize("oc,taps", [(1, 1), (3, 15), (8, 40), (12, 60), (5, 7)])
def test_conv_weight_words_give_the_dot_products_smlad_computes(oc: int, taps: int) -> None:
    """The Cortex-M4 loop reads each weight word as two raw int16 halves (SMLAD); the
    layout must give every channel's plain dot product with the input, padding ignored."""
    rng = np.random.default_rng(oc * 100 + taps)
    w = rng.integers(-128, 128, (oc, taps)).astype(np.int8)
    x = rng.integers(-128, 128, taps).astype(np.int64)
    words = native_ops.conv_weight_words(w).astype(np.int64)
    span = -(-taps // 4) * 4
    xs = np.concatenate([x, rng.integers(-128, 128, span - taps)])  # bytes past the window
    low = (((words & 0xFFFF) ^ 0x8000) - 0x8000).reshape(-1, span // 4, 4, 2)  # SMLAD's bottom halves
    high = (words >> 16).reshape(-1, span // 4, 4, 2)  # [block][word][channel][pair]
    x4 = xs.reshape(span // 4, 1, 4)
    # SXTB16 gives (x0, x2) for the first pair and (x1, x3) for the second
    per_word = (x4[..., 0] * low[..., 0] + x4[..., 2] * high[..., 0]
                + x4[..., 1] * low[..., 1] + x4[..., 3] * high[..., 1])
    got = per_word.sum(axis=1).reshape(-1)  # [block * 4 + channel]
    assert got[:oc].tolist() == (w.astype(np.int64) @ x).tolist()
    assert not got[oc:].any()  # padding channels contribute nothing


@pytest.mark.parametrize("seed", range(0, 400, 7))
def test_arena_plan_never_overlaps_live_tensors(seed: int) -> None:
    model = read(random_model(seed, max_ops=8))
    plan = native.plan_arena(model)
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for k, op in enumerate(model.ops):
        for i in (*op.inputs, *op.outputs):
            r = plan.aliases.get(i, i)
            if r in plan.offsets:
                first.setdefault(r, k)
                last[r] = k
    size = {r: model.tensors[r].nbytes for r in plan.offsets}
    for a in plan.offsets:
        assert plan.offsets[a] + size[a] <= plan.arena_bytes
        for b in plan.offsets:
            if a < b and not (last[a] < first[b] or last[b] < first[a]):
                ends = sorted((plan.offsets[t], plan.offsets[t] + size[t]) for t in (a, b))
                assert ends[0][1] <= ends[1][0], f"tensors {a} and {b} are live together and overlap"


def test_arena_of_a_chain_is_two_tensors_and_below_tflm(tmp_path: Path) -> None:
    data = _conv_chain(length=64, channels=(3, 16, 16, 16, 8))
    model = read(data)
    native_bytes = native.arena_bytes(model)
    # input and output stay in the caller's buffers; two 64x16 intermediates alternate
    assert native_bytes == 2 * 64 * 16
    tflm_bytes = tflm.measure_arena(data)
    print(f"\narena: native {native_bytes} bytes, TFLM {tflm_bytes} bytes")
    assert native_bytes <= tflm_bytes


def test_engine_reports_its_arena(tmp_path: Path) -> None:
    model = read(_conv_chain(length=40, channels=(3, 8, 8, 4)))
    render_model(model, tmp_path)
    (tmp_path / "main.c").write_text(
        '#include <stdio.h>\n#include "rc_engine.h"\n'
        "int main(void) {\n"
        "    printf(\"%u %d\\n\", (unsigned)rc_engine_arena_used(), rc_engine_init());\n"
        "    return 0;\n}\n"
    )
    exe = tmp_path / "engine"
    subprocess.run([compiler(), "-std=c99", "-Wall", "-Werror", "-I", str(tmp_path), str(tmp_path / "main.c"),
                    str(tmp_path / "rc_engine_native.c"), "-o", str(exe)], check=True)
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(native.arena_bytes(model)), "0"]


@pytest.mark.parametrize("wrong", ["RC_INPUT_LEN", "RC_OUTPUT_LEN"])
def test_engine_refuses_an_rc_config_of_another_model(tmp_path: Path, wrong: str) -> None:
    """An engine rendered for one model must not link into firmware configured for another:
    the input and the output lengths are both checked at compile time."""
    model = read(_conv_chain(length=40, channels=(3, 8, 4)))
    render_model(model, tmp_path)
    config = tmp_path / "rc_config.h"
    config.write_text(config.read_text() + f"#undef {wrong}\n#define {wrong} 7\n")
    source = tmp_path / "rc_engine_native.c"
    r = subprocess.run([compiler(), "-std=c99", "-I", str(tmp_path), "-c", str(source), "-o",
                        str(tmp_path / "engine.o")], capture_output=True, text=True)
    assert r.returncode != 0 and "rc_config.h was generated for a different model" in r.stderr


@pytest.mark.skipif(ARM_GCC is None, reason="arm-none-eabi-gcc not installed")
def test_cortex_m4_build_is_warning_free_integer_only_and_self_contained(tmp_path: Path) -> None:
    seeds = [s for s in range(60) if {"LOGISTIC", "SOFTMAX"} & set(read(random_model(s)).op_names)][:3]
    sources = [_conv_chain(tail="LOGISTIC"), *(random_model(s) for s in [*seeds, *range(8)])]
    for j, data in enumerate(sources):
        d = tmp_path / f"m{j}"
        render_model(read(data), d)
        obj = d / "engine.o"
        r = subprocess.run([ARM_GCC, *ARM_FLAGS, "-I", str(d), "-c", str(d / "rc_engine_native.c"),
                            "-o", str(obj)], capture_output=True, text=True)
        assert r.returncode == 0 and r.stderr == "", r.stderr
        undefined = subprocess.run(["arm-none-eabi-nm", "-u", str(obj)], capture_output=True, text=True,
                                   check=True).stdout.split()[1::2]
        # gcc may emit memset/memcpy for plain loops (it requires them even freestanding)
        assert set(undefined) <= {"memset", "memcpy"}, f"the engine must need no library: {undefined}"
        asm = subprocess.run(["arm-none-eabi-objdump", "-d", str(obj)], capture_output=True, text=True,
                             check=True).stdout
        fpu = [line for line in asm.splitlines() if "\tv" in line and "vmov" not in line]
        assert fpu == [], f"floating-point instructions in the engine: {fpu[:5]}"
        if "<rc_conv_block>:" in asm:
            assert "smlad" in asm, "the Cortex-M4 build uses the DSP extension's dot product"


@pytest.mark.skipif(ARM_GCC is None, reason="arm-none-eabi-gcc not installed")
@pytest.mark.parametrize("cpu,dsp", [("cortex-m4", True), ("cortex-m0plus", False)])
def test_build_needs_no_acle_header(tmp_path: Path, cpu: str, dsp: bool) -> None:
    """The boards' toolchains (GCC 7 and 8) have an arm_acle.h without __smlad and
    __sxtb16: an empty arm_acle.h shadows the toolchain's, and the engine still builds
    warning-free, with the DSP instructions by its own inline assembly on a Cortex-M4F
    and the portable C on a core without the DSP extension."""
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "arm_acle.h").write_text("")
    d = tmp_path / "engine"
    render_model(read(_conv_chain(tail="LOGISTIC")), d)
    fpu = ["-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"] if cpu == "cortex-m4" else ["-mthumb"]
    obj = d / "engine.o"
    r = subprocess.run([ARM_GCC, f"-mcpu={cpu}", *fpu, "-Wall", "-Wextra", "-Werror", "-Os",
                        "-I", str(shadow), "-I", str(d), "-c", str(d / "rc_engine_native.c"), "-o", str(obj)],
                       capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    asm = subprocess.run(["arm-none-eabi-objdump", "-d", str(obj)], capture_output=True, text=True,
                         check=True).stdout
    used = {name for name in ("smlad", "sxtb16") if f"\t{name}" in asm}
    assert used == ({"smlad", "sxtb16"} if dsp else set()), asm
    if dsp:
        block = asm[asm.index("<rc_block_step>:"):]
        block = block[: block.find("\n\n")]
        assert "ror #8" in block, "the second SXTB16 takes bytes 1 and 3 by its own rotation"
        assert block.count("ldmia.w\tr") == 2, "two LDM load the block's eight weight words per input word"


def test_streaming_says_why_a_model_runs_on_windows(tmp_path: Path) -> None:
    """A chain of (5, 1) SAME convolutions streams when the counted steps are far enough from
    the window's edges; otherwise the generator says why and the engine runs on windows."""
    model = read(_conv_chain(tail="LOGISTIC"))
    # the output has 8 channels: flat 160..223 are steps 20..27
    assert native.streaming(model, stream.Geometry(64, 16, 160, 64)) == (
        True, "computes each layer's new steps only: 24,320 of 138,240 MACs per inference")
    refusals = {
        stream.Geometry(64, 16, 0, 64): "padding reaches the counted outputs: layer 3 needs input steps -2",
        stream.Geometry(64, 64, 160, 64): "hop 64 does not make overlapping windows of 64",
        stream.Geometry(32, 16, 160, 64): "is not a window of 32 steps",
        stream.Geometry(64, 16, 510, 8): "the counted slice 510+8 is not inside the output",
    }
    for geometry, why in refusals.items():
        streams, reason = native.streaming(model, geometry)
        assert not streams and reason.startswith("runs on whole windows: ") and why in reason, reason
    native.generate(model, tmp_path, stream.Geometry(64, 16, 0, 64))
    assert "rc_stream" not in (tmp_path / "rc_engine_native.c").read_text()
    native.generate(model, tmp_path, stream.Geometry(64, 16, 160, 64))
    assert "rc_stream(input);" in (tmp_path / "rc_engine_native.c").read_text()
