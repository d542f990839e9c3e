"""The counting post-processor: the model's int8 output stream in, event steps out.

This is the reference; the firmware's C twin (firmware_templates/core) must give the
same events from the same int8 values, which tests check with shared vectors.

How outputs become a stream. The model sees a window of `window` samples every `hop`
samples and returns one int8 score per `out_stride` samples of the window (the
probability that an event happened in that slice). Windows overlap, so each inference
contributes only the `take_count = hop / out_stride` scores starting at `take_start`:
consecutive inferences then tile time exactly, and nothing is counted twice. Score `g`
of that stream (inference k, position j) covers samples
`(take_start + g) * out_stride ... + out_stride` from the first sample of the stream.

How the stream becomes events, all in integers: step `g` is an event when its score is
at least `threshold`, strictly greater than the score before it and at least the score
after it (so a plateau gives one event, at its first step), and at least `refractory`
steps after the previous event. The decision on step `g` is taken when step `g + 1`
arrives: one step of latency.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

INT8_MIN = -128


@dataclass(frozen=True)
class CountingParams:
    """The integers of a model card's `counting` object (ModelCard.counting_params)."""

    threshold: int
    refractory: int
    take_start: int
    take_count: int
    out_stride: int


class Counter:
    """Streaming peak picker over the int8 score stream; the C twin mirrors this state."""

    def __init__(self, threshold: int, refractory: int) -> None:
        self.threshold = threshold
        self.refractory = refractory
        self.step = 0  # index of the next score to arrive
        self.prev2 = INT8_MIN  # score at step - 2
        self.prev1 = INT8_MIN  # score at step - 1
        self.last_event = -(1 << 30)
        self.count = 0

    def push(self, score: int) -> int | None:
        """Feed the score of the next step; return the step of an event decided now, if any."""
        candidate = self.step - 1
        event = None
        if (
            candidate >= 0
            and self.prev1 >= self.threshold
            and self.prev1 > self.prev2
            and self.prev1 >= score
            and candidate - self.last_event >= self.refractory
        ):
            event = candidate
            self.last_event = candidate
            self.count += 1
        self.prev2, self.prev1 = self.prev1, int(score)
        self.step += 1
        return event


def stream(outputs: Iterable[Iterable[int]], params: CountingParams) -> Iterator[int]:
    """The score stream: from each inference's int8 output, the slice that tiles time."""
    lo, hi = params.take_start, params.take_start + params.take_count
    for out in outputs:
        yield from (int(v) for v in list(out)[lo:hi])


def count_events(outputs: Iterable[Iterable[int]], params: CountingParams) -> list[int]:
    """Event steps for a whole sequence of per-inference int8 outputs."""
    counter = Counter(params.threshold, params.refractory)
    return [g for g in (counter.push(s) for s in stream(outputs, params)) if g is not None]


def step_to_sample(step: int, params: CountingParams) -> float:
    """Sample index (from the stream's first sample) at the centre of a step's slice."""
    return (params.take_start + step) * params.out_stride + params.out_stride / 2.0
