"""The C side of the serial protocol: golden vectors, fuzzing, strict builds for both compilers.

The C test program reads tests/vectors/protocol.json through a header generated here, so
the C and the Python implementations are held to the same bytes.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from pathlib import Path

import numpy as np
import pytest
import serial
from hostdevice import ARM, C_DIR, STRICT, context, render_core, running_device
from repcount.data.recordings import Meta, Writer
from repcount.device import protocol as P
from repcount.device.link import Link, LinkError
from repcount.learn import counting, quant

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
    st = dict(by_name["stats"]["message"]["stats"])
    overruns = st.pop("imu_overruns")  # after the receiver's counters, outside rc_link_stats_t
    counters = ", ".join(f"{x}u" for x in st.values())
    out.append(f"static const rc_link_stats_t stats_vector = {{{counters}}};")
    out.append(f"#define STATS_IMU_OVERRUNS {overruns}u")
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


def test_fuzz_device_app_under_sanitizers(core_dir: Path, request: pytest.FixtureRequest) -> None:
    """Hostile but well-framed requests: the app never faults and always answers well-formed."""
    bursts = max(1000, request.config.getoption("--fuzz-iterations") // 30)
    exe = core_dir / "app_fuzz"
    sources = [core_dir / n for n in ("rc_protocol.c", "rc_app.c", "rc_pipeline.c", "stub_engine.c")]
    _cc([*STRICT, *SANITIZE, f"-I{core_dir}", str(C_DIR / "app_fuzz.c"), *map(str, sources), "-o", str(exe)])
    result = subprocess.run([str(exe), str(bursts), "1"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{bursts} bursts" in result.stdout and "all well-formed" in result.stdout


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


# ---- the device app, end to end on the host-linux device ----

@pytest.fixture(scope="module")
def device_exe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from hostdevice import build_device

    return build_device(tmp_path_factory.mktemp("device"))


def _replay_signal(n: int) -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.integers(-32768, 32768, size=(n, 3)).astype(np.int16)


def _expected_outputs(xyz: np.ndarray) -> list[tuple[int, ...]]:
    """The stub engine's outputs: input (4j, x) of each window, quantised as the device does."""
    ctx = context()["model"]
    q = quant.quantize_input(xyz, ctx["input_multiplier"], ctx["input_shift"], ctx["input_zero_point"])
    window, hop, out_len = ctx["window"], ctx["hop"], ctx["output_len"]
    step = ctx["input_len"] // out_len
    outs = []
    for start in range(0, len(xyz) - window + 1, hop):
        flat = q[start : start + window].reshape(-1)
        outs.append(tuple(int(flat[j * step]) for j in range(out_len)))
    return outs


@pytest.mark.parametrize("transport", ["tcp", "pty"])
def test_replay_outputs_match_with_flow_control(device_exe: Path, transport: str) -> None:
    xyz = _replay_signal(2000)
    args = ("--pty",) if transport == "pty" else ()
    with running_device(device_exe, *args) as dev, Link.open(dev.url) as link:
        info = link.hello()
        assert (info.board, info.replay_capacity, info.window, info.hop) == ("host-linux", 256, 20, 5)
        outputs = [m for m in link.replay(xyz) if isinstance(m, P.Output)]
        assert [m.inference for m in outputs] == list(range(len(outputs)))
        assert [m.values for m in outputs] == _expected_outputs(xyz)
        assert link.stats.lost == link.stats.crc_errors == 0
        assert link.device_stats().lost == 0


def test_replay_recovers_from_host_frames_lost_on_the_way(device_exe: Path) -> None:
    """Dropped SAMPLES frames: the device reports the gap, the host resends, nothing is missing."""
    xyz = _replay_signal(1500)
    with running_device(device_exe) as dev, Link.open(dev.url) as link:
        link.hello()
        write = link._write
        samples_frames = 0

        def lossy_write(data: bytes) -> None:
            nonlocal samples_frames
            decoded = P.cobs_decode(data.rstrip(b"\x00").lstrip(b"\x00"))
            if decoded and decoded[0] == P.SAMPLES:
                samples_frames += 1
                if samples_frames in (3, 17, 18):
                    return
            write(data)

        link._write = lossy_write  # type: ignore[method-assign]
        outputs = [m.values for m in link.replay(xyz) if isinstance(m, P.Output)]
        link._write = write  # type: ignore[method-assign]
        assert outputs == _expected_outputs(xyz)
        gaps = [e for e in link.errors if e.code == P.ERR_SAMPLE_GAP]
        assert gaps and gaps[0].describe().startswith("sample index gap")
        assert link.device_stats().lost == 3  # the device saw the host's seq gaps


