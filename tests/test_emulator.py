"""The emulated board qemu-mps2-an386 and `repcount.device.emulator`: boot, UART, exit codes,
instruction counter, memory limits, and that no QEMU ever outlives its owner."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import serial
from repcount.device import emulator, protocol
from repcount.device.emulator import Emulator
from repcount.device.link import Link
from repcount.errors import UserError
from repcount.firmware import boards, sizes
from repcount.firmware import render as firmware
from repcount.firmware.templates import write_to
from repcount.learn import quant, tflm

pytestmark = pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
    reason="needs arm-none-eabi-gcc and qemu-system-arm (make toolchain)",
)

HERE = Path(__file__).parent
BOARD = "boards/qemu-mps2-an386"
ARM_FLAGS = [
    "-std=c99", "-Wall", "-Wextra", "-Werror", "-Os", "-mthumb", "-mcpu=cortex-m4",
    "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard", "-ffunction-sections", "-fdata-sections",
    "-nostartfiles", "-Wl,--gc-sections", "--specs=nano.specs",
]  # fmt: skip
LOOPS = 100_000  # tests/c/qemu_board_smoke.c
CONTEXT = {"board": firmware.board_context(boards.load("qemu-mps2-an386"), "wrist")}


def render_board(out: Path) -> Path:
    """The board's glue rendered on its own (what `repcount firmware` puts in a project)."""
    for name in ("rc_qemu.h", "rc_startup.c", "rc_board.c", "link.ld.j2"):
        write_to(f"{BOARD}/{name}", CONTEXT, out / name.removesuffix(".j2"))
    return out


def link(out: Path, extra_source: str = "") -> subprocess.CompletedProcess[str]:
    sources: list[Path | str] = [out / "rc_startup.c", out / "rc_board.c", HERE / "c" / "qemu_board_smoke.c"]
    if extra_source:
        sources += [out / "extra.c", "-Wl,--undefined=keep"]  # keep() roots it against --gc-sections
        (out / "extra.c").write_text(extra_source)
    cmd = ["arm-none-eabi-gcc", *ARM_FLAGS, f"-I{out}", "-T", str(out / "link.ld")]
    cmd += ["-o", str(out / "smoke.elf")]
    return subprocess.run([*cmd, *map(str, sources)], capture_output=True, text=True)


@pytest.fixture(scope="module")
def smoke_elf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = render_board(tmp_path_factory.mktemp("qemu-board"))
    proc = link(out)
    assert proc.returncode == 0, proc.stderr
    return out / "smoke.elf"


def echo_probe(link: serial.SerialBase, timeout: float) -> str:
    for _ in range(50):
        link.write(b"a")
        if link.read(1) == b"b":
            return "echo"
    raise UserError("no echo")


def session_alive(pid: int) -> bool:
    """Whether any process is left in the session QEMU led (pgrep -s)."""
    return subprocess.run(["pgrep", "-s", str(pid)], capture_output=True).returncode == 0


def test_board_boots_echoes_counts_and_exits_with_its_code(smoke_elf: Path) -> None:
    with Emulator(smoke_elf, probe=echo_probe) as emu:
        assert emu.info == "echo"
        assert emu.url == f"socket://127.0.0.1:{emu.port}"
        with serial.serial_for_url(emu.url, timeout=5) as s:
            data = bytes(b for b in range(256) if b not in b"xfios")
            s.write(data)
            assert s.read(len(data)) == bytes((b + 1) & 0xFF for b in data)
            # Exact instruction count under -icount: 2 instructions per loop, plus the counter's
            # own and the 10 ms SysTick interrupt's (3 over the 25.6 ms the loop takes).
            s.write(b"i")
            counted = int(s.readline())
            assert 2 * LOOPS <= counted <= 2 * LOOPS + 100
            s.write(b"s")
            assert 0 < int(s.readline()) < 1024  # the painted stack shows the high-water mark
            s.write(b"x")
            assert emu.wait(timeout=10) == 42
        pid = emu.pid
    assert pid is not None and not session_alive(pid)


@pytest.mark.parametrize("command", [b"f", b"o"], ids=["jump-to-unmapped", "stack-overflow"])
def test_a_fault_ends_the_emulator_with_the_fault_code(smoke_elf: Path, command: bytes) -> None:
    with Emulator(smoke_elf, probe=echo_probe) as emu:
        with serial.serial_for_url(emu.url, timeout=5) as s:
            s.write(command)
            assert emu.wait(timeout=10) == emulator.EXIT_FAULT
        report = emu.fault()
        assert report is not None and report.startswith("rc-fault exception=0x00000003 pc=0x")


