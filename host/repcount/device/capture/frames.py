"""Record labelled accelerometer data from a board over serial into a recording file.

The board runs repcount firmware (any board of `repcount firmware`, the emulator, or the
host-linux device) and streams numbered samples (docs/protocol.md), or prints one
`x,y,z` text line per sample (line mode, `repcount.device.capture.lines`).
Device-numbered samples give exact time stamps (index / rate) and turn a lost frame into
a reported gap; a frame whose number cannot be right (a jump no lost frame explains) is
dropped and reported, never allowed to move the clock.

What is written is checked before it is written: the options (label text that the
loader would split, metadata that would inject lines, a full scale outside 2/4/8/16) and
the device's INFO (a rate or full scale of 0). The file itself is `CaptureFile`'s: whole
lines, durable twice a second, the open segment labelled all along, an existing file
never touched unless replacing it was asked for. Labels and counts come from the person
(`capture_session.Labels`); SIGTERM and SIGHUP stop a capture the way Ctrl-C does.
"""

from __future__ import annotations

import math
import re
import time

import numpy as np

from repcount.data.recordings import MOUNTS, SUFFIX
from repcount.device import protocol as P
from repcount.device.capture.file import DiskError
from repcount.device.capture.session import (
    SILENCE_TIMEOUT_S,
    CaptureOptions,
    Session,
    sample_limit,
    stop_signals,
    warn_rate,
)
from repcount.device.capture.terminal import keys, say
from repcount.device.link import Link, LinkError, open_port
from repcount.errors import UserError
from repcount.outputs import check_output

FULL_SCALES_G = (2, 4, 8, 16)  # the ranges the boards' IMUs offer (docs/capture.md)
MAX_RATE_HZ = 10_000.0
OUT_OF_SEQUENCE_LIMIT = 3  # this many wild frames in a row: the device's numbering is broken
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def label_text(flag: str, text: str) -> str:
    """A segment activity or event kind as the loader will read it back: no comma, no line break."""
    if not text or text != text.strip() or "," in text or _CONTROL.search(text):
        better = re.sub(r"[\s,]+", "-", text.strip()) or "jump-rope"
        raise UserError(f"{flag} {text!r}: a label cannot hold commas, line breaks or other control "
                        f"characters, nor start or end with a space; write e.g. {better!r}")
    return text


def meta_text(flag: str, text: str) -> str:
    """A metadata value as the loader will read it back: one line, no control characters."""
    if not text or text != text.strip() or _CONTROL.search(text):
        raise UserError(f"{flag} {text!r}: must be one line of text without control characters "
                        "(line breaks, tabs) and without leading or trailing spaces")
    return text


def _positive(flag: str, value: float | None) -> None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise UserError(f"{flag} must be a positive number, got {value:g}")


def check_options(o: CaptureOptions, line_mode: bool) -> None:
    """Refuse, before the port opens, any option that would write a file the loader rejects or misreads."""
    if o.out.suffix != SUFFIX:
        raise UserError(f"--out {o.out}: recordings end in {SUFFIX} (e.g. {o.out.with_suffix(SUFFIX)})")
    label_text("--activity", o.activity)
    if o.event_kind is not None:
        label_text("--event-kind", o.event_kind)
    meta_text("--user", o.user)
    meta_text("--port", o.port)
    if o.mount not in MOUNTS:
        raise UserError(f"--mount {o.mount!r}: one of {', '.join(MOUNTS)}")
    _positive("--duration", o.duration)
    if o.baud <= 0:
        raise UserError(f"--baud must be positive, got {o.baud}")
    if o.count is not None and o.count < 0:
        raise UserError(f"--count must be a whole number >= 0, got {o.count}")
    if line_mode:
        _positive("--rate", o.rate)
        _positive("--rate-window", o.rate_window)
        if o.rate is not None and o.rate > MAX_RATE_HZ:
            raise UserError(f"--rate {o.rate:g}: above {MAX_RATE_HZ:g} Hz no IMU board streams lines")
        if o.full_scale not in FULL_SCALES_G:
            raise UserError(f"--full-scale {o.full_scale:g}: the IMU's range in g, one of "
                            f"{', '.join(map(str, FULL_SCALES_G))}")
        meta_text("--board", o.board)


