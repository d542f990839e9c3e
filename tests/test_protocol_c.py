"""The C side of the serial protocol: golden vectors, fuzzing, strict builds for both compilers.

The C test program reads tests/vectors/protocol.json through a header generated here, so
the C and the Python implementations are held to the same bytes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from hostdevice import ARM, C_DIR, STRICT, render_core

VECTORS = json.loads((Path(__file__).parent / "vectors" / "protocol.json").read_text())
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g", "-O1"]


def c_bytes(hex_string: str) -> str:
    """A C string literal of the bytes (escapes only, so no hex digit merges into one)."""
    data = bytes.fromhex(hex_string)
    return '"' + "".join(f"\\x{b:02x}" for b in data) + '"'


def c_str(text: str) -> str:
    return json.dumps(text)


def vectors_header() -> str:
    v = VECTORS
    out = [
        "/* Generated from tests/vectors/protocol.json by tests/test_protocol_c.py. */",
        "static const bytes_vec_t cobs_vectors[] = {",
    ]
    for c in v["cobs"]:
        out.append(f"  {{{c_str(c['decoded'][:16])}, {c_bytes(c['decoded'])}, {len(c['decoded']) // 2}, "
                   f"{c_bytes(c['encoded'])}, {len(c['encoded']) // 2}}},")
    out.append("};\nstatic const crc_vec_t crc_vectors[] = {")
    for c in v["crc32"]:
        data = c["data"]
        out.append(f"  {{{c_str(data[:16])}, {c_bytes(data)}, {len(data) // 2}, {c['crc']}u}},")
    out.append("};")

    def frame(f: dict, name: str) -> str:
        wire, payload = f.get("wire", ""), f["payload"]
        return (f"{{{c_str(name)}, {f['type']}, {f['seq']}, {c_bytes(payload)}, {len(payload) // 2}, "
                f"{c_bytes(wire)}, {len(wire) // 2}}}")

    out.append("static const frame_vec_t frame_vectors[] = {")
    out += [f"  {frame(f, f['name'])}," for f in v["frames"]]
    out.append("};")
    for i, s in enumerate(v["streams"]):
        frames = ", ".join(frame(f, s["name"]) for f in s["frames"]) or "{0}"
        out.append(f"static const frame_vec_t stream_{i}_frames[] = {{{frames}}};")
    out.append("static const stream_vec_t stream_vectors[] = {")
    for i, s in enumerate(v["streams"]):
        st = s["stats"]
        stats = ", ".join(str(st[k]) for k in ("frames_ok", "crc_errors", "cobs_errors", "overlong", "lost",
                                                "duplicates"))
        out.append(f"  {{{c_str(s['name'])}, {c_bytes(s['wire'])}, {len(s['wire']) // 2}, stream_{i}_frames, "
                   f"{len(s['frames'])}, {{{stats}}}}},")
    out.append("};")
    by_name = {f["name"]: f for f in v["frames"]}
    info = by_name["info"]["message"]
    hash_bytes = ", ".join(f"0x{info['model_hash'][i:i + 2]}" for i in range(0, 16, 2))
    out.append(
        f"static const rc_info_t info_vector = {{{info['sample_rate_mhz']}u, {info['full_scale_g']}, "
        f"{info['window']}, {info['hop']}, {info['output_len']}, {info['threshold']}, {info['refractory']}, "
        f"{info['take_start']}, {info['take_count']}, {info['out_stride']}, {info['replay_capacity']}, "
        f"{{{hash_bytes}}}, {c_str(info['board'])}, {c_str(info['firmware_version'])}, "
        f"{c_str(info['engine'])}}};"
    )
    samples = by_name["samples"]["message"]
    rows = ", ".join("{" + ", ".join(str(x) for x in r) + "}" for r in samples["xyz"])
    out.append(f"static const int16_t samples_vector[][3] = {{{rows}}};")
    out.append(f"#define SAMPLES_FIRST {samples['first']}u\n#define SAMPLES_N {len(samples['xyz'])}")
    output = by_name["output"]["message"]
    out.append(f"static const int8_t output_vector[] = {{{', '.join(map(str, output['values']))}}};")
    out.append(f"#define OUTPUT_INFERENCE {output['inference']}u")
    ev, cnt = by_name["event"]["message"], by_name["count"]["message"]
    out.append(f"#define EVENT_STEP {ev['step']}u\n#define EVENT_TOTAL {ev['total']}u")
    out.append(f"#define COUNT_TOTAL {cnt['total']}u\n#define COUNT_SAMPLE {cnt['sample']}u")
    st = by_name["stats"]["message"]["stats"]
    counters = ", ".join(f"{x}u" for x in st.values())
    out.append(f"static const rc_link_stats_t stats_vector = {{{counters}}};")
    err = by_name["error engine"]["message"]
    out.append(f"#define ERROR_CODE {err['code']}\n#define ERROR_ARG0 {err['arg0']}u\n"
               f"#define ERROR_ARG1 {err['arg1']}u\n#define ERROR_TEXT {c_str(err['text'])}")
    for name, macro in [("info", "INFO"), ("samples", "SAMPLES"), ("output", "OUTPUT"), ("event", "EVENT"),
                        ("count", "COUNT"), ("stats", "STATS"), ("error engine", "ERROR")]:
        out.append(f"#define {macro}_PAYLOAD {c_bytes(by_name[name]['payload'])}")
    return "\n".join(out) + "\n"


@pytest.fixture(scope="module")
def core_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("core")
    render_core(out)
    (out / "protocol_vectors.h").write_text(vectors_header())
    return out


def _cc(args: list[str], compiler: str = "cc") -> None:
    result = subprocess.run([compiler, *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_c_passes_the_golden_vectors(core_dir: Path) -> None:
    exe = core_dir / "protocol_vectors"
    _cc([*STRICT, *SANITIZE, f"-I{core_dir}", str(C_DIR / "protocol_vectors.c"),
         str(core_dir / "rc_protocol.c"), "-o", str(exe)])
    result = subprocess.run([str(exe)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "0 failures"


def test_a_wrong_vector_fails_the_c_check(core_dir: Path, tmp_path: Path) -> None:
    """The C check can fail: one changed byte in a golden frame is reported."""
    header = vectors_header()
    good = c_bytes(VECTORS["frames"][0]["wire"])
    (tmp_path / "protocol_vectors.h").write_text(header.replace(good, good.replace("\\x01", "\\x02", 1), 1))
    exe = tmp_path / "protocol_vectors"
    _cc([*STRICT, f"-I{tmp_path}", f"-I{core_dir}", str(C_DIR / "protocol_vectors.c"),
         str(core_dir / "rc_protocol.c"), "-o", str(exe)])
    result = subprocess.run([str(exe)], capture_output=True, text=True)
    assert result.returncode == 1
    assert "FAIL frame encode: hello" in result.stdout


def test_fuzz_c_receiver_under_sanitizers(core_dir: Path, request: pytest.FixtureRequest) -> None:
    iterations = request.config.getoption("--fuzz-iterations")
    exe = core_dir / "protocol_fuzz"
    _cc([*STRICT, *SANITIZE, f"-I{core_dir}", str(C_DIR / "protocol_fuzz.c"), str(core_dir / "rc_protocol.c"),
         "-o", str(exe)])
    result = subprocess.run([str(exe), str(iterations), "1"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{iterations} inputs, no failure" in result.stdout


def test_core_compiles_warning_free_on_the_host(core_dir: Path) -> None:
    for name in ("rc_protocol.c", "rc_app.c"):
        _cc([*STRICT, "-pedantic", f"-I{core_dir}", "-c", str(core_dir / name),
             "-o", str(core_dir / f"{name}.o")])


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc not installed")
def test_core_compiles_warning_free_for_cortex_m4f(core_dir: Path) -> None:
    for name in ("rc_protocol.c", "rc_app.c"):
        _cc([*STRICT, *ARM, "-Os", f"-I{core_dir}", "-c", str(core_dir / name), "-o",
             str(core_dir / f"{name}.arm.o")], compiler="arm-none-eabi-gcc")


def test_host_linux_device_builds_warning_free(core_dir: Path, tmp_path: Path) -> None:
    from hostdevice import build_device

    assert build_device(tmp_path).is_file()
