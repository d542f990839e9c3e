"""The generated native engine computes exactly what TFLite Micro computes: 0 differing bytes.

Random int8 models (tests/tflite_builder.py: random stacks of every op in the engine's
registry, engines.toml [native.ops], with random shapes, strides, padding, dilation,
per-channel weights, fused activations) and models converted by TensorFlow are generated
to C, compiled for the host with the sanitizers, run on random inputs, and every output
byte is compared with the `tflite_micro` runtime. `--bitexact-models N` sets how many random models
(`make bitexact-long` runs 5000).
"""

from __future__ import annotations

import collections
import shutil
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from firmware_models import int8_tflite
from native_harness import ARM_CC, QEMU, run_all, run_m4
from repcount import heavy
from repcount.firmware import engines
from repcount.firmware.native import generate as native
from repcount.firmware.native import stream
from repcount.learn import tflm
from repcount.learn.card import ModelCard
from repcount.learn.tflite_model import TfliteModel, read
from tflite_builder import random_model, random_stream_case

BATCH = 250  # models per compiled driver program
RUNS = 3  # random inputs per model
M4_MODELS = 40  # random models also run on the emulated Cortex-M4F (its SIMD dot product)
STREAM_MODELS = 150  # random streaming cases (tflite_builder.RandomStream)
STREAM_HOPS = 8  # consecutive windows per streaming case, besides one foreign window
needs_m4 = pytest.mark.skipif(shutil.which(ARM_CC) is None or shutil.which(QEMU) is None,
                              reason="arm-none-eabi-gcc or qemu-system-arm not installed")


def _inputs(model: TfliteModel, seed: int, runs: int = RUNS) -> np.ndarray:
    shape = model.tensors[model.inputs[0]].shape
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, size=(runs, *shape)).astype(np.int8)
    x[0] = rng.integers(-128, 128)  # one constant input: saturation and flat windows
    return x


def _compare(models: list[TfliteModel], inputs: list[np.ndarray], work: Path) -> tuple[int, int, list[str]]:
    """(differing output bytes, compared bytes, descriptions of failing models)."""
    outs = run_all(models, inputs, work)
    diffs, total, failing = 0, 0, []
    for j, (m, x, got) in enumerate(zip(models, inputs, outs, strict=True)):
        want = tflm.run(m.data, x).reshape(got.shape)
        d = int(np.count_nonzero(got != want))
        diffs += d
        total += want.size
        if d:
            failing.append(f"#{j} {' '.join(m.op_names)}: {d} bytes differ (max |diff| "
                           f"{int(np.abs(got.astype(int) - want).max())})")
    return diffs, total, failing


