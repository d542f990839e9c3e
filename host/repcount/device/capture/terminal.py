"""The terminal side of a capture: key presses, the live status line and the count questions.

Recording never waits for the person: keys are read without blocking, and a count asked
while recording is typed into the status line (digits, Backspace, Enter) as samples keep
arriving. Only at the end, when every sample is on disk and labelled, does a question
wait for an answer, and a stop signal or the end of input skips it.
"""

from __future__ import annotations

import os
import select
import sys
import termios
import time
import tty
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import IO

STATUS_PERIOD_S = 1.0


def say(text: str) -> None:
    """One message on stderr; after SIGHUP the terminal is gone and the message with it, the
    recording is already closed."""
    with suppress(OSError, ValueError):
        print(f"repcount capture: {text}", file=sys.stderr, flush=True)


@contextmanager
def keys(enabled: bool) -> Iterator[Callable[[], str]]:
    """Single key presses from the terminal on stdin, without echo; "" when none (or no terminal).

    The end of input (the terminal closed) disables the reader instead of spinning on it.
    """
    if not enabled:
        yield lambda: ""
        return
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd)
    ended = False

    def read() -> str:
        nonlocal ended
        out = ""
        while not ended and select.select([fd], [], [], 0)[0]:
            try:
                got = os.read(fd, 64).decode("utf-8", "replace")
            except OSError:
                got = ""
            ended = not got
            out += got
        return out

    try:
        yield read
    finally:
        with suppress(termios.error, OSError):
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)


class Status:
    """The live status line on stderr: rewritten in place on a terminal, one line a period otherwise.

    A closed terminal (SIGHUP) makes writes fail: the status then goes quiet, the capture goes on.
    """

    def __init__(self, stream: IO[str], declared: float) -> None:
        self.stream = stream
        self.declared = declared
        self.tty = stream.isatty()
        self.start = time.monotonic()
        self.last = 0.0
        self.prompt = ""

    def show(self, text: str, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < STATUS_PERIOD_S:
            return
        self.last = now
        line = f"{now - self.start:6.1f} s  {text}" + (f"  {self.prompt}" if self.prompt else "")
        self.write(("\r" + line + "\x1b[K") if self.tty else line + "\n")

    def write(self, text: str) -> None:
        with suppress(OSError, ValueError):
            self.stream.write(text)
            self.stream.flush()

    def done(self) -> None:
        if self.tty:
            self.write("\n")


class CountEntry:
    """A count typed into the status line while recording: digits, Backspace, Enter."""

    def __init__(self, question: str) -> None:
        self.question = question
        self.typed = ""

    def feed(self, ch: str) -> tuple[bool, int | None]:
        """Take one key if it belongs to the answer: (consumed, answer). Enter alone skips (-1)."""
        if ch.isdigit():
            self.typed += ch
        elif ch in "\x7f\b":
            self.typed = self.typed[:-1]
        elif ch in "\r\n":
            return True, int(self.typed) if self.typed else -1
        else:
            return False, None
        return True, None

    def prompt(self) -> str:
        return f"{self.question} {self.typed}_"


def ask_count(question: str, check: Callable[[int], str | None], stream: IO[str] = sys.stderr) -> int | None:
    """Ask at the terminal and wait: the count, or None for Enter, the end of input or no terminal.

    `check` returns why a number cannot be the count (asked again), or None.
    """
    if not sys.stdin.isatty():
        return None
    while True:
        stream.write(f"{question} ")
        stream.flush()
        answer = sys.stdin.readline()
        text = answer.strip()
        if not text:
            return None
        if not text.isdigit():
            stream.write(f"  a count is a whole number like 87 (Enter skips), not {text!r}\n")
            continue
        problem = check(int(text))
        if problem is None:
            return int(text)
        stream.write(f"  {problem}\n")
