"""Record labelled accelerometer data from a board over serial into a recording file.

The board runs repcount firmware (any board of `repcount firmware`, the emulator, or the
host-linux device) and streams numbered samples (docs/protocol.md), or prints one
`x,y,z` text line per sample (line mode). Device-numbered samples give exact time stamps
(index / rate) and turn a lost frame into a reported gap; in line mode the rate is
measured from the lines' arrival times. Labels (segments, events) come from keys the
person presses while recording.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO

import numpy as np

from repcount import __version__
from repcount.data.recordings import ACCEL_UNITS, Meta, Writer
from repcount.device import protocol as P
from repcount.device.link import Link, LinkError, open_port
from repcount.errors import UserError
from repcount.learn import tasks

FLUSH_PERIOD_S = 0.5  # well inside the promised second
STATUS_PERIOD_S = 1.0
SILENCE_TIMEOUT_S = 5.0


@dataclass
class Labels:
    """Segments and events marked while recording, written to the file as they happen."""

    writer: Writer
    activity: str
    event_kind: str
    open_since: float | None = None
    segments: int = 0
    events: int = 0

    def toggle_segment(self, t: float) -> None:
        if self.open_since is None:
            self.open_since = t
        else:
            self.close_segment(t)

    def close_segment(self, t: float) -> None:
        if self.open_since is not None and t > self.open_since:
            self.writer.segment(self.open_since, t, self.activity)
            self.segments += 1
        self.open_since = None

    def event(self, t: float) -> None:
        self.writer.event(t, self.event_kind)
        self.events += 1

    def key(self, key: str, t: float, prog: Progress) -> None:
        """Act on one key pressed at signal time t: both capture modes share the keys of the help."""
        if key == "s":
            self.toggle_segment(t)
        elif key in " e":
            self.event(t)
        elif key == "q":
            prog.stopped_by, prog.message = "key", "stopped with q"


@dataclass
class Progress:
    """What the status line and the JSON report show."""

    samples: int = 0
    missing: int = 0
    first_arrival: float | None = None
    last_arrival: float | None = None
    arrivals: list[tuple[int, float]] = field(default_factory=list)  # (sample index, arrival time)
    stopped_by: str = ""
    message: str = ""

    def arrived(self, index: int, now: float) -> None:
        if self.first_arrival is None:
            self.first_arrival = now
        self.last_arrival = now
        self.arrivals.append((index, now))

    def measured_rate(self) -> tuple[float | None, float | None]:
        """Least-squares rate from (index, arrival time) pairs, and its standard error."""
        if len(self.arrivals) < 3:
            return None, None
        idx, t = (np.array(c, dtype=np.float64) for c in zip(*self.arrivals, strict=True))
        if np.ptp(t) <= 0 or np.ptp(idx) <= 0:
            return None, None
        slope, intercept = np.polyfit(idx, t, 1)
        resid = t - (slope * idx + intercept)
        se = math.sqrt(float(np.sum(resid**2)) / max(1, len(t) - 2) / float(np.sum((idx - idx.mean()) ** 2)))
        return 1.0 / slope, se / slope**2


def _event_kind(args: argparse.Namespace) -> str:
    """What a space bar press marks: --event-kind, else the task's kind for this activity."""
    if args.event_kind:
        return args.event_kind
    for task in tasks.TASKS.values():
        if args.activity in task.target_activities and task.event_kinds:
            return task.event_kinds[0]
    return "event"


@contextmanager
def _keys(enabled: bool):
    """Single key presses from a terminal, without echo; a no-op reader when not a terminal."""
    if not enabled:
        yield lambda: ""
        return
    import select
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd)

    def read() -> str:
        out = ""
        while select.select([fd], [], [], 0)[0]:
            out += sys.stdin.read(1)
        return out

    try:
        yield read
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


