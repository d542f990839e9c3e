"""Capture from any board that prints one `x,y,z` text line per sample (line mode).

The convention of Edge Impulse's data forwarder and TensorFlow Lite Micro's magic_wand.
Such a board says nothing about its rate, so the rate is measured from the lines'
arrival times over the first seconds (unless declared) and reported with its
uncertainty; lines that do not parse are counted and reported, never silently dropped.
Labels, counts, the file and the stops are those of `repcount.device.capture.frames`.
"""

from __future__ import annotations

import math
import time

import numpy as np
import serial

from repcount.data.recordings import ACCEL_UNITS
from repcount.device.capture.file import DiskError
from repcount.device.capture.frames import check_options
from repcount.device.capture.session import (
    SILENCE_TIMEOUT_S,
    CaptureOptions,
    Progress,
    Session,
    sample_limit,
    stop_signals,
    warn_rate,
)
from repcount.device.capture.terminal import keys, say
from repcount.device.link import LinkError, open_port
from repcount.errors import UserError
from repcount.outputs import check_output


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


def rate_from(prog: Progress, port: str, window: float) -> float:
    """The rate measured over the first lines; refused when it cannot be (too few lines)."""
    rate, err = prog.measured_rate()
    if rate is None or not 0 < rate <= 10_000:
        raise UserError(
            f"{port}: too few x,y,z lines in the first {window:g} s to measure the rate; check the baud "
            "rate and that the board prints one x,y,z line per sample, or pass --rate"
        )
    say(f"measured {rate:.2f} +- {err or 0:.2f} Hz over {window:g} s")
    return round(rate, 2)


class LineSession(Session):
    """x,y,z lines in, the rate measured before writing starts."""

    def __init__(self, opts: CaptureOptions, port: serial.SerialBase) -> None:
        super().__init__(opts)
        self.port = port
        self.scale = ACCEL_UNITS[opts.units]
        self.unparseable = 0
        self.pending: list[tuple[float, float, float]] = []
        self.rate: float | None = opts.rate
        self.limit = math.inf
        self.index = 0
        self.buffer = b""
        self.start = self.last_data = time.monotonic()

    def read_lines(self, now: float) -> None:
        try:
            chunk = self.port.read(max(1, self.port.in_waiting))
        except Exception as exc:  # pyserial raises SerialException or OSError
            raise LinkError(f"{self.opts.port}: the port went away ({exc}); is the cable in?") from None
        self.buffer += chunk
        *lines, self.buffer = self.buffer.split(b"\n")
        for raw in lines:
            xyz = parse_line(raw.decode("ascii", "replace"))
            if xyz is None:
                self.unparseable += 1 if raw.strip() else 0
                continue
            self.last_data = now
            self.prog.arrived(self.index, now)
            self.pending.append(xyz)
            self.index += 1

    def start_writing(self) -> None:
        o = self.opts
        self.rate = self.rate or rate_from(self.prog, o.port, o.rate_window)
        source = "declared" if o.rate else f"measured over {o.rate_window:g} s of line arrivals"
        self.begin(self.rate, o.full_scale, o.board, {"rate_source": source})
        self.limit = sample_limit(o.duration, self.rate)

    def loop(self) -> None:
        with keys(self.interactive) as read:
            try:
                while not self.prog.stopped_by:
                    now = time.monotonic()
                    self.read_lines(now)
                    if self.file is None and (self.rate or now - self.start >= self.opts.rate_window):
                        self.start_writing()
                    if self.file is not None and self.rate:
                        room = max(0, int(min(len(self.pending), self.limit - self.prog.samples)))
                        take = self.pending[:room]
                        if take:
                            idx = np.arange(self.prog.samples, self.prog.samples + len(take))
                            self.write(idx / self.rate, np.array(take) * self.scale)
                        self.pending.clear()
                        self.handle_keys(read(), self.prog.samples / self.rate,
                                         (self.prog.samples - 1) / self.rate)
                        if self.prog.samples >= self.limit:
                            self.prog.stopped_by = "duration"
                            self.prog.message = f"recorded {self.opts.duration:g} s"
                        self.tick(now)
                    if now - self.last_data > SILENCE_TIMEOUT_S:
                        self.prog.stopped_by = "silence"
                        self.prog.message = (f"no x,y,z lines for {SILENCE_TIMEOUT_S:g} s "
                                             f"({self.unparseable} unparseable)")
            except LinkError as exc:
                self.prog.stopped_by, self.prog.message = "unplugged", str(exc)
            except (KeyboardInterrupt, DiskError) as exc:
                self.stopped(exc)


def capture_lines(opts: CaptureOptions) -> dict:
    """Capture x,y,z text lines of any board; the JSON report."""
    check_options(opts, line_mode=True)
    check_output(opts.out, force=opts.replace)
    with stop_signals():
        port = open_port(opts.port, opts.baud, timeout=0.1)
        session = LineSession(opts, port)
        try:
            session.loop()
        finally:
            port.close()
        if session.file is None or session.rate is None:
            raise UserError(f"{opts.port}: {session.prog.message or 'stopped'} before the rate was measured; "
                            "nothing written")
        session.finish((session.prog.samples - 1) / session.rate if session.prog.samples else 0.0)
    rate = session.rate
    measured, err = session.prog.measured_rate()
    warn_rate(measured, err, rate, session.prog)
    say(f"{session.unparseable} unparseable lines")
    return {
        **session.report(), "mode": "lines", "duration_s": session.prog.samples / rate,
        "declared_rate_hz": rate, "unparseable_lines": session.unparseable,
    }
