"""The emulated Cortex-M4F board: a firmware project run under QEMU's Arm MPS2 AN386.

`build` runs `make` in a generated qemu-mps2-an386 project (only what changed is rebuilt);
`Emulator` starts qemu-system-arm with the board's UART on a free local TCP port, waits
until the firmware answers the protocol's HELLO, and gives the URL any repcount code that
takes a serial port can open (pyserial opens `socket://` URLs). `model_firmware` renders a
model's firmware for this board and builds it: what `repcount hil` runs when no device is
named, and what the HIL suite and the benchmark run.

QEMU never outlives its owner: it runs in its own session with a parent-death signal, and
`stop` (leaving the `with` block) ends its whole process group. It runs with
`-icount shift=7`: each guest instruction advances virtual time by 128 ns, so the
firmware's SysTick counts instructions exactly and reports them for every inference.
These are instructions, not cycles (no pipeline or memory timing). docs/emulator.md.

    from repcount.device.emulator import Emulator
    with Emulator("out/fw-qemu") as emu:
        print(emu.url, emu.info.model_hash)
"""

from __future__ import annotations

import ctypes
import math
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import serial

from repcount.device import protocol as P
from repcount.device.link import Link
from repcount.errors import UserError
from repcount.firmware.render import render

QEMU = "qemu-system-arm"
BOARD = "qemu-mps2-an386"  # the board id of the firmware this emulator runs
MACHINE = "mps2-an386"
# The firmware converts SysTick ticks to instructions with this shift (rc_board.c).
ICOUNT_SHIFT = 7
ELF = Path("build") / "firmware.elf"  # what the board's generated Makefile builds
# Exit codes of the firmware (rc_qemu.h): never 0, since an emulator ended by SIGTERM exits 0.
EXIT_FAULT = 90
_PR_SET_PDEATHSIG = 1
HELLO_RETRY_S = 0.5
TOOLCHAIN_HINT = "install it with `make toolchain` (Debian: gcc-arm-none-eabi, qemu-system-arm)"

Probe = Callable[[serial.SerialBase, float], Any]  # (open port, timeout in s) -> what the firmware said


