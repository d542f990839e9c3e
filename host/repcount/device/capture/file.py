"""A recording written while it is recorded: whole lines only, durable twice a second, and
its open segment labelled on disk all along, so any stop (even SIGKILL) leaves a file the
loader accepts, with the labels so far.

Why it is built this way:
- Whole lines. The recording's `Writer` formats into memory; each `commit` writes the
  complete lines since the last one with one `pwrite` and fsyncs. A torn line can then
  only come from the kernel cutting a write short (a SIGKILL between two pages, a power
  cut); the loader tolerates a torn last line and says so.
- The open segment. The loader refuses a label that reaches past the last sample and
  overlapping segments, so a segment cannot be written at its start with its final end,
  nor written twice. Each segment gets a slot when it opens: a line of spaces (the loader
  skips blank lines) of a fixed width, never straddling a page. Each commit rewrites the
  slot in place, one `pwrite` of one line, with the segment's end at the last sample on
  disk; a kill leaves the old label or the new one, never a mix.
- Existing files. Nothing is created until the first samples are committed: a capture
  that gets no sample touches nothing. The file is then created with O_EXCL (a file that
  appeared meanwhile is never replaced) or, when replacing was asked for, under a
  temporary name renamed over the old file, so the old file stays whole until then.
- A full disk. A failed write is cut back to its last whole line, the slots on disk are
  brought to the last sample kept, and `DiskError` says what the file holds.
- Signals. A commit runs with SIGINT, SIGTERM and SIGHUP held, so a stop requested by a
  signal never lands between the samples and the label that covers them.
"""

from __future__ import annotations

import io
import os
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from repcount.data.recordings import Meta, Writer
from repcount.errors import UserError

PAGE = 4096  # a slot never straddles a page, so rewriting it is one page-local write
FLOAT_CHARS = 24  # the longest text of a float in a label (repr)
HELD_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


class DiskError(UserError):
    """Writing the recording failed (a full disk, a removed drive): what was kept is loadable."""


@contextmanager
def signals_held() -> Iterator[None]:
    """Hold the stop signals for a few system calls; they are delivered right after."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, HELD_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@dataclass
class _Slot:
    """One segment's fixed-width label line in the file."""

    start: float | None  # None: from the first sample
    activity: str
    offset: int  # byte offset in the file (valid once committed)
    width: int  # bytes, newline included
    end: float | None = None
    closed: bool = False
    dropped: bool = False
    on_disk: str = ""  # what the slot holds now (blank when "")


