"""Build many generated native engines into one host program and run them on given inputs.

Compiling each model as its own program would cost a link and a process per model;
instead every model's rc_engine_native.c is compiled as its own translation unit with
its public functions renamed, and one driver calls them all, reading the inputs from one
file and writing the outputs to another. The host build uses the sanitizers when the
compiler has them, so an out-of-bounds access or a signed overflow fails the test too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from repcount.firmware import templates
from repcount.firmware.native import generate as native
from repcount.firmware.native import stream
from repcount.learn.tflite_model import TfliteModel

CFLAGS = ["-std=c99", "-O1", "-g0", "-Wall", "-Wextra", "-Werror", "-pedantic"]
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
_API = ("rc_engine_init", "rc_engine_invoke", "rc_engine_arena_used", "rc_engine_error_message")

_DRIVER = """#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
%(decls)s
typedef struct {
    int (*init)(void);
    int (*invoke)(const int8_t *, int8_t *);
    long in_len, out_len, runs;
} model_t;
static const model_t models[] = {
%(table)s
};
int main(int argc, char **argv)
{
    FILE *fi, *fo;
    size_t m;
    long r;
    if (argc != 3 || (fi = fopen(argv[1], "rb")) == NULL || (fo = fopen(argv[2], "wb")) == NULL) {
        return 2;
    }
    for (m = 0; m < sizeof models / sizeof models[0]; ++m) {
        if (models[m].init() != 0) {
            return 3;
        }
        for (r = 0; r < models[m].runs; ++r) {
            int8_t *in = malloc((size_t)models[m].in_len), *out = malloc((size_t)models[m].out_len);
            if (fread(in, 1, (size_t)models[m].in_len, fi) != (size_t)models[m].in_len) {
                return 4;
            }
            if (models[m].invoke(in, out) != 0) {
                return 5;
            }
            fwrite(out, 1, (size_t)models[m].out_len, fo);
            free(in);
            free(out);
        }
    }
    fclose(fo);
    return 0;
}
"""


def compiler() -> str:
    cc = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        raise RuntimeError("no host C compiler (gcc or cc) on PATH")
    return cc


def _sanitizers(cc: str, work: Path) -> list[str]:
    probe = work / "probe.c"
    probe.write_text("int main(void) { return 0; }\n")
    ok = subprocess.run([cc, *SANITIZE, str(probe), "-o", str(work / "probe")], capture_output=True)
    return SANITIZE if ok.returncode == 0 else []


def render_model(model: TfliteModel, out_dir: Path, geometry: stream.Geometry | None = None) -> None:
    """The generated engine (streaming for `geometry` if given), the core headers it includes
    as they stand (rc_engine.h, which it implements, and rc_requant.h), and an rc_config.h
    with the only facts of a firmware's rc_config.h that the engine reads: the model's lengths."""
    native.generate(model, out_dir, geometry)
    for header in ("rc_engine.h", "rc_requant.h"):
        shutil.copyfile(templates.root() / "core" / header, out_dir / header)
    lengths = {"RC_INPUT_LEN": model.inputs[0], "RC_OUTPUT_LEN": model.outputs[0]}
    (out_dir / "rc_config.h").write_text(
        "".join(f"#define {name} {model.tensors[i].size}\n" for name, i in lengths.items()))


def run_all(
    models: list[TfliteModel], inputs: list[np.ndarray], work: Path, jobs: int = 2,
    geometries: list[stream.Geometry | None] | None = None,
) -> list[np.ndarray]:
    """Outputs of each model's generated C on its inputs (array [runs, *input shape]), the
    engines streaming for their `geometries` where given (the runs in order, as windows)."""
    cc = compiler()
    flags = CFLAGS + _sanitizers(cc, work)
    units = []
    for j, model in enumerate(models):
        render_model(model, work / f"m{j}", geometries[j] if geometries else None)
        wrapper = work / f"w{j}.c"
        renames = "".join(f"#define {name} rc_m{j}_{name[len('rc_engine_'):]}\n" for name in _API)
        wrapper.write_text(f'{renames}#include "m{j}/rc_engine_native.c"\n')
        units.append(wrapper)
    decls = "".join(
        f"int rc_m{j}_init(void);\nint rc_m{j}_invoke(const int8_t *, int8_t *);\n"
        for j in range(len(models))
    )
    table = ",\n".join(
        f"    {{rc_m{j}_init, rc_m{j}_invoke, {m.tensors[m.inputs[0]].size}, "
        f"{m.tensors[m.outputs[0]].size}, {len(x)}}}"
        for j, (m, x) in enumerate(zip(models, inputs, strict=True))
    )
    driver = work / "driver.c"
    driver.write_text(_DRIVER % {"decls": decls, "table": table})

    def compile_chunk(chunk: list[Path]) -> list[Path]:
        subprocess.run([cc, *flags, "-c", *[str(u) for u in chunk]], cwd=work, check=True,
                       capture_output=True, text=True)
        return [work / (u.stem + ".o") for u in chunk]

    chunks = [units[i::jobs] for i in range(jobs)] + [[driver]]
    try:
        with ThreadPoolExecutor(jobs) as pool:
            objects = [o for objs in pool.map(compile_chunk, [c for c in chunks if c]) for o in objs]
    except subprocess.CalledProcessError as exc:
        raise AssertionError(f"generated C failed to compile:\n{exc.stderr}") from None
    exe = work / "driver"
    subprocess.run([cc, *flags, *[str(o) for o in objects], "-o", str(exe)], check=True)
    (work / "in.bin").write_bytes(b"".join(np.ascontiguousarray(x, np.int8).tobytes() for x in inputs))
    run = subprocess.run([str(exe), "in.bin", "out.bin"], cwd=work, capture_output=True, text=True)
    if run.returncode != 0:
        raise AssertionError(f"generated engines failed at run time (exit {run.returncode}):\n"
                             f"{run.stderr[-3000:]}")
    data = np.frombuffer((work / "out.bin").read_bytes(), np.int8)
    outs, at = [], 0
    for m, x in zip(models, inputs, strict=True):
        shape = m.tensors[m.outputs[0]].shape
        n = len(x) * int(np.prod(shape))
        outs.append(data[at : at + n].reshape(len(x), *shape))
        at += n
    return outs


ARM_CC = "arm-none-eabi-gcc"
QEMU = "qemu-system-arm"
ARM_FLAGS = ["-std=c99", "-Os", "-Wall", "-Wextra", "-Werror", "-mcpu=cortex-m4", "-mthumb",
             "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard", "-ffunction-sections", "-fdata-sections"]
C_DIR = Path(__file__).parent / "c"

_M4_DRIVER = """#include <stdint.h>
void rc_m4_print(const char *text);
%(decls)s
typedef struct {
    int (*init)(void);
    int (*invoke)(const int8_t *, int8_t *);
    const int8_t *in, *want;
    long in_len, out_len, runs;
} model_t;
static const model_t models[] = {
%(table)s
};
static int8_t out[%(max_out)d];
static char *put(char *p, const char *s) { while (*s) { *p++ = *s++; } return p; }
static char *put_u(char *p, unsigned long v)
{
    char d[12];
    int n = 0;
    do { d[n++] = (char)('0' + v %% 10u); v /= 10u; } while (v);
    while (n) { *p++ = d[--n]; }
    return p;
}
int main(void)
{
    unsigned long m, r, i, mismatches = 0, checked = 0;
    char line[80], *p = line;
    for (m = 0; m < sizeof models / sizeof models[0]; ++m) {
        models[m].init();
        for (r = 0; r < (unsigned long)models[m].runs; ++r) {
            models[m].invoke(models[m].in + r * models[m].in_len, out);
            for (i = 0; i < (unsigned long)models[m].out_len; ++i, ++checked) {
                mismatches += out[i] != models[m].want[r * models[m].out_len + i];
            }
        }
    }
    p = put(p, "native-m4 mismatches=");
    p = put_u(p, mismatches);
    p = put(p, " checked=");
    p = put_u(p, checked);
    p = put(p, "\\n");
    *p = 0;
    rc_m4_print(line);
    return 0;
}
"""


def _array(name: str, values: np.ndarray) -> str:
    flat = ", ".join(str(int(v)) for v in np.asarray(values).reshape(-1))
    return f"static const int8_t {name}[] = {{{flat}}};\n"


def run_m4(models: list[TfliteModel], inputs: list[np.ndarray], expected: list[np.ndarray], work: Path,
           timeout: float = 120.0, geometries: list[stream.Geometry | None] | None = None) -> tuple[int, int]:
    """(mismatching bytes, compared bytes) of the engines built for Cortex-M4F and run in QEMU,
    streaming for their `geometries` where given."""
    units = []
    for j, model in enumerate(models):
        render_model(model, work / f"m{j}", geometries[j] if geometries else None)
        renames = "".join(f"#define {name} rc_m{j}_{name[len('rc_engine_'):]}\n" for name in _API)
        (work / f"w{j}.c").write_text(f'{renames}#include "m{j}/rc_engine_native.c"\n')
        units.append(work / f"w{j}.c")
    decls = "".join(f"int rc_m{j}_init(void);\nint rc_m{j}_invoke(const int8_t *, int8_t *);\n"
                    for j in range(len(models)))
    decls += "".join(_array(f"in{j}", x) + _array(f"want{j}", y)
                     for j, (x, y) in enumerate(zip(inputs, expected, strict=True)))
    table = ",\n".join(
        f"    {{rc_m{j}_init, rc_m{j}_invoke, in{j}, want{j}, {x[0].size}, {y[0].size}, {len(x)}}}"
        for j, (x, y) in enumerate(zip(inputs, expected, strict=True))
    )
    max_out = max(y[0].size for y in expected)
    (work / "m4_driver.c").write_text(_M4_DRIVER % {"decls": decls, "table": table, "max_out": max_out})
    elf = work / "m4.elf"
    build = subprocess.run(
        [ARM_CC, *ARM_FLAGS, "-T", str(C_DIR / "native_m4.ld"), "-nostartfiles", "--specs=nano.specs",
         "-Wl,--gc-sections", str(C_DIR / "native_m4_start.c"), "m4_driver.c", *[u.name for u in units],
         "-o", str(elf)],
        cwd=work, capture_output=True, text=True)
    if build.returncode != 0:
        raise AssertionError(f"Cortex-M4 build failed:\n{build.stderr[-3000:]}")
    run = subprocess.run(
        [QEMU, "-M", "mps2-an386", "-nographic", "-monitor", "none", "-serial", "null",
         "-semihosting-config", "enable=on,target=native", "-kernel", str(elf)],
        capture_output=True, text=True, timeout=timeout)
    for line in (run.stdout + run.stderr).splitlines():
        if line.startswith("native-m4 mismatches="):
            fields = dict(kv.split("=") for kv in line.split()[1:])
            return int(fields["mismatches"]), int(fields["checked"])
    raise AssertionError(f"no result from the emulated Cortex-M4 (exit {run.returncode}): "
                         f"{run.stdout[-2000:]} {run.stderr[-2000:]}")