def build(firmware_dir: str | Path) -> Path:
    """Run `make` in a generated project and return its ELF (make rebuilds only what changed)."""
    project = Path(firmware_dir)
    if not (project / "Makefile").is_file():
        raise UserError(
            f"{project} is not a firmware project with a Makefile; render one with "
            "`repcount firmware --board qemu-mps2-an386 --engine native --model models/NAME --out DIR`"
        )
    for tool in ("make", "arm-none-eabi-gcc"):
        if shutil.which(tool) is None:
            raise UserError(f"`{tool}` is not installed; {TOOLCHAIN_HINT}")
    proc = subprocess.run(["make", "-C", str(project)], capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise UserError(f"building {project} failed (make exited {proc.returncode}):\n{tail}")
    return find_elf(project)


def model_firmware(model_dir: str | Path, out: str | Path) -> Path:
    """Render a model's firmware for this board into `out`, build it, and return `out`.

    The native engine: bit-exact with TFLite Micro's kernels, the engine the benchmark
    measures, and no TFLM source tree to compile. The mount is the card's (render's default)."""
    project = Path(out)
    render(model_dir, BOARD, project, engine="native")
    build(project)
    return project


def find_elf(project: Path) -> Path:
    """The ELF a project's build produced: build/firmware.elf of the generated Makefile, else
    the newest .elf under the project."""
    if (project / ELF).is_file():
        return project / ELF
    elves = sorted(project.rglob("*.elf"), key=lambda p: p.stat().st_mtime)
    if not elves:
        raise UserError(f"`make` in {project} produced no .elf file; is it a qemu-mps2-an386 project?")
    return elves[-1]


def free_port() -> int:
    """A TCP port nobody listens on now (the OS picks it; QEMU binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Whether a fixed --port can be bound, so a taken one is reported before QEMU starts."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def qemu_command(elf: Path, port: int, console: Path) -> list[str]:
    """The QEMU command line (docs: emulated-board.md): UART0 on a TCP server, semihosting
    on, the firmware's semihosting console written to the file `console`."""
    return [
        QEMU, "-M", MACHINE, "-kernel", str(elf),
        "-display", "none", "-monitor", "none", "-nodefaults", "-nic", "none",
        "-icount", f"shift={ICOUNT_SHIFT}",
        "-semihosting-config", "enable=on,target=native,chardev=console",
        "-chardev", f"file,id=console,path={console}",
        "-chardev", f"socket,id=u0,host=127.0.0.1,port={port},server=on,wait=off,nodelay=on",
        "-serial", "chardev:u0",
    ]  # fmt: skip


def _die_with_parent() -> None:
    """In the child before exec: get SIGKILL when the parent dies, so QEMU never outlives it."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def hello(port: serial.SerialBase, timeout: float) -> P.Info:
    """The firmware's INFO: HELLO is resent every half second until it answers or `timeout`
    ends (bytes that reach the UART before the firmware enables its receiver are lost)."""
    return Link(port).hello(attempts=max(1, math.ceil(timeout / HELLO_RETRY_S)), timeout=HELLO_RETRY_S)


class Emulator:
    """QEMU running one firmware, its UART at `url`; a context manager that always cleans up.

    `firmware` is a project directory (built with `make` first) or an ELF file. On entry
    the emulator is started and `probe(link, timeout)` (default: the protocol's HELLO, whose INFO
    is kept in `info`) is retried until the firmware answers; the probe's connection is
    then closed, so `url` is free for the caller. `probe=None` only waits for the socket.
    QEMU gets SIGKILL when the thread that started it ends (Linux's parent-death signal
    follows the thread), so start it from the thread that outlives its use.
    """

    def __init__(
        self,
        firmware: str | Path,
        *,
        probe: Probe | None = hello,
        ready_timeout: float = 20.0,
        port: int | None = None,
    ) -> None:
        if port is not None and not 1 <= port <= 65535:
            raise UserError(f"port {port} is not a TCP port: give one from 1 to 65535, or none (a free one)")
        if not (math.isfinite(ready_timeout) and ready_timeout > 0):
            raise UserError(f"the ready timeout must be a number of seconds above 0, not {ready_timeout:g}")
        self.firmware = Path(firmware)
        self.probe = probe
        self.ready_timeout = ready_timeout
        self.fixed_port = port
        self.port = 0
        self.info: Any = None
        self.elf: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._console: Path | None = None
        # What QEMU and the firmware printed, kept when stop() removes the files.
        self._kept_stderr = b""
        self._kept_console = ""

    @property
    def url(self) -> str:
        return f"socket://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> str:
        """Start QEMU and wait until the firmware answers; returns the URL."""
        if shutil.which(QEMU) is None:
            raise UserError(f"`{QEMU}` is not installed; {TOOLCHAIN_HINT}")
        if self.firmware.is_dir():
            self.elf = build(self.firmware)
        elif self.firmware.is_file():
            self.elf = self.firmware
        else:
            raise UserError(f"{self.firmware} is neither a firmware project directory nor an ELF file")
        if self.fixed_port and not port_is_free(self.fixed_port):
            raise UserError(f"port {self.fixed_port} is already in use; pick another or leave --port out")
        try:
            for _attempt in range(3):  # another program may take the free port before QEMU binds it
                self.port = self.fixed_port or free_port()
                self._launch()
                if self._wait_for_socket():
                    break
                if self.fixed_port or b"Address already in use" not in self.stderr_bytes():
                    raise UserError(f"QEMU failed to start: {self.stderr_text() or self._proc_status()}")
                self.stop()
            else:
                raise UserError("QEMU could not bind a free local port (tried 3 times)")
            if self.probe is not None:
                self.info = self._probe()
        except BaseException:
            self.stop()
            raise
        return self.url

    def _launch(self) -> None:
        assert self.elf is not None
        self._stderr = tempfile.TemporaryFile()
        self._tmp = tempfile.TemporaryDirectory(prefix="repcount-qemu-")
        self._console = Path(self._tmp.name) / "console.txt"
        self._proc = subprocess.Popen(
            qemu_command(self.elf, self.port, self._console),
            stdin=subprocess.DEVNULL,
            stdout=self._stderr,
            stderr=self._stderr,
            start_new_session=True,  # its own process group, signalled as a whole in stop()
            preexec_fn=_die_with_parent,
        )

    def _wait_for_socket(self) -> bool:
        """True once QEMU listens on the port; False if it exited first."""
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.exit_code is not None:
                return False
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return True
            except OSError:
                time.sleep(0.02)
        raise UserError(f"QEMU did not open its UART port {self.port} within {self.ready_timeout:g} s")

    def _probe(self) -> Any:
        assert self.probe is not None
        link = serial.serial_for_url(self.url, timeout=0.2)
        try:
            return self.probe(link, self.ready_timeout)
        except UserError as exc:
            status = self._proc_status()
            raise UserError(f"{exc} ({status})") from None
        finally:
            link.close()

    def fault(self) -> str | None:
        """The firmware's fault report (`rc-fault exception=... pc=...`), if it faulted."""
        return next((line for line in self.console_lines() if line.startswith("rc-fault ")), None)

    @property
    def exit_code(self) -> int | None:
        """QEMU's exit code once it has ended (the firmware's semihosting exit code), else None."""
        return None if self._proc is None else self._proc.poll()

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the firmware to end the emulator; its exit code."""
        assert self._proc is not None
        return self._proc.wait(timeout)

    def stderr_bytes(self) -> bytes:
        """What QEMU itself printed (its errors)."""
        if self._stderr is None:
            return self._kept_stderr
        self._stderr.flush()
        self._stderr.seek(0)
        return self._stderr.read()

    def stderr_text(self) -> str:
        return self.stderr_bytes().decode("utf-8", "replace").strip()

    def console_lines(self) -> list[str]:
        """Lines the firmware wrote to its semihosting console so far (e.g. `rc-cost ...`)."""
        if self._console is None:
            return self._kept_console.splitlines()
        if not self._console.is_file():
            return []
        return self._console.read_text("ascii", "replace").splitlines()

    def _proc_status(self) -> str:
        code = self.exit_code
        if code is None:
            return "QEMU still running"
        if code == EXIT_FAULT:
            return f"the firmware faulted: {self.fault() or 'no report'} (QEMU exit code {code})"
        return f"QEMU exited with code {code}: {self.stderr_text() or 'no message'}"

    def stop(self) -> int | None:
        """End QEMU: SIGTERM its process group, wait, then SIGKILL. Returns its exit code.

        Signals go only to a QEMU not yet reaped, so its group id cannot have been reused.
        What it printed stays readable (stderr_text, console_lines); its files are removed."""
        proc = self._proc
        if proc is None:
            return None
        if proc.poll() is None:
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait()
        self._release_files()
        return proc.returncode

    def _release_files(self) -> None:
        self._kept_stderr = self.stderr_bytes()
        self._kept_console = "\n".join(self.console_lines())
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp, self._console = None, None


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
