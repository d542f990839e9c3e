"""`repcount capture` against the host-linux device (the rendered firmware on a TCP socket).

The device's IMU plays a recording file; capture records it back over the protocol. The
loss test puts a small TCP proxy between them that drops, corrupts and duplicates chosen
frames, and checks capture reports exactly those losses.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from hostdevice import build_firmware, running_device
from repcount.data.recordings import Meta, Writer, load
from repcount.device import protocol as P

# Runs the capture subcommand exactly as the CLI does (argparse from the module, UserError
# printed without a traceback), without importing every other subcommand's module.
# The real command line, as a user runs it.
CAPTURE = [sys.executable, "-m", "repcount.cli", "capture"]
RATE = 50
LSB = 8 / 32768


def capture_cmd(port: str, out: Path, *extra: str) -> list[str]:
    return [*CAPTURE, "--port", port, "--out", str(out), "--activity", "jump-rope",
            "--user", "u01", "--mount", "wrist", *extra]


@pytest.fixture(scope="module")
def device_exe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The host-linux firmware exactly as `repcount firmware --board host-linux` renders it."""
    return build_firmware(tmp_path_factory.mktemp("firmware"))


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 s at 50 Hz of a deterministic signal, quantised to 16-bit counts at 8 g."""
    n = 60 * RATE
    t = np.arange(n) / RATE
    rng = np.random.default_rng(7)
    signal_g = np.sin(2 * np.pi * np.outer(t, [1.1, 2.3, 0.4])) * 3 + rng.normal(0, 0.3, (n, 3))
    acc = np.clip(np.round(signal_g / LSB), -32768, 32767) * LSB
    path = tmp_path_factory.mktemp("src") / "source.rec"
    with Writer(path, Meta(RATE, 8, "wrist", "sim-u01")) as w:
        w.samples(t, acc)
    return path


def test_capture_60_s_bit_for_bit(device_exe: Path, source: Path, tmp_path: Path) -> None:
    out = tmp_path / "cap.rec"
    with running_device(device_exe, "--imu", str(source), "--speed", "0") as dev:
        result = subprocess.run(capture_cmd(dev.url, out, "--duration", "60", "--json"),
                                capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["samples"] == 3000
    assert report["frames_lost"] == report["samples_missing"] == report["crc_errors"] == 0
    assert report["board"] == "host-linux" and report["declared_rate_hz"] == RATE
    src, got = load(source), load(out)
    assert np.array_equal(got.acc, src.acc)
    assert np.array_equal(got.t, src.t)
    assert got.meta.board == "host-linux" and got.meta.user == "u01"
    assert [(s.start, s.end, s.activity) for s in got.segments] == [(0, 59.98, "jump-rope")]
    assert "recorded 60 s; 3000 samples" in result.stderr


class LossyProxy:
    """TCP proxy device -> host that drops, corrupts or duplicates chosen SAMPLES frames.

    Frames are counted by their position among the SAMPLES frames the device sent; the
    proxy remembers how many samples each damaged frame held, so the test knows exactly
    what capture must report.
    """

    def __init__(self, target: str, drop: set[int], corrupt: set[int], duplicate: set[int]) -> None:
        host, port = target.removeprefix("socket://").split(":")
        self.upstream = socket.create_connection((host, int(port)))
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"socket://127.0.0.1:{self.server.getsockname()[1]}"
        self.drop, self.corrupt, self.duplicate = drop, corrupt, duplicate
        self.samples_lost = 0
        self.frames_done = 0
        self.stop = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        client, _ = self.server.accept()
        threading.Thread(target=self._pump_up, args=(client,), daemon=True).start()
        buf = b""
        sample_frame = 0
        while not self.stop:
            data = self.upstream.recv(65536)
            if not data:
                break
            buf += data
            *frames, buf = buf.split(b"\x00")
            out = bytearray()
            for enc in frames:
                wire = enc + b"\x00"
                decoded = P.cobs_decode(enc)
                if not decoded or decoded[0] != P.SAMPLES:
                    out += wire
                    continue
                k, sample_frame = sample_frame, sample_frame + 1
                n = (len(decoded) - 11) // 6
                if k in self.drop:
                    self.samples_lost += n
                elif k in self.corrupt:
                    self.samples_lost += n
                    damaged = bytearray(wire)
                    pos = len(damaged) - 3  # inside the CRC: never a COBS code byte here
                    damaged[pos] = damaged[pos] ^ 0x55 or 0xAA
                    out += damaged
                elif k in self.duplicate:
                    out += wire + wire
                else:
                    out += wire
            client.sendall(bytes(out))
        client.close()

    def _pump_up(self, client: socket.socket) -> None:
        while not self.stop:
            data = client.recv(65536)
            if not data:
                break
            self.upstream.sendall(data)

    def close(self) -> None:
        self.stop = True
        self.upstream.close()
        self.server.close()


def test_capture_reports_exactly_the_injected_losses(device_exe: Path, source: Path, tmp_path: Path) -> None:
    out = tmp_path / "lossy.rec"
    drop, corrupt, duplicate = {10, 11, 57, 200}, {30, 120, 121}, {5, 77}
    with running_device(device_exe, "--imu", str(source), "--speed", "0") as dev:
        proxy = LossyProxy(dev.url, drop, corrupt, duplicate)
        try:
            result = subprocess.run(capture_cmd(proxy.url, out, "--duration", "60", "--json"),
                                    capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        finally:
            proxy.close()
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["frames_lost"] == len(drop) + len(corrupt)
    assert report["crc_errors"] + report["cobs_errors"] == len(corrupt)
    assert report["duplicate_frames"] == len(duplicate)
    assert report["samples_missing"] == proxy.samples_lost == 10 * (len(drop) + len(corrupt))
    assert report["samples"] == 3000 - proxy.samples_lost
    src, got = load(source), load(out)
    kept = np.isin(src.t, got.t)
    assert kept.sum() == len(got.t)
    assert np.array_equal(got.acc, src.acc[kept])


def _status_samples(line: str) -> int | None:
    parts = line.split()
    return int(parts[2]) if len(parts) > 3 and parts[3] == "samples" else None


@contextmanager
def _capturing(url: str, out: Path, min_samples: int) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """Run capture until its status reports min_samples (or its stderr ends), and always reap it.

    Yields the process and the last sample count its status reported; the caller interrupts it.
    """
    proc = subprocess.Popen(capture_cmd(url, out), stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, text=True)
    try:
        assert proc.stderr is not None
        reported = 0
        for line in proc.stderr:
            reported = _status_samples(line) or reported
            if reported >= min_samples:
                break
        yield proc, reported
    finally:
        proc.kill()
        proc.wait()


def test_killed_capture_leaves_a_loadable_file_missing_at_most_the_last_second(
    device_exe: Path, source: Path, tmp_path: Path
) -> None:
    out = tmp_path / "killed.rec"
    with running_device(device_exe, "--imu", str(source), "--speed", "5") as dev:
        with _capturing(dev.url, out, 600) as (proc, reported):
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
    got = load(out)  # must load: no partial line, valid header
    # Status lines are printed right after a flush: everything they count is on disk.
    assert len(got.t) >= reported >= 600
    src = load(source)
    assert np.array_equal(got.acc, src.acc[: len(got.t)])


def test_ctrl_c_closes_the_file_and_says_so(device_exe: Path, source: Path, tmp_path: Path) -> None:
    out = tmp_path / "int.rec"
    with running_device(device_exe, "--imu", str(source), "--speed", "5") as dev:
        with _capturing(dev.url, out, 1) as (proc, _):
            assert proc.stderr is not None
            proc.send_signal(signal.SIGINT)
            rest = proc.stderr.read()
            assert proc.wait(timeout=10) == 0
    assert "stopped with Ctrl-C" in rest
    got = load(out)
    assert len(got.segments) == 1 and got.segments[0].end == got.t[-1]


def test_unplugged_device_leaves_a_valid_file_and_a_clear_message(
    device_exe: Path, source: Path, tmp_path: Path
) -> None:
    out = tmp_path / "unplugged.rec"
    with running_device(device_exe, "--imu", str(source), "--speed", "5") as dev:
        with _capturing(dev.url, out, 1) as (proc, _):
            assert proc.stderr is not None
            dev.proc.kill()
            rest = proc.stderr.read()
            assert proc.wait(timeout=10) == 1
    assert "the port went away" in rest and "is the cable in?" in rest
    assert len(load(out).t) > 0


def test_silent_port_gets_a_clear_error(tmp_path: Path) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    try:
        url = f"socket://127.0.0.1:{server.getsockname()[1]}"
        result = subprocess.run(capture_cmd(url, tmp_path / "x.rec"), capture_output=True, text=True,
                                timeout=30, stdin=subprocess.DEVNULL)
    finally:
        server.close()
    assert result.returncode == 2
    assert "no answer to HELLO after 5 tries" in result.stderr and "--line-mode" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_port_gets_a_clear_error(tmp_path: Path) -> None:
    result = subprocess.run(capture_cmd("/dev/does-not-exist", tmp_path / "x.rec"), capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 2
    assert "cannot open serial port /dev/does-not-exist" in result.stderr
    assert "repcount ports" in result.stderr


def test_nonpositive_rate_gets_a_clear_error(tmp_path: Path) -> None:
    cmd = capture_cmd("/dev/does-not-exist", tmp_path / "x.rec", "--line-mode", "--rate", "-50")
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "--rate must be positive, got -50" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "x.rec").exists()


def test_line_mode_measures_the_rate_and_counts_bad_lines(tmp_path: Path) -> None:
    """A board printing x,y,z lines at 100 Hz, with a separator and garbage mixed in."""
    server = socket.create_server(("127.0.0.1", 0))
    url = f"socket://127.0.0.1:{server.getsockname()[1]}"
    garbage = {20: b"-,-,-\n", 60: b"hello\n", 90: b"1,2\n"}  # all before the capture ends at 1.5 s

    def board() -> None:
        conn, _ = server.accept()
        start = time.monotonic()
        try:
            for i in range(400):
                while time.monotonic() < start + i / 100:
                    time.sleep(0.001)
                conn.sendall(f"{i % 7 * 0.5},{-1.0},{i}\n".encode())
                conn.sendall(garbage.get(i, b""))
        except OSError:
            pass
        conn.close()

    threading.Thread(target=board, daemon=True).start()
    out = tmp_path / "lines.rec"
    try:
        cmd = capture_cmd(url, out, "--line-mode", "--rate-window", "1", "--duration", "1.5", "--units", "mg",
                          "--json")
        result = subprocess.run(cmd,
                                capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    finally:
        server.close()
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["unparseable_lines"] == len(garbage)
    assert report["measured_rate_stderr_hz"] is not None
    # Measured from arrivals, not guessed (loose: a loaded machine delays the sending thread).
    assert abs(report["declared_rate_hz"] - 100) < 25
    assert "repcount capture: measured" in result.stderr and "Hz over 1 s" in result.stderr
    got = load(out)
    assert len(got.t) == report["samples"] == round(1.5 * report["declared_rate_hz"])
    assert got.acc[0, 1] == pytest.approx(-1e-3)  # mg converted to g
    assert "rate_source" in got.meta.extra


def test_capture_help_explains_every_option() -> None:
    result = subprocess.run([*CAPTURE, "--help"], capture_output=True, text=True)
    text = result.stdout
    assert "Examples:" in text and "repcount capture --port /dev/ttyACM0" in text
    for option in ("--port", "--out", "--activity", "--user", "--mount", "--duration", "--line-mode",
                   "--baud", "--json", "--rate", "--units", "--event-kind"):
        assert option in text
    assert "space" in text and "start / stop a segment" in text


def test_keys_mark_segments_and_events(device_exe: Path, source: Path, tmp_path: Path) -> None:
    """With a terminal on stdin: s starts and stops a segment, space marks an event, q stops."""
    import os
    import pty

    out = tmp_path / "keys.rec"
    master, slave = pty.openpty()
    with running_device(device_exe, "--imu", str(source), "--speed", "5") as dev:
        proc = subprocess.Popen(capture_cmd(dev.url, out, "--activity", "jump-rope"), stdin=slave,
                                stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        os.close(slave)
        try:
            assert proc.stderr is not None
            keys = iter([b"s", b" ", b"s", b"q"])
            for line in proc.stderr:
                if (_status_samples(line) or 0) > 0:
                    key = next(keys, None)
                    if key is None:
                        break
                    os.write(master, key)
                    if key == b"q":
                        break
            rest = proc.stderr.read()
            assert proc.wait(timeout=10) == 0
        finally:
            proc.kill()
            proc.wait()
            os.close(master)
    assert "stopped with q" in rest
    got = load(out)
    assert len(got.segments) == 1 and len(got.events) == 1
    seg, event = got.segments[0], got.events[0]
    assert seg.activity == "jump-rope" and event.kind == "jump"  # jump-rope's first event kind
    assert seg.start <= event.t <= seg.end < got.t[-1] + 1e-9


def test_ports_guess_the_board_from_usb_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    from repcount.device import link as seriallink
    from serial.tools.list_ports_common import ListPortInfo

    nano = ListPortInfo("/dev/ttyACM0")
    nano.vid, nano.pid, nano.description = 0x2341, 0x805A, "Nano 33 BLE"
    other = ListPortInfo("/dev/ttyUSB3")
    other.vid, other.pid = 0x1234, 0x5678
    monkeypatch.setattr(seriallink.serial.tools.list_ports, "comports", lambda: [other, nano])
    ports = seriallink.list_ports()
    assert [(p.device, p.usb_id, p.board_guess) for p in ports] == [
        ("/dev/ttyACM0", "2341:805A", "nano33ble-sense-rev2"),
        ("/dev/ttyUSB3", "1234:5678", None),
    ]


@pytest.mark.parametrize(("true_rate", "warns"), [(52.0, True), (50.0, False)])
def test_rate_is_measured_from_arrivals_and_a_mismatch_is_reported(
    true_rate: float, warns: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    """20 s of samples arriving in batches of 10 (as frames do) with jitter."""
    from repcount.device.capture import Progress, _warn_rate

    rng = np.random.default_rng(0)
    prog = Progress()
    for last in range(9, 1000, 10):
        prog.arrived(last, 100.0 + last / true_rate + rng.uniform(0, 0.004))
    measured, err = prog.measured_rate()
    assert measured == pytest.approx(true_rate, abs=3 * err) and err < 0.05
    _warn_rate(measured, err, 50.0, prog)
    assert ("not at the 50 Hz the file declares" in capsys.readouterr().err) is warns


def test_end_of_the_imu_keeps_the_last_partial_frame(device_exe: Path, source: Path, tmp_path: Path) -> None:
    """The device's IMU file ends mid-frame: the unfinished batch still arrives, then the error."""
    src = load(source)
    short = tmp_path / "short.rec"
    with Writer(short, src.meta) as w:
        w.samples(src.t[:1005], src.acc[:1005])
    out = tmp_path / "end.rec"
    with running_device(device_exe, "--imu", str(short), "--speed", "0") as dev:
        result = subprocess.run(capture_cmd(dev.url, out, "--json"), capture_output=True, text=True,
                                timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["stopped_by"] == "device error" and "IMU read failed or ended" in report["message"]
    got = load(out)
    assert report["samples"] == len(got.t) == 1005
    assert np.array_equal(got.acc, src.acc[:1005])


def test_no_samples_leaves_no_file(device_exe: Path, tmp_path: Path) -> None:
    """A device whose IMU has nothing: a clear message, and no header-only file behind."""
    empty = tmp_path / "empty.rec"
    empty.write_text("# repcount-recording: 1\n")
    out = tmp_path / "none.rec"
    with running_device(device_exe, "--imu", str(empty), "--speed", "0") as dev:
        result = subprocess.run(capture_cmd(dev.url, out), capture_output=True, text=True, timeout=60,
                                stdin=subprocess.DEVNULL)
    assert result.returncode == 1
    assert "IMU read failed or ended" in result.stderr and "no file was written" in result.stderr
    assert not out.exists()