class Status:
    """The live status line: rewritten in place on a terminal, one line per period otherwise."""

    def __init__(self, stream: IO[str], declared: float) -> None:
        self.stream = stream
        self.declared = declared
        self.tty = stream.isatty()
        self.start = time.monotonic()
        self.last = 0.0

    def show(self, prog: Progress, link: Link | None, labels: Labels, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < STATUS_PERIOD_S:
            return
        self.last = now
        rate, _ = prog.measured_rate()
        lost = f"lost {link.stats.lost} frames, {prog.missing} samples" if link else ""
        seg = f"  [segment since {labels.open_since:.1f} s]" if labels.open_since is not None else ""
        line = (
            f"{now - self.start:6.1f} s  {prog.samples} samples  "
            f"{(f'{rate:.2f}' if rate else '-')} Hz measured (declared {self.declared:g})  {lost}{seg}"
        )
        self.stream.write(("\r" + line + "\x1b[K") if self.tty else line + "\n")
        self.stream.flush()

    def done(self) -> None:
        if self.tty:
            self.stream.write("\n")


def _meta(args: argparse.Namespace, rate: float, full_scale: float, board: str,
          extra: dict[str, str]) -> Meta:
    """The file's header: who, where and how, so training can split by user and mount."""
    return Meta(sample_rate_hz=rate, full_scale_g=full_scale, mount=args.mount, user=args.user,
                board=board, device=args.port, units="g",
                extra={"source": f"repcount capture {__version__}", **extra})


def _finish(writer: Writer, labels: Labels, end_t: float, prog: Progress) -> None:
    """Close open segments and the file; a capture that got no sample leaves no file."""
    if prog.samples == 0:  # a header alone is not a valid recording: leave nothing behind
        writer.close()
        writer.path.unlink()
        print(f"repcount capture: {prog.message}; no samples arrived, so no file was written",
              file=sys.stderr)
        return
    if labels.open_since is not None:
        labels.close_segment(end_t)
    elif labels.segments == 0 and end_t > 0:
        labels.writer.segment(0, end_t, labels.activity)
        labels.segments += 1
    writer.close()
    print(f"repcount capture: {prog.message}; {prog.samples} samples ({end_t:.1f} s) in {writer.path}",
          file=sys.stderr)


def capture_frames(args: argparse.Namespace) -> dict:
    """Capture from repcount firmware (framed samples, the rate and range from its INFO)."""
    link = Link(open_port(args.port, args.baud))
    try:
        info = link.hello()
        rate, fs = info.sample_rate_hz, float(info.full_scale_g)
        writer = Writer(args.out, _meta(args, rate, fs, info.board, {
            "firmware_version": info.firmware_version, "model_hash": info.model_hash}))
        labels = Labels(writer, args.activity, _event_kind(args))
        prog = Progress()
        limit = math.inf if args.duration is None else round(args.duration * rate)
        lsb = fs / 32768.0
        next_index = 0
        status = Status(sys.stderr, rate)
        last_flush = last_data = time.monotonic()
        link.set_mode(P.MODE_CAPTURE)
        with _keys(sys.stdin.isatty()) as keys:
            try:
                while not prog.stopped_by:
                    for frame, msg in link.poll():
                        now = time.monotonic()
                        if isinstance(msg, P.Samples):
                            last_data = now
                            first, xyz = msg.first, msg.xyz
                            if first < next_index:  # overlaps what was written: keep the new part
                                xyz, first = xyz[next_index - first :], next_index
                            xyz = xyz[: max(0, int(min(len(xyz), limit - first)))]
                            if len(xyz) == 0:
                                continue
                            prog.missing += first - next_index
                            idx = np.arange(first, first + len(xyz))
                            writer.samples(idx / rate, xyz.astype(np.float64) * lsb)
                            prog.samples += len(xyz)
                            prog.arrived(first + len(xyz) - 1, now)
                            next_index = first + len(xyz)
                        elif frame.type == P.BOOT:
                            prog.stopped_by, prog.message = "device error", "the device restarted (BOOT)"
                        elif isinstance(msg, P.Error):
                            prog.stopped_by = "device error"
                            prog.message = f"the device reported {msg.describe()}"
                    t_now = next_index / rate
                    for key in keys():
                        labels.key(key, t_now, prog)
                    if next_index >= limit:
                        prog.stopped_by, prog.message = "duration", f"recorded {args.duration:g} s"
                    now = time.monotonic()
                    if now - last_data > SILENCE_TIMEOUT_S:
                        prog.stopped_by = "silence"
                        prog.message = (f"no samples for {SILENCE_TIMEOUT_S:g} s: is the board's IMU "
                                        "working? (the device reported nothing)")
                    if now - last_flush >= FLUSH_PERIOD_S:
                        writer.flush()
                        last_flush = now
                        status.show(prog, link, labels)
            except LinkError as exc:
                prog.stopped_by, prog.message = "unplugged", str(exc)
            except KeyboardInterrupt:
                prog.stopped_by, prog.message = "interrupt", "stopped with Ctrl-C"
        status.show(prog, link, labels, force=True)
        status.done()
        if prog.stopped_by != "unplugged":
            try:
                link.set_mode(P.MODE_IDLE, timeout=0.5)
            except LinkError:
                pass
        _finish(writer, labels, (next_index - 1) / rate if next_index else 0.0, prog)
    finally:
        link.close()
    measured, err = prog.measured_rate()
    _warn_rate(measured, err, rate, prog)
    return {
        "path": str(args.out), "mode": "frames", "stopped_by": prog.stopped_by, "message": prog.message,
        "board": info.board, "firmware_version": info.firmware_version, "model_hash": info.model_hash,
        "samples": prog.samples, "duration_s": next_index / rate,
        "declared_rate_hz": rate, "measured_rate_hz": measured, "measured_rate_stderr_hz": err,
        "samples_missing": prog.missing, "frames_lost": link.stats.lost,
        "crc_errors": link.stats.crc_errors, "cobs_errors": link.stats.cobs_errors,
        "overlong_frames": link.stats.overlong, "duplicate_frames": link.stats.duplicates,
        "bad_messages": link.bad_messages, "segments": labels.segments, "events": labels.events,
    }


def parse_line(text: str) -> tuple[float, float, float] | None:
    """x, y, z from one text line ('1.0,2,3', '1 2 3', tab-separated); None if it does not parse."""
    fields = text.replace(",", " ").replace("\t", " ").split()
    if len(fields) < 3:
        return None
    try:
        x, y, z = (float(f) for f in fields[:3])
    except ValueError:
        return None
    if not all(math.isfinite(v) for v in (x, y, z)):
        return None
    return x, y, z


def capture_lines(args: argparse.Namespace) -> dict:
    """Capture x,y,z text lines of any board: the rate is measured before writing starts."""
    port = open_port(args.port, args.baud, timeout=0.1)
    scale = ACCEL_UNITS[args.units]
    prog = Progress()
    unparseable = 0
    pending: list[tuple[float, float, float]] = []
    writer: Writer | None = None
    labels: Labels | None = None
    rate = args.rate
    start = time.monotonic()
    last_flush = last_data = start
    status: Status | None = None
    index = 0
    buffer = b""
    limit = math.inf
    try:
        with _keys(sys.stdin.isatty()) as keys:
            try:
                while not prog.stopped_by:
                    try:
                        chunk = port.read(max(1, port.in_waiting))
                    except Exception as exc:  # pyserial raises SerialException or OSError
                        raise LinkError(f"{args.port}: the port went away ({exc}); is the cable in?") \
                            from None
                    now = time.monotonic()
                    buffer += chunk
                    *lines, buffer = buffer.split(b"\n")
                    for raw in lines:
                        xyz = parse_line(raw.decode("ascii", "replace"))
                        if xyz is None:
                            unparseable += 1 if raw.strip() else 0
                            continue
                        last_data = now
                        prog.arrived(index, now)
                        pending.append(xyz)
                        index += 1
                    if writer is None and (rate or now - start >= args.rate_window):
                        rate = rate or _rate_from(prog, args.port, args.rate_window)
                        extra = {"rate_source": "declared" if args.rate else
                                 f"measured over {args.rate_window:g} s of line arrivals"}
                        writer = Writer(args.out, _meta(args, rate, args.full_scale, args.board, extra))
                        labels = Labels(writer, args.activity, _event_kind(args))
                        status = Status(sys.stderr, rate)
                        limit = math.inf if args.duration is None else round(args.duration * rate)
                    if writer is not None and labels is not None and status is not None:
                        take = pending[: max(0, int(min(len(pending), limit - prog.samples)))]
                        if take:
                            idx = np.arange(prog.samples, prog.samples + len(take))
                            writer.samples(idx / rate, np.array(take) * scale)
                            prog.samples += len(take)
                        pending.clear()
                        for key in keys():
                            labels.key(key, prog.samples / rate, prog)
                        if prog.samples >= limit:
                            prog.stopped_by, prog.message = "duration", f"recorded {args.duration:g} s"
                        if now - last_flush >= FLUSH_PERIOD_S:
                            writer.flush()
                            last_flush = now
                            status.show(prog, None, labels)
                    if now - last_data > SILENCE_TIMEOUT_S:
                        prog.stopped_by = "silence"
                        prog.message = (f"no x,y,z lines for {SILENCE_TIMEOUT_S:g} s "
                                        f"({unparseable} unparseable)")
            except LinkError as exc:
                prog.stopped_by, prog.message = "unplugged", str(exc)
            except KeyboardInterrupt:
                prog.stopped_by, prog.message = "interrupt", "stopped with Ctrl-C"
    finally:
        port.close()
    if writer is None or labels is None or rate is None:
        raise UserError(
            f"{args.port}: {prog.message or 'stopped'} before the rate was measured; nothing written"
        )
    if status:
        status.show(prog, None, labels, force=True)
        status.done()
    _finish(writer, labels, (prog.samples - 1) / rate if prog.samples else 0.0, prog)
    measured, err = prog.measured_rate()
    _warn_rate(measured, err, rate, prog)
    print(f"repcount capture: {unparseable} unparseable lines", file=sys.stderr)
    return {
        "path": str(args.out), "mode": "lines", "stopped_by": prog.stopped_by, "message": prog.message,
        "samples": prog.samples, "duration_s": prog.samples / rate, "declared_rate_hz": rate,
        "measured_rate_hz": measured, "measured_rate_stderr_hz": err, "unparseable_lines": unparseable,
        "segments": labels.segments, "events": labels.events,
    }


def _warn_rate(measured: float | None, err: float | None, declared: float, prog: Progress) -> None:
    """Say so when the samples did not arrive at the rate the file declares (over >= 10 s)."""
    if measured is None or err is None or prog.first_arrival is None or prog.last_arrival is None:
        return
    if prog.last_arrival - prog.first_arrival < 10.0:
        return
    if abs(measured - declared) > max(3 * err, 0.005 * declared):
        print(f"repcount capture: warning: samples arrived at {measured:.3f} +- {err:.3f} Hz, not at the "
              f"{declared:g} Hz the file declares: check the board's IMU rate (or --rate)", file=sys.stderr)


def _rate_from(prog: Progress, port: str, window: float) -> float:
    """The rate measured over the first lines; refused when it cannot be (too few lines)."""
    rate, err = prog.measured_rate()
    if rate is None or rate <= 0:
        raise UserError(
            f"{port}: too few x,y,z lines in the first {window:g} s to measure the rate; check the baud "
            "rate and that the board prints one x,y,z line per sample, or pass --rate"
        )
    print(f"repcount capture: measured {rate:.2f} +- {err or 0:.2f} Hz over {window:g} s", file=sys.stderr)
    return round(rate, 2)