class CaptureFile:
    """Samples and labels of one capture, written as described in the module docstring."""

    def __init__(self, path: Path, meta: Meta, replace: bool = False) -> None:
        self.path = path
        self.replace = replace
        self._text = io.StringIO()
        self._writer = Writer(path, meta, stream=self._text)  # the header goes first
        self._label_text = io.StringIO()
        self._labels = Writer(path, meta, stream=self._label_text)  # formats slot labels
        self._label_text.seek(0)
        self._label_text.truncate()
        self._fd: int | None = None
        self._tmp: str | None = None
        self._created = False
        self._closed = False
        self._offset = 0  # bytes on disk
        self._slots: list[_Slot] = []
        self._pending_samples = 0
        self.first_t: float | None = None  # time of the first sample on disk
        self.last_t: float | None = None  # time of the last sample on disk
        self.samples_on_disk = 0
        self.failed: DiskError | None = None

    @property
    def created(self) -> bool:
        """The file exists on disk (samples arrived), even after close."""
        return self._created

    def samples(self, t: np.ndarray, acc: np.ndarray) -> None:
        self._writer.samples(t, acc)
        self._pending_samples += len(t)

    def event(self, t: float, kind: str) -> None:
        self._writer.event(t, kind)

    def count(self, start: float, end: float, kind: str, n: int) -> None:
        self._writer.count(start, end, kind, n)

    def open_segment(self, start: float | None, activity: str) -> None:
        """A segment of `activity` from `start` (None: the first sample) to the last sample so far."""
        width = len(f"@segment,,,{activity}\n".encode()) + 2 * FLOAT_CHARS
        offset = self._offset + len(self._text.getvalue().encode())
        if offset % PAGE + width > PAGE:  # pad to the next page with a blank line
            self._text.write(" " * (PAGE - offset % PAGE - 1) + "\n")
            offset += PAGE - offset % PAGE
        self._text.write(" " * (width - 1) + "\n")
        self._slots.append(_Slot(start, activity, offset, width))

    def close_segment(self, end: float) -> None:
        """The open segment ends at `end`: its slot gets its final label at the next commit."""
        slot = self._open_slot()
        if slot is not None:
            slot.end, slot.closed = end, True

    def drop_segment(self) -> None:
        """Forget the open segment: its slot is blanked at the next commit."""
        slot = self._open_slot()
        if slot is not None:
            slot.dropped = slot.closed = True

    def _open_slot(self) -> _Slot | None:
        return next((s for s in reversed(self._slots) if not s.closed), None)

    def commit(self) -> None:
        """Write the whole lines since the last commit, update the labels, fsync.

        Before the first samples nothing is written (see the module docstring). After a
        DiskError it does nothing: the file already holds what could be kept.
        """
        if self.failed is not None or self._closed or (self._fd is None and not self._pending_samples):
            return
        with signals_held():
            data = self._text.getvalue().encode()
            self._text.seek(0)
            self._text.truncate()
            self._pending_samples = 0
            try:
                if self._fd is None:
                    self._create()
                    self._created = True
                self._append(data)
                self._update_slots()
                assert self._fd is not None
                os.fsync(self._fd)
                if self._tmp is not None:
                    os.replace(self._tmp, self.path)
                    self._tmp = None
            except OSError as exc:
                self._fail(exc)

    def close(self) -> None:
        """Commit what is left and close; the file stays as it is after a DiskError."""
        try:
            self.commit()
        finally:
            self._closed = True
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def _create(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.replace:
            try:
                self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
            except FileExistsError:
                self.failed = DiskError(
                    f"--out {self.path}: a file of that name appeared while capturing; it was left "
                    "untouched and nothing was written (pass --force to replace it)")
                raise self.failed from None
            return
        self._fd, self._tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".part",
                                               dir=self.path.parent)
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(self._fd, 0o666 & ~umask)

    def _append(self, data: bytes) -> None:
        assert self._fd is not None
        written = 0
        try:
            while written < len(data):
                n = os.pwrite(self._fd, data[written:], self._offset + written)
                if n <= 0:
                    raise OSError(28, os.strerror(28))
                written += n
        except OSError:
            keep = data.rfind(b"\n", 0, written) + 1  # the whole lines that made it
            with suppress(OSError):
                os.ftruncate(self._fd, self._offset + keep)
            self._account(data[:keep])
            raise
        self._account(data)

    def _account(self, chunk: bytes) -> None:
        """Advance past `chunk` (whole lines now on disk): sample count, first and last time."""
        self._offset += len(chunk)
        for line in chunk.split(b"\n"):
            head = line.strip().split(b",", 1)[0]
            if not head or head[:1] in b"@#":
                continue
            try:
                t = float(head)
            except ValueError:
                continue  # the column header
            self.first_t = t if self.first_t is None else self.first_t
            self.last_t = t
            self.samples_on_disk += 1

    def _update_slots(self) -> None:
        """Rewrite every slot on disk whose label changed; keep only the slots still open."""
        assert self._fd is not None
        for slot in self._slots:
            if slot.offset + slot.width > self._offset:
                continue  # not on disk (cut off by a failed write)
            label = self._label(slot)
            if label != slot.on_disk:
                line = (label.ljust(slot.width - 1) + "\n").encode()
                assert len(line) == slot.width
                os.pwrite(self._fd, line, slot.offset)
                slot.on_disk = label
        self._slots = [s for s in self._slots if not s.closed or s.offset + s.width > self._offset]

    def _label(self, slot: _Slot) -> str:
        start = self.first_t if slot.start is None else slot.start
        end = self.last_t if slot.end is None or self.last_t is None else min(slot.end, self.last_t)
        if slot.dropped or start is None or end is None or end <= start:
            return ""
        self._labels.segment(start, end, slot.activity)
        text = self._label_text.getvalue().rstrip("\n")
        self._label_text.seek(0)
        self._label_text.truncate()
        return text

    def _fail(self, exc: OSError) -> None:
        """Leave the whole lines and up-to-date labels on disk, then raise DiskError.

        A file that kept no sample is removed (it was created by this capture), so an old
        file that was to be replaced stays as it was.
        """
        if self.failed is None:
            with suppress(OSError):
                if self._fd is not None and not self.samples_on_disk:
                    os.unlink(self._tmp or self.path)
                    self._tmp, self._created = None, False
                elif self._fd is not None:
                    self._update_slots()
                    os.fsync(self._fd)
                    if self._tmp is not None:
                        os.replace(self._tmp, self.path)
                        self._tmp = None
            kept = (f"the {self.samples_on_disk} samples written before it are in the file"
                    if self.samples_on_disk else "nothing was written")
            self.failed = DiskError(f"writing {self.path} failed: {exc.strerror or exc}; {kept}")
        raise self.failed from None
