"""`repcount capture` against the host-linux device (the rendered firmware on a TCP socket).

The device's IMU plays a recording file; capture records it back over the protocol. The
loss test puts a small TCP proxy between them that drops, corrupts and duplicates chosen
frames, and checks capture reports exactly those losses.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
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
from fakedevice import FakeDevice, fake_info
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
    # The segment was labelled while it was recorded: SIGKILL cannot take the label away.
    assert [(s.start, s.activity) for s in got.segments] == [(0, "jump-rope")]
    assert got.t[-1] - 1.0 <= got.segments[0].end <= got.t[-1]


@pytest.mark.parametrize(("sig", "said"), [(signal.SIGINT, "stopped with Ctrl-C"),
                                          (signal.SIGTERM, "stopped by SIGTERM"),
                                          (signal.SIGHUP, "stopped by SIGHUP")])
def test_ctrl_c_sigterm_and_sighup_close_the_file_labelled(
    device_exe: Path, source: Path, tmp_path: Path, sig: signal.Signals, said: str
) -> None:
    """systemd, `timeout` and a closing terminal stop capture as Ctrl-C does: labelled to the last sample."""
    out = tmp_path / "int.rec"
    with running_device(device_exe, "--imu", str(source), "--speed", "5") as dev:
        with _capturing(dev.url, out, 1) as (proc, _):
            assert proc.stderr is not None
            proc.send_signal(sig)
            rest = proc.stderr.read()
            assert proc.wait(timeout=10) == 130
    assert said in rest and "Traceback" not in rest
    got = load(out)
    assert [(s.start, s.end, s.activity) for s in got.segments] == [(0, got.t[-1], "jump-rope")]


def test_unplugged_device_leaves_a_valid_file_and_a_clear_message(
    device_exe: Path, source: Path, tmp_path: Path
) -> None:
    out = tmp_path / "unplugged.rec"
    with running_device(device_exe, "--imu", str(source), "--speed", "5") as dev:
        with _capturing(dev.url, out, 1) as (proc, _):
            assert proc.stderr is not None
            dev.proc.kill()
            rest = proc.stderr.read()
            assert proc.wait(timeout=10) == 2
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
                          "--count", "9", "--json")
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
    assert [(c.start, c.end, c.kind, c.n) for c in got.counts] == [(0, got.t[-1], "jump", 9)]


def test_capture_help_explains_every_option() -> None:
    result = subprocess.run([*CAPTURE, "--help"], capture_output=True, text=True)
    text = result.stdout
    assert "Examples:" in text and "repcount capture --port /dev/ttyACM0" in text
    for option in ("--port", "--out", "--activity", "--user", "--mount", "--duration", "--line-mode",
                   "--baud", "--json", "--rate", "--units", "--event-kind", "--force", "--count"):
        assert option in text
    assert "space" in text and "start / stop a segment" in text and "Enter alone to skip" in text


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
    from repcount.device.capture.session import Progress, warn_rate

    rng = np.random.default_rng(0)
    prog = Progress()
    for last in range(9, 1000, 10):
        prog.arrived(last, 100.0 + last / true_rate + rng.uniform(0, 0.004))
    measured, err = prog.measured_rate()
    assert measured == pytest.approx(true_rate, abs=3 * err) and err < 0.05
    warn_rate(measured, err, 50.0, prog)
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
    assert result.returncode == 2
    report = json.loads(result.stdout)
    assert report["stopped_by"] == "device error" and "IMU read failed or ended" in report["message"]
    assert report["error"] == report["message"] and report["exit_code"] == 2
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
    assert result.returncode == 2
    assert "IMU read failed or ended" in result.stderr and "no file was written" in result.stderr
    assert not out.exists()


def test_an_existing_file_is_never_touched_without_force(tmp_path: Path) -> None:
    """Refused before the port opens (this port does not exist), the old recording byte for byte."""
    out = tmp_path / "old.rec"
    out.write_bytes(b"precious")
    result = subprocess.run(capture_cmd("/dev/does-not-exist", out), capture_output=True, text=True,
                            timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"repcount capture: error: --out {out}: already exists; choose another name, or pass --force to "
        "replace it"]
    assert out.read_bytes() == b"precious"


def test_force_with_no_samples_leaves_the_existing_file_and_says_so(device_exe: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.rec"
    empty.write_text("# repcount-recording: 1\n")
    out = tmp_path / "old.rec"
    out.write_bytes(b"precious")
    with running_device(device_exe, "--imu", str(empty), "--speed", "0") as dev:
        result = subprocess.run(capture_cmd(dev.url, out, "--force"), capture_output=True, text=True,
                                timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    assert f"no samples arrived, so no file was written; the existing {out} is untouched" in result.stderr
    assert out.read_bytes() == b"precious"


def test_force_replaces_the_existing_file(device_exe: Path, source: Path, tmp_path: Path) -> None:
    out = tmp_path / "old.rec"
    out.write_bytes(b"precious")
    with running_device(device_exe, "--imu", str(source), "--speed", "0") as dev:
        result = subprocess.run(capture_cmd(dev.url, out, "--force", "--duration", "2"), capture_output=True,
                                text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    assert len(load(out).t) == 2 * RATE


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("repcount capture: error: "), result.stderr
    return lines[0]


@pytest.mark.parametrize(("extra", "said"), [
    (("--activity", "jump,rope"), "--activity 'jump,rope': a label cannot hold commas"),
    (("--activity", "jump\nrope"), "--activity 'jump\\nrope': a label cannot hold commas, line breaks"),
    (("--event-kind", "a,b"), "--event-kind 'a,b'"),
    (("--user", "me\n# mount: bag"), "--user 'me\\n# mount: bag': must be one line of text"),
    (("--line-mode", "--full-scale", "-8"), "--full-scale -8: the IMU's range in g, one of 2, 4, 8, 16"),
    (("--line-mode", "--full-scale", "0"), "--full-scale 0: the IMU's range in g, one of 2, 4, 8, 16"),
    (("--line-mode", "--board", "b\r"), "--board 'b\\r': must be one line"),
    (("--line-mode", "--rate", "-50"), "--rate must be a positive number, got -50"),
    (("--line-mode", "--rate", "nan"), "--rate must be a positive number, got nan"),
    (("--duration", "0"), "--duration must be a positive number, got 0"),
    (("--duration", "inf"), "--duration must be a positive number, got inf"),
    (("--count", "-1"), "--count must be a whole number >= 0, got -1"),
])
def test_bad_options_are_refused_in_one_line_before_anything(
    tmp_path: Path, extra: tuple[str, ...], said: str
) -> None:
    """Each would write a file the loader rejects or misreads: refused before the port opens."""
    out = tmp_path / "x.rec"
    result = subprocess.run(capture_cmd("/dev/does-not-exist", out, *extra), capture_output=True, text=True,
                            timeout=60, stdin=subprocess.DEVNULL)
    assert said in _one_error_line(result)
    assert not out.exists()


@pytest.mark.parametrize(("info", "said"), [
    (fake_info(full_scale_g=0), "the device's INFO reports a full scale of 0 g"),
    (fake_info(rate_hz=0), "the device's INFO reports a sample rate of 0 Hz"),
    (fake_info(board="nano\n# mount: bag"), "control or non-ASCII characters in its board"),
])
def test_a_device_whose_info_is_impossible_is_refused_before_writing(
    tmp_path: Path, info: P.Info, said: str
) -> None:
    device = FakeDevice(info, [0, 10, 20])
    out = tmp_path / "x.rec"
    try:
        result = subprocess.run(capture_cmd(device.url, out), capture_output=True, text=True, timeout=60,
                                stdin=subprocess.DEVNULL)
    finally:
        device.close()
    assert said in _one_error_line(result) and "nothing was written" in result.stderr
    assert not out.exists()


def test_a_wild_sample_index_is_dropped_and_capture_resyncs(tmp_path: Path) -> None:
    """One frame numbered +2^31: dropped and reported; the frames after it are kept, the clock unmoved."""
    firsts = [10 * k for k in range(40)]
    firsts[7] += 2**31
    device = FakeDevice(fake_info(), firsts)
    out = tmp_path / "wild.rec"
    try:
        result = subprocess.run(capture_cmd(device.url, out, "--json"), capture_output=True, text=True,
                                timeout=60, stdin=subprocess.DEVNULL)
    finally:
        device.close()
    assert result.returncode == 2, result.stderr  # the fake's IMU ends, as a device error
    report = json.loads(result.stdout)
    assert report["out_of_sequence_frames"] == 1 and report["samples_dropped_out_of_sequence"] == 10
    assert report["samples"] == 390 and report["samples_missing"] == 10
    assert "1 frames with an impossible sample index were dropped" in result.stderr
    got = load(out)
    assert len(got.t) == 390 and got.t[-1] == pytest.approx(399 / RATE)
    assert [(s.start, s.end) for s in got.segments] == [(0, got.t[-1])]


def test_a_device_stuck_in_a_wild_numbering_stops_the_capture(tmp_path: Path) -> None:
    firsts = [10 * k for k in range(10)] + [2**31 + 10 * k for k in range(10)]
    device = FakeDevice(fake_info(), firsts)
    out = tmp_path / "stuck.rec"
    try:
        result = subprocess.run(capture_cmd(device.url, out, "--json"), capture_output=True, text=True,
                                timeout=60, stdin=subprocess.DEVNULL)
    finally:
        device.close()
    assert result.returncode == 2
    report = json.loads(result.stdout)
    assert report["stopped_by"] == "device error" and "numbering jumped from 100 to" in report["message"]
    assert len(load(out).t) == 100


def test_count_option_writes_the_count_label(device_exe: Path, source: Path, tmp_path: Path) -> None:
    out = tmp_path / "counted.rec"
    with running_device(device_exe, "--imu", str(source), "--speed", "0") as dev:
        result = subprocess.run(capture_cmd(dev.url, out, "--duration", "4", "--count", "12"),
                                capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    got = load(out)
    assert [(c.start, c.end, c.kind, c.n) for c in got.counts] == [(0, got.t[-1], "jump", 12)]
    assert [(s.start, s.end) for s in got.segments] == [(0, got.t[-1])]


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs (needs root: the test is skipped without it)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (not root)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_stops_cleanly_with_the_samples_so_far_loadable(
    device_exe: Path, source: Path, tiny_disk: Path
) -> None:
    out = tiny_disk / "full.rec"
    with running_device(device_exe, "--imu", str(source), "--speed", "0") as dev:
        result = subprocess.run(capture_cmd(dev.url, out, "--duration", "60", "--json"), capture_output=True,
                                text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "No space left on device" in errors[0]
    got = load(out)
    assert 100 < len(got.t) < 3000 and not got.warnings
    assert f"the {len(got.t)} samples written before it are in the file" in errors[0]
    assert [(s.start, s.end) for s in got.segments] == [(0, got.t[-1])]
    assert json.loads(result.stdout)["error"] == errors[0].removeprefix("repcount capture: error: ")
    assert np.array_equal(got.acc, load(source).acc[: len(got.t)])


def test_a_second_capture_on_a_port_in_use_is_refused(device_exe: Path, source: Path, tmp_path: Path) -> None:
    """On a serial device (the host-linux device's pseudo-terminal): the first capture is not disturbed."""
    first, second = tmp_path / "first.rec", tmp_path / "second.rec"
    with running_device(device_exe, "--pty", "--imu", str(source), "--speed", "5") as dev:
        with _capturing(dev.url, first, 50) as (proc, _):
            result = subprocess.run(capture_cmd(dev.url, second), capture_output=True, text=True, timeout=60,
                                    stdin=subprocess.DEVNULL)
            assert proc.stderr is not None
            proc.send_signal(signal.SIGINT)
            rest = proc.stderr.read()
            assert proc.wait(timeout=10) == 130
    assert f"serial port {dev.url} is in use by another program" in _one_error_line(result)
    assert not second.exists()
    assert "stopped with Ctrl-C" in rest
    got = load(first)
    assert np.array_equal(got.acc, load(source).acc[: len(got.t)])  # no frame taken by the second


class Terminal:
    """capture with a pseudo-terminal on stdin, as a person runs it; its stderr read as it comes."""

    def __init__(self, cmd: list[str]) -> None:
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(cmd, stdin=slave, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
        os.close(slave)
        self.text = ""

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        """Read stderr until `pattern` matches what came after the last match."""
        assert self.proc.stderr is not None
        fd = self.proc.stderr.fileno()
        deadline = time.monotonic() + timeout
        while (found := re.search(pattern, self.text)) is None:
            if time.monotonic() > deadline or not select.select([fd], [], [], deadline - time.monotonic())[0]:
                raise AssertionError(f"{pattern!r} not in {self.text!r}")
            chunk = os.read(fd, 4096)
            if not chunk:
                raise AssertionError(f"{pattern!r} not in {self.text!r} (stderr ended)")
            self.text += chunk.decode()
        self.text = self.text[found.end():]
        return found

    def samples_beyond(self, n: int) -> None:
        while int(self.wait_for(r"(\d+) samples")[1]) <= n:
            pass

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def close(self) -> int:
        try:
            return self.proc.wait(timeout=20)
        finally:
            self.proc.kill()
            self.proc.wait()
            os.close(self.master)


def test_keys_mark_segments_and_events_and_a_count_typed_while_recording(
    device_exe: Path, source: Path, tmp_path: Path
) -> None:
    """s starts a segment, space marks an event, s ends it; a segment's count is typed as recording goes on.

    The first segment holds a marked jump: the loader takes marked events as all of them,
    so its count is not asked. The second holds none: its count is asked and typed.
    """
    out = tmp_path / "keys.rec"
    with running_device(device_exe, "--imu", str(source), "--speed", "2") as dev:
        term = Terminal(capture_cmd(dev.url, out))
        try:
            for key in "s ss":
                term.samples_beyond(0)
                term.type(key)
            term.samples_beyond(0)
            assert "How many" not in term.text
            term.type("s")
            term.wait_for(r"How many jump in the segment [0-9.]+-[0-9.]+ s\? \(Enter skips\) _")
            term.type("37\n")
            term.samples_beyond(0)
            term.type("q")
            term.wait_for("stopped with q")
        finally:
            assert term.close() == 0
    got = load(out)
    assert len(got.segments) == 2 and len(got.events) == 1
    (first, second), event = got.segments, got.events[0]
    assert first.activity == second.activity == "jump-rope" and event.kind == "jump"  # jump-rope's kind
    assert first.start <= event.t < first.end <= second.start < second.end < got.t[-1] + 1e-9
    assert [(c.start, c.end, c.kind, c.n) for c in got.counts] == [(second.start, second.end, "jump", 37)]


@pytest.mark.parametrize("answer", ["87\n", "\n", "SIGTERM"])
def test_the_count_asked_at_the_end(device_exe: Path, source: Path, tmp_path: Path, answer: str) -> None:
    """The whole recording is one segment; its count is asked once every sample is on disk."""
    out = tmp_path / "end.rec"
    with running_device(device_exe, "--imu", str(source), "--speed", "5") as dev:
        term = Terminal(capture_cmd(dev.url, out, "--activity", "walking"))
        try:
            term.samples_beyond(0)
            term.type("q")
            term.wait_for(r"How many step in the segment 0\.0-[0-9.]+ s\? \(Enter skips\) $")
            if answer == "SIGTERM":
                term.proc.send_signal(signal.SIGTERM)
            else:
                term.type(answer)
        finally:
            assert term.close() == 0
    got = load(out)
    assert [(s.start, s.end, s.activity) for s in got.segments] == [(0, got.t[-1], "walking")]
    expected = [(0, got.t[-1], "step", 87)] if answer == "87\n" else []
    assert [(c.start, c.end, c.kind, c.n) for c in got.counts] == expected


def test_a_write_cut_short_by_a_full_disk_keeps_whole_lines_and_the_label(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without root (no tiny tmpfs): the disk fills in the middle of a write, half a line in."""
    from repcount.device.capture import file as capture_file
    from repcount.device.capture.file import CaptureFile, DiskError

    out = tmp_path / "cut.rec"
    f = CaptureFile(out, Meta(RATE, 8, "wrist", "u01"))
    f.open_segment(None, "jump-rope")
    t = np.arange(100) / RATE
    f.samples(t[:50], np.full((50, 3), 0.5))
    f.commit()
    real_pwrite = capture_file.os.pwrite
    calls = []

    def full_disk(fd: int, data: bytes, offset: int) -> int:
        calls.append(len(data))
        if len(calls) == 1:  # half of the next batch fits, then the disk is full
            return real_pwrite(fd, data[: len(data) // 2], offset)
        if len(data) > 200:
            raise OSError(28, "No space left on device")
        return real_pwrite(fd, data, offset)  # a label rewritten in place needs no new space

    monkeypatch.setattr(capture_file.os, "pwrite", full_disk)
    f.samples(t[50:], np.full((50, 3), 0.25))
    with pytest.raises(DiskError, match=r"No space left on device; the (\d+) samples written before it"):
        f.commit()
    f.close()
    got = load(out)
    assert 50 < len(got.t) < 100 and not got.warnings  # whole lines only: nothing torn
    assert f.samples_on_disk == len(got.t)
    assert [(s.start, s.end) for s in got.segments] == [(0, got.t[-1])]


def test_a_duration_shorter_than_two_samples_is_refused_and_touches_nothing(tmp_path: Path) -> None:
    """The issue's `--duration 0.001` onto an existing file: refused once the rate is known, file intact."""
    device = FakeDevice(fake_info(), [0, 10, 20])
    out = tmp_path / "old.rec"
    out.write_bytes(b"precious")
    try:
        result = subprocess.run(capture_cmd(device.url, out, "--duration", "0.001", "--force"),
                                capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    finally:
        device.close()
    assert "--duration 0.001 s is 0 samples at 50 Hz; a recording needs at least 2" in _one_error_line(result)
    assert out.read_bytes() == b"precious"


@pytest.mark.parametrize(("name", "said"), [("dir.rec", "is a directory; name a file"),
                                            ("x.csv", "recordings end in .rec")])
def test_an_out_that_cannot_be_a_recording_is_refused(tmp_path: Path, name: str, said: str) -> None:
    out = tmp_path / name
    if name == "dir.rec":
        out.mkdir()
    result = subprocess.run(capture_cmd("/dev/does-not-exist", out), capture_output=True, text=True,
                            timeout=60, stdin=subprocess.DEVNULL)
    assert said in _one_error_line(result)
