"""One capture session, whichever the mode: labels, counts, keys, status, and the end.

`Session` holds what framed capture (`repcount.device.capture.frames`) and line mode
(`repcount.device.capture.lines`) share: the file (`CaptureFile`), the labels the person
marks (`Labels`), the count questions, and the end of a capture, which makes everything
durable before it asks anything. SIGTERM and SIGHUP stop a session as Ctrl-C does
(`stop_signals`): a capture run by systemd, `timeout` or a terminal that closes ends
with a closed, labelled file, not a killed process.
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import numpy as np

from repcount import __version__
from repcount.data.recordings import Meta
from repcount.device.capture.file import CaptureFile, DiskError
from repcount.device.capture.terminal import CountEntry, Status, ask_count, say
from repcount.device.link import DEFAULT_BAUD
from repcount.errors import UserError
from repcount.learn import tasks

FLUSH_PERIOD_S = 0.5  # well inside the promised second
SILENCE_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class CaptureOptions:
    """What to record and how; `check_options` says what is wrong with it before anything starts."""

    port: str
    out: Path
    activity: str
    user: str
    mount: str
    duration: float | None = None
    event_kind: str | None = None
    baud: int = DEFAULT_BAUD
    replace: bool = False  # replace an existing --out (--force)
    count: int | None = None  # the count of a one-segment recording, given up front
    rate: float | None = None  # line mode: declared rate
    rate_window: float = 3.0  # line mode: seconds of lines the rate is measured over
    units: str = "g"  # line mode
    full_scale: float = 8.0  # line mode
    board: str = "unknown"  # line mode


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP: handled exactly like Ctrl-C, with the signal's name in the message."""


def sample_limit(duration: float | None, rate: float) -> float:
    """How many samples --duration asks for at `rate`; fewer than two make no recording."""
    if duration is None:
        return math.inf
    limit = round(duration * rate)
    if limit < 2:
        raise UserError(f"--duration {duration:g} s is {limit} samples at {rate:g} Hz; a recording "
                        f"needs at least 2 (--duration {2 / rate:g} or more)")
    return limit


def event_kind(activity: str, given: str | None) -> str:
    """What a space bar press marks: --event-kind, else the task's kind for this activity."""
    return given or count_kind(activity) or "event"


def count_kind(activity: str) -> str | None:
    """The event kind the task of `activity` counts (jump-rope: jump, walking: step), if any."""
    for task in tasks.TASKS.values():
        if activity in task.target_activities and task.event_kinds:
            return task.event_kinds[0]
    return None


@contextmanager
def stop_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP raise Stopped (a KeyboardInterrupt), as Ctrl-C does, while capturing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, _frame: FrameType | None) -> None:
        raise Stopped(signal.Signals(signum).name)

    old = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


Span = tuple[float, float]


class Labels:
    """Segments, events and counts marked while recording, written as they happen.

    Until the person presses s the whole recording is one segment of the activity (its
    label on disk follows the last sample); the first s replaces it by the marked ones.
    Every closed segment waits in `awaiting` for its count, unless events of the counted
    kind were marked in it: the loader takes timed events as all the events of their
    span, so they already are its count.
    """

    def __init__(self, file: CaptureFile, activity: str, event_kind: str, count_kind: str) -> None:
        self.file = file
        self.activity = activity
        self.event_kind = event_kind
        self.count_kind = count_kind
        self.marked = False
        self.open_since: float | None = None
        self.segments: list[Span] = []
        self.events: list[float] = []
        self.awaiting: deque[Span] = deque()
        self.counts = 0
        file.open_segment(None, activity)

    def toggle_segment(self, t: float, last: float) -> None:
        """s at signal time t (the next sample's); a segment closes at `last`, the last sample so far."""
        if self.open_since is not None:
            self.close_segment(last)
            return
        if not self.marked:
            self.file.drop_segment()
            self.marked = True
        self.open_since = t
        self.file.open_segment(t, self.activity)

    def close_segment(self, t: float) -> None:
        if self.open_since is not None and t > self.open_since:
            self.file.close_segment(t)
            self._closed((self.open_since, t))
        elif self.open_since is not None:
            self.file.drop_segment()
        self.open_since = None

    def finish(self, first_t: float | None, end_t: float) -> None:
        """The recording ended at `end_t`: close the open segment (or the whole-recording one)."""
        if self.marked:
            self.close_segment(end_t)
        elif first_t is not None and end_t > first_t:
            self.file.close_segment(end_t)
            self._closed((first_t, end_t))
        else:
            self.file.drop_segment()

    def _closed(self, span: Span) -> None:
        """A segment is complete: its count is asked unless events timed in it already say it."""
        self.segments.append(span)
        if not self.timed(span):
            self.awaiting.append(span)

    def timed(self, span: Span) -> int:
        """Events of the counted kind marked in [start, end): the loader holds them to be all of them."""
        if self.event_kind != self.count_kind:
            return 0
        return sum(span[0] <= t < span[1] for t in self.events)

    def event(self, t: float) -> None:
        self.file.event(t, self.event_kind)
        self.events.append(t)

    def key(self, key: str, t: float, last: float, prog: Progress) -> None:
        """Act on one key pressed at signal time t: both capture modes share the keys of the help."""
        if key == "s":
            self.toggle_segment(t, last)
        elif key in " e":
            self.event(t)
        elif key == "q":
            prog.stopped_by, prog.message = "key", "stopped with q"

    def question(self, span: Span) -> str:
        return f"How many {self.count_kind} in the segment {span[0]:.1f}-{span[1]:.1f} s? (Enter skips)"

    def count_problem(self, span: Span, n: int) -> str | None:
        """Why n cannot be the count of `span`, or None: events marked in it fix the count."""
        timed = self.timed(span)
        if timed and n != timed:
            return (f"{timed} {self.count_kind} events were marked in that segment, so its count is "
                    f"{timed} (marked events are taken as all of them)")
        return None

    def write_count(self, span: Span, n: int) -> None:
        self.file.count(span[0], span[1], self.count_kind, n)
        self.counts += 1


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