def check_info(info: P.Info, port: str) -> None:
    """Refuse a device whose INFO would make a false file (a rate or a full scale of 0), before writing."""
    rate = info.sample_rate_hz
    problem = None
    if not 0 < rate <= MAX_RATE_HZ:
        problem = f"a sample rate of {rate:g} Hz (expected 0 < rate <= {MAX_RATE_HZ:g})"
    elif info.full_scale_g not in FULL_SCALES_G:
        problem = (f"a full scale of {info.full_scale_g} g (expected one of "
                   f"{', '.join(map(str, FULL_SCALES_G))})")
    else:
        bad = [name for name in ("board", "firmware_version", "engine")
               if _CONTROL.search(getattr(info, name)) or "\ufffd" in getattr(info, name)]
        if bad:
            problem = f"control or non-ASCII characters in its {', '.join(bad)}"
    if problem:
        raise LinkError(f"{port}: the device's INFO reports {problem}: its firmware is broken or not "
                        "repcount's; nothing was written (regenerate and flash it with `repcount firmware`)")


class FrameSession(Session):
    """Capture from repcount firmware: framed samples, numbered by the device."""

    def __init__(self, opts: CaptureOptions, link: Link) -> None:
        super().__init__(opts)
        self.link = link
        self.rate = 0.0
        self.lsb = 0.0
        self.limit = math.inf
        self.next_index = 0
        self.out_of_sequence = 0
        self.dropped = 0  # samples of frames dropped as out of sequence
        self.wild_run = 0
        self.last_data = time.monotonic()
        self.imu_overruns: int | None = None  # the device's STATS after the capture, if it answered

    def start(self, info: P.Info) -> None:
        check_info(info, self.opts.port)
        self.rate, fs = info.sample_rate_hz, float(info.full_scale_g)
        self.lsb = fs / 32768.0
        self.limit = sample_limit(self.opts.duration, self.rate)
        self.begin(self.rate, fs, info.board, {"firmware_version": info.firmware_version,
                                               "model_hash": info.model_hash})

    def loop(self) -> None:
        """Record until a stop (duration, q, a signal, silence, the device, the disk)."""
        self.link.set_mode(P.MODE_CAPTURE)
        self.last_data = time.monotonic()
        with keys(self.interactive) as read:
            try:
                while not self.prog.stopped_by:
                    for frame, msg in self.link.poll():
                        if isinstance(msg, P.Samples):
                            self.samples(msg)
                        elif frame.type == P.BOOT:
                            self.stop("device error", "the device restarted (BOOT)")
                        elif isinstance(msg, P.Error):
                            self.prog.stopped_by = "device error"
                            self.prog.message = f"the device reported {msg.describe()}"
                    self.handle_keys(read(), self.next_index / self.rate, (self.next_index - 1) / self.rate)
                    now = time.monotonic()
                    if self.next_index >= self.limit and not self.prog.stopped_by:
                        self.stop("duration", f"recorded {self.opts.duration:g} s")
                    if now - self.last_data > SILENCE_TIMEOUT_S:
                        self.prog.stopped_by = "silence"
                        self.prog.message = (f"no samples for {SILENCE_TIMEOUT_S:g} s: is the board's IMU "
                                             "working? (the device reported nothing)")
                    self.tick(now)
            except LinkError as exc:
                self.prog.stopped_by, self.prog.message = "unplugged", str(exc)
            except (KeyboardInterrupt, DiskError) as exc:
                self.stopped(exc)

    def samples(self, msg: P.Samples) -> None:
        """Write one SAMPLES frame's samples at their device index; drop a frame whose index is wild.

        A gap is plausible only as far as lost frames explain it (each held at most
        MAX_SAMPLES_PER_FRAME samples); anything else is the device's numbering going wrong.
        """
        first, xyz, expected = msg.first, msg.xyz, self.next_index
        budget = P.MAX_SAMPLES_PER_FRAME * self.link.stats.lost + self.dropped - self.prog.missing
        if first < expected < first + len(xyz):  # overlaps what was written: keep the new part
            xyz, first = xyz[expected - first:], expected
        elif not expected <= first <= expected + budget:
            self.out_of_sequence += 1
            self.dropped += len(xyz)
            self.wild_run += 1
            if self.wild_run >= OUT_OF_SEQUENCE_LIMIT:
                self.prog.stopped_by = "device error"
                self.prog.message = (f"the device's sample numbering jumped from {expected} to {first} and "
                                     f"stayed there ({self.out_of_sequence} frames out of sequence); "
                                     "restart the device")
            return
        self.wild_run = 0
        self.last_data = now = time.monotonic()
        xyz = xyz[: max(0, int(min(len(xyz), self.limit - first)))]
        if len(xyz) == 0:
            return
        self.prog.missing += first - expected
        idx = np.arange(first, first + len(xyz))
        self.write(idx / self.rate, xyz.astype(np.float64) * self.lsb)
        self.prog.arrived(first + len(xyz) - 1, now)
        self.next_index = first + len(xyz)

    def loss_text(self) -> str:
        wild = f", {self.out_of_sequence} out of sequence" if self.out_of_sequence else ""
        return f"  lost {self.link.stats.lost} frames, {self.prog.missing} samples{wild}"

    def end(self) -> None:
        if self.prog.stopped_by != "unplugged":
            try:
                self.link.set_mode(P.MODE_IDLE, timeout=0.5)
                self.imu_overruns = self.link.device_stats(timeout=0.5).imu_overruns
            except LinkError:
                pass
        self.link.close()  # the port is free while the counts are asked
        if self.imu_overruns:
            say(f"warning: the device lost {self.imu_overruns} IMU samples it could not keep up with "
                "(STATS imu_overruns): the recording is that much shorter than the time it spans")
        if self.out_of_sequence:
            say(f"warning: {self.out_of_sequence} frames with an impossible sample "
                f"index were dropped ({self.dropped} samples): the device's numbering went wrong")
        self.finish((self.next_index - 1) / self.rate if self.next_index else 0.0)

    def full_report(self, info: P.Info) -> dict:
        measured, err = self.prog.measured_rate()
        stats = self.link.stats
        return {
            **self.report(), "mode": "frames", "board": info.board, "firmware_version": info.firmware_version,
            "model_hash": info.model_hash, "duration_s": self.next_index / self.rate,
            "declared_rate_hz": self.rate, "samples_missing": self.prog.missing, "frames_lost": stats.lost,
            "crc_errors": stats.crc_errors, "cobs_errors": stats.cobs_errors,
            "overlong_frames": stats.overlong,
            "duplicate_frames": stats.duplicates, "bad_messages": self.link.bad_messages,
            "out_of_sequence_frames": self.out_of_sequence, "samples_dropped_out_of_sequence": self.dropped,
            "imu_overruns": self.imu_overruns,
        }


def capture_frames(opts: CaptureOptions) -> dict:
    """Capture from repcount firmware (the rate and range from its INFO); the JSON report."""
    check_options(opts, line_mode=False)
    check_output(opts.out, force=opts.replace)
    with stop_signals():
        link = Link(open_port(opts.port, opts.baud))
        try:
            info = link.hello()
            session = FrameSession(opts, link)
            session.start(info)
            session.loop()
            session.end()
        finally:
            link.close()
        warn_rate(*session.prog.measured_rate(), session.rate, session.prog)
        return session.full_report(info)