def test_random_models_bit_exact(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    n = int(request.config.getoption("--bitexact-models"))
    assert n >= 1
    diffs = total = 0
    failing: list[str] = []
    op_counts: collections.Counter[str] = collections.Counter()
    for start in range(0, n, BATCH):
        seeds = range(start, min(n, start + BATCH))
        models = [read(random_model(seed)) for seed in seeds]
        inputs = [_inputs(m, 10**6 + seed) for m, seed in zip(models, seeds, strict=True)]
        for m in models:
            op_counts.update(m.op_names)
        work = tmp_path / f"batch{start}"
        work.mkdir()
        d, t, f = _compare(models, inputs, work)
        diffs, total = diffs + d, total + t
        failing += [f"seed {start}+{line}" for line in f]
    print(f"\nnative vs TFLM: {n} random models, {total} output bytes compared, {diffs} differ; "
          f"ops: {dict(op_counts)}")
    # every op of the registry was exercised, so a wrong kernel cannot hide behind the sampling
    missing = set(engines.supported_ops("native")) - set(op_counts)
    assert not missing or n < 50, f"no random model used {sorted(missing)}: see tflite_builder.GENERATORS"
    assert diffs == 0, "\n".join(failing[:20])


@needs_m4
def test_random_models_bit_exact_on_emulated_cortex_m4(tmp_path: Path) -> None:
    models = [read(random_model(seed)) for seed in range(M4_MODELS)]
    inputs = [_inputs(m, 10**6 + seed) for seed, m in enumerate(models)]
    expected = [tflm.run(m.data, x) for m, x in zip(models, inputs, strict=True)]
    mismatches, checked = run_m4(models, inputs, expected, tmp_path)
    assert checked == sum(y.size for y in expected)
    assert mismatches == 0


def _converted_models() -> list[bytes]:
    """Two small models through the real converter: a per-step sigmoid head (the shipped
    models' layout) and a pooled softmax classifier with a branch."""
    keras = heavy.keras()
    keras.utils.set_random_seed(3)
    inp = keras.Input((48, 1, 3), batch_size=1)
    x = keras.layers.Conv2D(8, (5, 1), padding="same", activation="relu")(inp)
    x = keras.layers.DepthwiseConv2D((5, 1), dilation_rate=(2, 1), padding="same", activation="relu")(x)
    x = keras.layers.MaxPooling2D((2, 1))(x)
    y = keras.layers.Conv2D(8, (3, 1), padding="same")(x)
    x = keras.layers.Add()([x, y])
    x = keras.layers.ZeroPadding2D(((2, 0), (0, 0)))(x)
    x = keras.layers.Conv2D(1, (3, 1), padding="valid", activation="sigmoid")(x)
    steps = keras.Model(inp, keras.layers.Reshape((24,))(x))

    x = keras.layers.Conv2D(6, (7, 1), strides=(2, 1), padding="valid", activation="relu")(inp)
    a = keras.layers.AveragePooling2D((2, 1))(x)
    b = keras.layers.MaxPooling2D((2, 1))(x)
    x = keras.layers.Concatenate()([a, b])
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(4, activation="softmax")(x)
    classes = keras.Model(inp, x)

    rng = np.random.default_rng(0)
    return [int8_tflite(model, rng.normal(0, 1.0, (16, 1, 48, 1, 3))) for model in (steps, classes)]


@pytest.mark.slow
def test_converted_models_bit_exact(tmp_path: Path) -> None:
    models = [read(data) for data in _converted_models()]
    (tmp_path / "host").mkdir()
    ops = {op for m in models for op in m.op_names}
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "LOGISTIC", "FULLY_CONNECTED", "SOFTMAX", "MEAN"} <= ops
    assert any(m.tensors[op.inputs[1]].scale.size > 1 for m in models for op in m.ops
               if op.name == "CONV_2D"), "the converter's per-channel weights are covered"
    inputs = [_inputs(m, 7 + k, runs=20) for k, m in enumerate(models)]
    diffs, total, failing = _compare(models, inputs, tmp_path / "host")
    assert total > 0
    assert diffs == 0, "\n".join(failing)
    if shutil.which(ARM_CC) and shutil.which(QEMU):
        expected = [tflm.run(m.data, x) for m, x in zip(models, inputs, strict=True)]
        (tmp_path / "m4").mkdir()
        assert run_m4(models, inputs, expected, tmp_path / "m4") == (0, total)


def _shipped_models() -> list[Path]:
    root = Path(str(resources.files("repcount.models")))
    return sorted(p / "model.tflite" for p in root.iterdir() if (p / "model.tflite").is_file())


@needs_m4
def test_shipped_models_bit_exact_on_host_and_emulated_cortex_m4(tmp_path: Path) -> None:
    paths = _shipped_models()
    if not paths:
        pytest.skip("no shipped models yet (models/NAME/model.tflite)")
    models = [read(p) for p in paths]
    inputs = [_inputs(m, 11 + k, runs=10) for k, m in enumerate(models)]
    expected = [tflm.run(m.data, x) for m, x in zip(models, inputs, strict=True)]
    (tmp_path / "host").mkdir()
    (tmp_path / "m4").mkdir()
    diffs, total, failing = _compare(models, inputs, tmp_path / "host")
    assert diffs == 0, "\n".join(failing)
    assert run_m4(models, inputs, expected, tmp_path / "m4") == (0, total)


# ---- streaming (native/stream.py): native streaming vs the runtime on each whole window ----


def _windows(model: TfliteModel, g: stream.Geometry, seed: int) -> np.ndarray:
    """STREAM_HOPS consecutive windows of one random signal, a foreign window (a reset: the
    engine must notice) after the third, and the signal going on after it."""
    shape = model.tensors[model.inputs[0]].shape
    rng = np.random.default_rng(seed)
    signal = rng.integers(-128, 128, (g.window + (STREAM_HOPS - 1) * g.hop, shape[-1])).astype(np.int8)
    signal[: g.hop] = rng.integers(-128, 128)  # a flat stretch: saturation
    windows = [signal[k * g.hop : k * g.hop + g.window] for k in range(STREAM_HOPS)]
    windows.insert(3, rng.integers(-128, 128, (g.window, shape[-1])).astype(np.int8))
    return np.stack(windows).reshape(len(windows), *shape)