class Session:
    """What both capture modes share: the file, the labels, keys, status, counts and the end."""

    def __init__(self, opts: CaptureOptions) -> None:
        self.opts = opts
        self.prog = Progress()
        self.file: CaptureFile | None = None
        self.labels: Labels | None = None
        self.status: Status | None = None
        self.entry: CountEntry | None = None
        self.interactive = sys.stdin.isatty()
        self.hung_up = False
        self.first_t: float | None = None
        self.last_commit = time.monotonic()
        self.error: str | None = None

    def begin(self, rate: float, full_scale: float, board: str, extra: dict[str, str]) -> None:
        """Prepare the file (created on disk with the first samples) and the labels."""
        o = self.opts
        meta = Meta(sample_rate_hz=rate, full_scale_g=full_scale, mount=o.mount, user=o.user, board=board,
                    device=o.port, units="g", extra={"source": f"repcount capture {__version__}", **extra})
        self.file = CaptureFile(o.out, meta, replace=o.replace)
        kind = event_kind(o.activity, o.event_kind)
        self.labels = Labels(self.file, o.activity, kind, count_kind(o.activity) or kind)
        self.status = Status(sys.stderr, rate)

    def write(self, t: np.ndarray, acc: np.ndarray) -> None:
        assert self.file is not None
        if self.first_t is None:
            self.first_t = float(t[0])
        self.file.samples(t, acc)
        self.prog.samples += len(t)

    def handle_keys(self, text: str, t: float, last: float) -> None:
        """Keys pressed at signal time t (last: the last sample's): a count being typed takes
        digits, Backspace and Enter."""
        assert self.labels is not None and self.status is not None
        for ch in text:
            if self.entry is not None:
                used, answer = self.entry.feed(ch)
                if used:
                    if answer is not None:
                        self._answer(answer)
                    self._prompt()
                    continue
            self.labels.key(ch, t, last, self.prog)
        self._prompt()

    def _answer(self, answer: int) -> None:
        assert self.labels is not None and self.entry is not None
        span = self.labels.awaiting[0]
        problem = self.labels.count_problem(span, answer) if answer >= 0 else None
        if problem is not None:
            self.entry = CountEntry(f"{problem}; {self.labels.question(span)}")
            return
        if answer >= 0:
            self.labels.write_count(span, answer)
        self.labels.awaiting.popleft()
        self.entry = None

    def _prompt(self) -> None:
        """Ask, in the status line, for the count of the oldest segment awaiting one."""
        assert self.labels is not None and self.status is not None
        if not (self.interactive and self.opts.count is None):
            return
        if self.entry is None and self.labels.awaiting:
            self.entry = CountEntry(self.labels.question(self.labels.awaiting[0]))
        prompt = self.entry.prompt() if self.entry else ""
        if prompt != self.status.prompt:
            self.status.prompt = prompt
            self.show_status(force=True)

    def tick(self, now: float) -> None:
        """Commit (and fsync) at least every FLUSH_PERIOD_S, then show what is on disk."""
        if self.file is not None and now - self.last_commit >= FLUSH_PERIOD_S:
            self.file.commit()
            self.last_commit = now
            self.show_status()

    def show_status(self, force: bool = False) -> None:
        if self.status is not None:
            self.status.show(self.status_text(), force)

    def status_text(self) -> str:
        rate, _ = self.prog.measured_rate()
        seg = ""
        if self.labels is not None and self.labels.open_since is not None:
            seg = f"  [segment since {self.labels.open_since:.1f} s]"
        declared = self.status.declared if self.status else 0.0
        return (f"{self.prog.samples} samples  {(f'{rate:.2f}' if rate else '-')} Hz measured "
                f"(declared {declared:g}){self.loss_text()}{seg}")

    def loss_text(self) -> str:
        return ""

    def stop(self, by: str, message: str) -> None:
        self.prog.stopped_by, self.prog.message = by, message

    def stopped(self, exc: BaseException) -> None:
        """Record why the loop ended; a stop signal is a stop like Ctrl-C."""
        if isinstance(exc, Stopped):
            self.hung_up = exc.args[0] == "SIGHUP"
            self.prog.stopped_by, self.prog.message = "signal", f"stopped by {exc.args[0]}"
        elif isinstance(exc, DiskError):
            self.prog.stopped_by, self.prog.message, self.error = "disk error", "writing failed", str(exc)
        elif isinstance(exc, KeyboardInterrupt):
            self.prog.stopped_by, self.prog.message = "interrupt", "stopped with Ctrl-C"

    def finish(self, end_t: float) -> None:
        """Close the labels, make everything durable, ask for the counts, and say what the file holds."""
        assert self.file is not None and self.labels is not None
        if self.status is not None:
            self.status.prompt = ""
            self.show_status(force=True)
            self.status.done()
        if self.prog.samples:
            self.labels.finish(self.first_t, end_t)
        try:
            self.file.commit()
            if self.file.created:
                self._counts()
        except DiskError as exc:
            self.error = str(exc)
        finally:
            try:
                self.file.close()
            except DiskError as exc:
                self.error = str(exc)
        self._say()

    def _counts(self) -> None:
        """--count for a one-segment recording, else ask for each segment still without its count."""
        assert self.file is not None and self.labels is not None
        labels, n = self.labels, self.opts.count
        if n is not None:
            problem = (f"the recording has {len(labels.segments)} segments (marked with s), not one"
                       if len(labels.segments) != 1 else labels.count_problem(labels.segments[0], n))
            if problem:
                say(f"warning: --count {n} not written: {problem}")
            else:
                labels.write_count(labels.segments[0], n)
            self.file.commit()
            return
        if not self.interactive or self.hung_up:
            return
        try:
            while labels.awaiting:
                span = labels.awaiting.popleft()
                answer = ask_count(labels.question(span), lambda k, s=span: labels.count_problem(s, k))
                if answer is not None:
                    labels.write_count(span, answer)
                    self.file.commit()
        except (KeyboardInterrupt, EOFError, OSError):
            return  # a stop while asking: everything recorded is already on disk

    def _say(self) -> None:
        assert self.file is not None
        if self.error:
            return  # the command prints it as the error
        out = self.opts.out
        if not self.file.created:
            untouched = f"; the existing {out} is untouched" if out.exists() else ""
            say(f"{self.prog.message}; no samples arrived, so no file was "
                f"written{untouched}")
            return
        n, first, last = self.file.samples_on_disk, self.file.first_t or 0.0, self.file.last_t or 0.0
        say(f"{self.prog.message}; {n} samples ({last - first:.1f} s) in {out}")

    def report(self) -> dict:
        """The JSON report's fields both modes share."""
        assert self.labels is not None
        measured, err = self.prog.measured_rate()
        return {
            "path": str(self.opts.out), "stopped_by": self.prog.stopped_by, "message": self.prog.message,
            "error": self.error, "samples": self.prog.samples,
            "samples_written": self.file.samples_on_disk if self.file else 0,
            "measured_rate_hz": measured, "measured_rate_stderr_hz": err,
            "segments": len(self.labels.segments), "events": len(self.labels.events),
            "counts": self.labels.counts,
        }


def warn_rate(measured: float | None, err: float | None, declared: float, prog: Progress) -> None:
    """Say so when the samples did not arrive at the rate the file declares (over >= 10 s)."""
    if measured is None or err is None or prog.first_arrival is None or prog.last_arrival is None:
        return
    if prog.last_arrival - prog.first_arrival < 10.0:
        return
    if abs(measured - declared) > max(3 * err, 0.005 * declared):
        say(f"warning: samples arrived at {measured:.3f} +- {err:.3f} Hz, not at the "
            f"{declared:g} Hz the file declares: check the board's IMU rate (or --rate)")