def test_stop_leaves_no_qemu_behind(smoke_elf: Path) -> None:
    emu = Emulator(smoke_elf, probe=echo_probe)
    emu.start()
    pid = emu.pid
    assert pid is not None and session_alive(pid)
    emu.stop()
    assert not session_alive(pid)


def test_a_killed_owner_takes_its_qemu_with_it(smoke_elf: Path) -> None:
    code = (
        "import sys, time\n"
        "from repcount.device.emulator import Emulator\n"
        "emu = Emulator(sys.argv[1], probe=None)\n"
        "emu.start()\n"
        "print(emu.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    owner = subprocess.Popen([sys.executable, "-c", code, str(smoke_elf)], stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None
        pid = int(owner.stdout.readline())
        assert session_alive(pid)
        owner.send_signal(signal.SIGKILL)  # no finally, no atexit: only the parent-death signal helps
        owner.wait()
        deadline = time.monotonic() + 10
        while session_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not session_alive(pid)
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
        owner.stdout.close()


def test_a_program_too_big_for_the_real_part_fails_to_link(tmp_path: Path) -> None:
    out = render_board(tmp_path)
    # 1.5 MB of constants: fits the AN386's 4 MiB code memory, not the 1 MB flash of the target.
    big_flash = "#include <stdint.h>\nconst uint8_t big[1536u * 1024u] = {1};\n"
    proc = link(out, big_flash + "const uint8_t *keep(void) { return big; }\n")
    assert proc.returncode != 0
    assert "region `FLASH' overflowed" in proc.stderr
    big_ram = "#include <stdint.h>\nuint8_t big[300u * 1024u];\nuint8_t *keep(void) { return big; }\n"
    proc = link(out, big_ram)
    assert proc.returncode != 0
    assert "region `RAM' overflowed" in proc.stderr


def test_build_explains_a_directory_that_is_not_a_project(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not a firmware project with a Makefile"):
        emulator.build(tmp_path)


def test_missing_firmware_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="neither a firmware project directory nor an ELF"):
        Emulator(tmp_path / "nope").start()


def test_a_firmware_that_never_answers_hello_fails_clearly_and_is_stopped(smoke_elf: Path) -> None:
    emu = Emulator(smoke_elf, ready_timeout=1.0)  # the smoke program echoes, it speaks no protocol
    with pytest.raises(UserError, match="no answer to HELLO after 2 tries.*QEMU still running"):
        emu.start()
    assert emu.pid is not None and not session_alive(emu.pid)


# ---- the real firmware: protocol app, pipeline and native engine on the emulated board ----


SHIPPED = sorted(p for p in (HERE.parent / "models").glob("*") if (p / "card.json").is_file())


def render_qemu(model: Path, root: Path) -> firmware.Project:
    return firmware.render(model, "qemu-mps2-an386", root / model.name, engine="native")


@pytest.fixture(scope="module")
def qemu_project(tmp_path_factory: pytest.TempPathFactory) -> firmware.Project:
    """A firmware of a small model converted by TensorFlow here (the layout of the shipped ones)."""
    import firmware_models

    root = tmp_path_factory.mktemp("qemu-firmware")
    data = firmware_models.convert("sigmoid")
    model = firmware_models.write_model_dir(root / "models" / "tiny", data, "tiny")
    return render_qemu(model, root)


@pytest.fixture(scope="module", params=["tiny", *(p.name for p in SHIPPED)])
def any_qemu_project(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> firmware.Project:
    """The small converted model's firmware, then each shipped model's."""
    if request.param == "tiny":
        return request.getfixturevalue("qemu_project")
    return render_qemu(HERE.parent / "models" / request.param, tmp_path_factory.mktemp("qemu-shipped"))


def test_firmware_answers_hello_with_its_model_hash_and_computes_what_tflm_computes(
    any_qemu_project: firmware.Project,
) -> None:
    qemu_project = any_qemu_project
    model = qemu_project.context["model"]
    inferences = 6
    n = model["window"] + (inferences - 1) * model["hop"]
    raw = np.random.default_rng(3).integers(-12000, 12000, (n, 3), dtype=np.int16)
    with Emulator(qemu_project.directory) as emu:
        assert emu.info.model_hash == qemu_project.model.tflite.model_hash
        assert (emu.info.board, emu.info.engine) == ("qemu-mps2-an386", "native")
        with Link.open(emu.url) as link:
            link.require_model(qemu_project.model.tflite.model_hash)
            outputs = [m for m in link.replay(raw) if isinstance(m, protocol.Output)]
        pid = emu.pid
    assert pid is not None and not session_alive(pid)
    assert [o.inference for o in outputs] == list(range(inferences))
    windows = [
        quant.quantize_input(raw[i * model["hop"] : i * model["hop"] + model["window"]],
                             model["input_multiplier"], model["input_shift"], model["input_zero_point"])
        for i in range(inferences)
    ]  # fmt: skip
    expected = tflm.run(qemu_project.model.tflite.data, windows)
    # The counted slice, the only scores the pipeline reads: a streaming engine computes
    # those alone (and writes the output zero point elsewhere).
    counted = slice(model["take_start"], model["take_start"] + model["take_count"])
    got = np.array([o.values for o in outputs], dtype=np.int8)
    assert np.array_equal(got[:, counted], expected[:, counted])
    if qemu_project.context["native"]["streaming"]:
        outside = np.delete(got, np.arange(model["output_len"])[counted], axis=1)
        assert (outside == model["output_zero_point"]).all()


def test_sizes_of_the_built_image(qemu_project: firmware.Project) -> None:
    figures = sizes.elf_sizes(emulator.build(qemu_project.directory))
    assert 0 < figures["flash_bytes"] < 32 * 1024
    assert figures["stack_bytes"] == 4096  # the linker script's stack is part of the RAM figure
    assert figures["ram_bytes"] > figures["stack_bytes"] + figures["serial_buffer_bytes"]
    assert figures["serial_buffer_bytes"] >= 2048  # the board's receive ring at least


def test_cost_figures_come_from_the_emulated_instruction_counter(qemu_project: firmware.Project) -> None:
    if "--wrap=rc_engine_invoke" not in (qemu_project.directory / "Makefile").read_text():
        pytest.skip("the qemu project Makefile does not link with -Wl,--wrap=rc_engine_invoke yet")
    model = qemu_project.context["model"]
    elf = emulator.build(qemu_project.directory)
    macs = sizes.model_figures(qemu_project.model.tflite, qemu_project.context["native"]["geometry"])
    computed = macs["macs_computed_per_inference"]
    figures = sizes.cost_figures(elf, model["sample_rate_hz"], model["hop"], computed, inferences=4)
    # Every MAC the engine computes is at least one multiply-accumulate instruction.
    assert figures["instructions_per_inference"] > computed // 2
    assert figures["instructions_per_second"] == round(
        figures["instructions_per_inference"] * model["sample_rate_hz"] / model["hop"]
    )
    assert figures["instructions_per_mac"] == round(figures["instructions_per_inference"] / computed, 2)
    if qemu_project.context["native"]["streaming"]:
        # the first inference computes the whole window, the steady ones the new steps only
        assert computed < macs["macs_per_inference"]
        assert figures["instructions_first_inference"] > figures["instructions_per_inference"]


def test_repcount_emulate_prints_the_url_serves_it_and_cleans_up_on_ctrl_c(
    qemu_project: firmware.Project,
) -> None:

    cmd = [sys.executable, "-m", "repcount.cli", "emulate", "--firmware", str(qemu_project.directory)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("socket://127.0.0.1:")
        with serial.serial_for_url(url, timeout=0.2) as link:
            assert emulator.hello(link, 10.0).model_hash == qemu_project.model.tflite.model_hash
        qemu = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
        assert len(qemu) == 1
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 130
        assert not session_alive(int(qemu[0]))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()


def test_a_port_in_use_is_a_clear_error(smoke_elf: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        emu = Emulator(smoke_elf, probe=echo_probe, port=port)
        with pytest.raises(UserError, match=f"port {port} is already in use; pick another"):
            emu.start()
    assert emu.pid is None  # refused before QEMU started


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--port", "99999"], "--port 99999: not a TCP port; give one from 1 to 65535, or leave --port out"),
        (["--port", "0"], "--port 0: not a TCP port; give one from 1 to 65535"),
        (["--port", "tcp"], "--port tcp: not a number; give a TCP port from 1 to 65535"),
        (["--timeout", "-1"], "--timeout -1: must be a number of seconds above 0"),
        (["--timeout", "0"], "--timeout 0: must be a number of seconds above 0"),
        (["--timeout", "inf"], "--timeout inf: must be a number of seconds above 0"),
    ],
)
def test_repcount_emulate_refuses_a_bad_port_or_timeout_in_one_line(
    smoke_elf: Path, option: list[str], message: str
) -> None:
    """Refused before anything is built or started: exit 2, one line, no traceback."""
    cmd = [sys.executable, "-m", "repcount.cli", "emulate", "--firmware", str(smoke_elf), *option]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"repcount emulate: error: {message}")
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_the_emulator_refuses_a_bad_port_or_timeout_before_qemu_starts(smoke_elf: Path) -> None:
    with pytest.raises(UserError, match="port 70000 is not a TCP port"):
        Emulator(smoke_elf, port=70000)
    with pytest.raises(UserError, match="the ready timeout must be a number of seconds above 0"):
        Emulator(smoke_elf, ready_timeout=-1.0)