def _counted(model: TfliteModel, g: stream.Geometry, want: np.ndarray) -> np.ndarray:
    """What a streaming engine answers for the runtime's outputs `want`: the steps holding the
    counted slice as computed, the output zero point elsewhere."""
    p = stream.plan(model, g)
    last = p.stages[-1]
    flat = want.reshape(len(want), -1).copy()
    keep = np.zeros(flat.shape[1], bool)
    keep[last.lo * last.channels : (last.hi + 1) * last.channels] = True
    assert keep[g.take_start : g.take_start + g.take_count].all()
    flat[:, ~keep] = p.out_zp
    return flat.reshape(want.shape)


Cases = tuple[list[TfliteModel], list[stream.Geometry], list[np.ndarray], list[str]]


def _stream_cases(seeds: range) -> Cases:
    """The random streaming cases: models, geometries, windows, why each cannot stream ("" if it can)."""
    models, geometries, expected, why = [], [], [], []
    for seed in seeds:
        case = random_stream_case(seed)
        m = read(case.data)
        g = stream.Geometry(case.window, case.hop, case.take_start, case.take_count)
        streams, reason = native.streaming(m, g)
        models.append(m)
        geometries.append(g)
        expected.append(_windows(m, g, 2 * 10**6 + seed))
        why.append("" if streams else reason)
    return models, geometries, expected, why


def test_random_models_stream_bit_exact_on_the_counted_outputs(tmp_path: Path) -> None:
    """Streaming engines (each layer's new steps only, rings across hops) give, on every
    window, the counted outputs TFLM computes from the whole window; models that cannot
    stream say why and run on windows, bit-exact on every output."""
    models, geometries, inputs, why = _stream_cases(range(STREAM_MODELS))
    outs = run_all(models, inputs, tmp_path, geometries=geometries)
    diffs, failing = 0, []
    channels: set[int] = set()
    for j, (m, g, x, got, reason) in enumerate(zip(models, geometries, inputs, outs, why, strict=True)):
        want = tflm.run(m.data, x).reshape(got.shape)
        if not reason:
            want = _counted(m, g, want)
            channels |= {m.tensors[op.outputs[0]].shape[-1] for op in m.ops if op.name == "CONV_2D"}
            channels.add(m.tensors[m.inputs[0]].shape[-1])
        d = int(np.count_nonzero(got != want))
        diffs += d
        if d:
            failing.append(f"seed {j} {g} {' '.join(m.op_names)} streams={not reason}: {d} bytes differ")
    streamed = why.count("")
    print(f"\nstreaming: {streamed} of {len(models)} random models stream; reasons of the rest: "
          f"{collections.Counter(r.split(':')[1].split(' ')[1] for r in why if r)}")
    assert diffs == 0, "\n".join(failing[:20])
    assert streamed >= len(models) // 3, "too few random cases stream to cover the streaming engine"
    assert any("padding reaches the counted outputs" in r for r in why), "no case fell back for padding"
    assert {1, 2, 3} <= channels and any(c % 2 and c > 3 for c in channels), channels


@needs_m4
def test_random_and_shipped_models_stream_bit_exact_on_emulated_cortex_m4(tmp_path: Path) -> None:
    """The same on the emulated Cortex-M4F (its SIMD dot product), with the shipped models
    streaming for their cards' windows."""
    models, geometries, inputs, why = _stream_cases(range(M4_MODELS))
    keep = [j for j, r in enumerate(why) if not r]
    models, geometries, inputs = ([v[j] for j in keep] for v in (models, geometries, inputs))
    for path in _shipped_models():
        m = read(path)
        g = stream.Geometry.of_card(ModelCard.load(path.parent / "card.json"))
        assert g is not None
        assert native.streaming(m, g)[0], f"{path.parent.name} no longer streams: {native.streaming(m, g)[1]}"
        models.append(m)
        geometries.append(g)
        inputs.append(_windows(m, g, 3 * 10**6 + len(models)))
    expected = [_counted(m, g, tflm.run(m.data, x))
                for m, g, x in zip(models, geometries, inputs, strict=True)]
    (tmp_path / "host").mkdir()
    outs = run_all(models, inputs, tmp_path / "host", geometries=geometries)
    assert all(np.array_equal(o, e.reshape(o.shape)) for o, e in zip(outs, expected, strict=True))
    (tmp_path / "m4").mkdir()
    assert run_m4(models, inputs, expected, tmp_path / "m4", geometries=geometries) == (
        0, sum(y.size for y in expected))