def test_device_counts_what_went_wrong_on_the_way_in(device_exe: Path) -> None:
    """Corrupted, duplicated, dropped and over-long host frames show in the device's STATS."""
    with running_device(device_exe) as dev, Link.open(dev.url) as link:
        link.hello()
        tx = P.Sender()
        tx.seq = 100
        good = [tx.frame(P.STATS) for _ in range(6)]
        corrupt = bytearray(good[1])
        corrupt[-3] ^= 0x55
        wire = (P.encode_frame(P.HELLO, 99) + good[0] + bytes(corrupt) + good[2] + good[2] + good[4]
                + b"\x41" * 600 + b"\x00" + good[5])
        link.port.write(wire)
        replies = [m for f, m in link.messages(0.5) if f.type == P.STATS]
        assert len(replies) == 4  # good 0, 2, 4, 5
        assert replies[-1].stats.as_dict() == {
            "frames_ok": 6, "crc_errors": 1, "cobs_errors": 0, "overlong": 1, "lost": 2, "duplicates": 1,
            "imu_overruns": 0,
        }  # HELLO(99) restarts the sequence; frames_ok counts the HELLO of link.hello() too


def test_link_refuses_a_firmware_of_another_model(device_exe: Path) -> None:
    with running_device(device_exe) as dev, Link.open(dev.url) as link:
        link.require_model("0123456789abcdef")
        with pytest.raises(LinkError, match="runs model 0123456789abcdef, not 00000000deadbeef"):
            link.require_model("00000000deadbeef")


def test_device_answers_bad_requests_with_errors(device_exe: Path) -> None:
    with running_device(device_exe) as dev, Link.open(dev.url) as link:
        link.hello()
        link.send(P.MODE, bytes([7]))
        link.send(0x55, b"abc")
        link.send(P.SAMPLES, P.encode_samples(0, np.zeros((2, 3))))
        link.send(P.HELLO, b"x")
        list(link.messages(0.3))
        codes = [(e.code, e.arg0) for e in link.errors]
        assert codes == [(P.ERR_BAD_MODE, 7), (P.ERR_UNKNOWN_TYPE, 0x55), (P.ERR_NOT_REPLAYING, P.MODE_IDLE),
                         (P.ERR_BAD_LENGTH, P.HELLO)]


def test_engine_init_failure_is_reported_with_its_numbers(tmp_path: Path) -> None:
    from hostdevice import build_device

    exe = build_device(tmp_path, extra_flags=("-DRC_STUB_ENGINE_FAIL",))
    with running_device(exe) as dev, Link.open(dev.url) as link:
        link.hello()
        with pytest.raises(LinkError, match="stayed in idle mode instead of replay: engine init failed"):
            link.set_mode(P.MODE_REPLAY)
        assert "arena 1024 bytes, model needs 20480" in link.errors[-1].text


