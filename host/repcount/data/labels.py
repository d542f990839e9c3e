"""Labels of a recording, and the rules that keep them consistent with it and each other.

Three kinds: a segment (an activity over a stretch of time), an event (one countable
thing at a time) and a count (N events of a kind in a stretch, times unknown). The rules
live here, apart from the file syntax (recordings.py), so a reader of either sees them
whole: every label within the samples, segments that never claim the same time, counts
of one kind that never overlap, and timed events that agree with the counts around them.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass

SLACK_PERIODS = 2  # how far (in sample periods) a label may reach beyond the samples


@dataclass(frozen=True)
class Segment:
    """A stretch of time in which one activity happened, e.g. jump-rope from 10 s to 40 s."""

    start: float
    end: float
    activity: str


@dataclass(frozen=True)
class Event:
    """One countable event (a jump's landing, a step's heel strike) at time `t` seconds."""

    t: float
    kind: str


@dataclass(frozen=True)
class Count:
    """Between `start` and `end` there were exactly `n` events of `kind`, times unknown.

    What a person can always give about a set they recorded ("that was 87 jumps") when
    timing every event is out of reach; `repcount label` places the events later.
    """

    start: float
    end: float
    kind: str
    n: int


def number_text(x: float) -> str:
    """Shortest text that reads back as the same float: diffable and exact."""
    return repr(float(x)) if not float(x).is_integer() else str(int(x))


def describe(label: Segment | Event | Count) -> str:
    """The label as an error message names it, e.g. 'count of 87 jump in 10-40.5 s'."""
    if isinstance(label, Event):
        return f"event {label.kind} at {number_text(label.t)} s"
    if isinstance(label, Segment):
        return f"segment {label.activity} {number_text(label.start)}-{number_text(label.end)} s"
    return f"count of {label.n} {label.kind} in {number_text(label.start)}-{number_text(label.end)} s"


def _overlaps(items: list[tuple[int, Segment | Count]], rule: str) -> Iterator[tuple[int, str]]:
    """(line, message) for each label that overlaps one before it in time (touching is fine)."""
    items = sorted(items, key=lambda item: (item[1].start, item[1].end, item[0]))
    widest: tuple[int, Segment | Count] | None = None
    for line, label in items:
        if widest is not None and label.start < widest[1].end:
            first, second = sorted([(line, label), widest], key=lambda item: item[0])
            yield second[0], (f"{describe(second[1])} overlaps {describe(first[1])} "
                              f"on line {first[0]}; {rule}")
        if widest is None or label.end > widest[1].end:
            widest = (line, label)


def _label_problems(labels: list[tuple[int, Segment | Event | Count]], lo: float,
                    hi: float, span: str) -> Iterator[tuple[int, str]]:
    for line, label in labels:
        a, b = (label.t, label.t) if isinstance(label, Event) else (label.start, label.end)
        if a < lo or b > hi:
            yield line, f"{describe(label)} lies outside the recording ({span}); fix or remove the label"
    yield from _overlaps([(n, x) for n, x in labels if isinstance(x, Segment)],
                         "segments may touch but not overlap (two activities at once contradict "
                         "each other; the same activity twice counts its time twice)")
    counts = [(n, x) for n, x in labels if isinstance(x, Count)]
    for kind in sorted({x.kind for _, x in counts}):
        same = [(n, x) for n, x in counts if x.kind == kind]
        yield from _overlaps(same, f"counts of one kind may touch but not overlap (which {kind} "
                                   "would be counted twice?)")
        times = sorted(x.t for _, x in labels if isinstance(x, Event) and x.kind == kind)
        for line, c in same:
            timed = bisect.bisect_left(times, c.end) - bisect.bisect_left(times, c.start)
            if timed and timed != c.n:
                yield line, (f"{describe(c)}, but {timed} timed {kind} events lie in it "
                             "(from START up to, not including, END); fix N or the events")


def first_problem(labels: list[tuple[int, Segment | Event | Count]], first: float, last: float,
                  period: float) -> tuple[int, str] | None:
    """(line, message) of the first label, in file order, that breaks a rule; None if none does.

    `labels` are (line number, label) as read; `first` and `last` the first and last
    sample times. A label may reach SLACK_PERIODS sample periods beyond them: time stamps
    jitter (a simulated or real IMU's first sample may come 1.3 periods after the
    session's time 0), and an event is timed by a clock of its own (a foot switch, a key
    press) that need not match the sample grid.
    """
    span = f"samples from {number_text(first)} to {number_text(last)} s"
    slack = SLACK_PERIODS * period
    problems = list(_label_problems(labels, first - slack, last + slack, span))
    return min(problems, key=lambda p: p[0]) if problems else None