def test_boot_announces_the_device(device_exe: Path) -> None:
    """The device sends BOOT (its INFO) at start-up: on TCP when the first client connects.

    A raw socket reads it: pyserial's socket:// flushes what arrived while it opened."""
    with running_device(device_exe) as dev:
        host, port = dev.url.removeprefix("socket://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as conn:
            rx = P.Receiver()
            frames: list[P.Frame] = []
            while not frames:
                frames += rx.feed(conn.recv(4096))
    assert frames[0].type == P.BOOT and frames[0].seq == 0
    info = P.decode(frames[0])
    assert isinstance(info, P.Info) and info.model_hash == "0123456789abcdef"


def test_link_notices_a_device_reset() -> None:
    port = serial.serial_for_url("loop://", timeout=0.05)
    with Link(port) as link:
        boot = next(c for c in VECTORS["frames"] if c["name"] == "boot")
        port.write(bytes.fromhex(boot["wire"]))
        assert [f.type for f, _ in link.poll()] == [P.BOOT]
        assert link.boots == 1 and link.info is not None and link.info.board == "host-linux"


def test_run_mode_counts_from_the_imu_like_the_reference(device_exe: Path, tmp_path: Path) -> None:
    """Run mode: the IMU file through the pipeline; EVENTs as repcount.learn.counting decides them."""
    n = 1000
    raw = np.zeros((n, 3), dtype=np.int16)
    for start in range(30, n - 60, 23):
        raw[start : start + 4, 0] = 24576  # 6 g pulses: int8 96 > the threshold of 64
    rec = tmp_path / "pulses.rec"
    with Writer(rec, Meta(50, 8, "wrist", "u")) as w:
        w.samples(np.arange(n) / 50, raw * (8 / 32768))
    model = context()["model"]
    params = counting.CountingParams(model["threshold"], model["refractory"], model["take_start"],
                                     model["take_count"], model["out_stride"])
    expected = counting.count_events(_expected_outputs(raw), params)
    assert len(expected) > 20
    with running_device(device_exe, "--imu", str(rec), "--speed", "0") as dev, Link.open(dev.url) as link:
        link.hello()
        link.set_mode(P.MODE_RUN)
        events, counts = [], []
        for _, msg in link.messages(2.0):
            if isinstance(msg, P.CountEvent):
                events.append(msg)
            elif isinstance(msg, P.Count):
                counts.append(msg.total)
            elif isinstance(msg, P.Error):
                break
    assert link.errors[-1].code == P.ERR_IMU
    assert [e.step for e in events] == expected
    assert [e.total for e in events] == list(range(1, len(expected) + 1))
    assert counts[-1] == len(expected)
    assert f"count: {len(expected)}" in dev.lines


# ---- the protocol's numbers: one definition in Python, rendered for C ----

def test_python_names_are_the_tables_values() -> None:
    """The module's constants are unpacked from the tables in order: each name has its value."""
    for prefix, table in (("", P.MESSAGE_TYPES), ("MODE_", P.MODES), ("ERR_", P.ERROR_CODES)):
        for code in table:
            assert getattr(P, prefix + code.name) == code.value, code
    assert P.TYPE_NAMES[P.SAMPLES] == "SAMPLES" and P.MODE_NAMES[P.MODE_REPLAY] == "replay"


def test_c_header_has_every_python_number(core_dir: Path, tmp_path: Path) -> None:
    """rc_protocol_defs.h as rendered: every type, mode, error code, limit and INFO offset
    printed by C equals the Python definition."""
    expected: dict[str, int] = {
        "RC_PROTOCOL_VERSION": P.PROTOCOL_VERSION, "RC_MAX_PAYLOAD": P.MAX_PAYLOAD,
        "RC_MAX_FRAME": P.MAX_FRAME, "RC_MAX_ENCODED": P.MAX_ENCODED,
        "RC_MAX_SAMPLES_PER_FRAME": P.MAX_SAMPLES_PER_FRAME, "RC_INFO_STR_MAX": P.INFO_STR_MAX,
        # INFO with three empty strings: the fixed part, then three length bytes
        "RC_INFO_FIXED_BYTES": len(P.encode_info(P.Info(1, *[0] * 11, "00" * 8, "", "", ""))) - 3,
    }
    for prefix, table in (("RC_MSG_", P.MESSAGE_TYPES), ("RC_MODE_", P.MODES), ("RC_ERR_", P.ERROR_CODES)):
        expected |= {prefix + c.name: c.value for c in table}
    expected |= {f"RC_INFO_AT_{name.upper()}": at for name, at in P.info_offsets().items()}
    program = tmp_path / "numbers.c"
    program.write_text('#include <stdio.h>\n#include "rc_protocol.h"\nint main(void)\n{\n' + "".join(
        f'    printf("{name} %ld\\n", (long){name});\n' for name in expected) + "    return 0;\n}\n")
    _cc([*STRICT, f"-I{core_dir}", str(program), "-o", str(tmp_path / "numbers")])
    out = subprocess.run([str(tmp_path / "numbers")], capture_output=True, text=True, check=True).stdout
    assert dict((n, int(v)) for n, v in map(str.split, out.splitlines())) == expected
