"""Many devices in one HIL run: the recordings shared out by a work queue.

Each device (a board on its port, or one emulator) has its own thread, which takes the
next recording not yet replayed, replays it, and takes the next: fast devices take more.
The host side of each recording (the tflite_micro and float references, the counting)
is done by the calling thread as the answers arrive, so it overlaps with the replays and
no host model is shared between threads. A device that fails during a replay (it died,
its link broke, it reset, its answers arrived damaged in every attempt) is out of the run:
it is reported with the recording it was replaying, and that recording goes back to the
queue for the others. Only when every device is out is there no verdict (an error).
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from repcount.device.hil.session import HilError, Replayed, Session

Progress = Callable[[str], None]
OnReplayed = Callable[[int, Replayed], None]  # (recording index, the device's answers)


@dataclass
class DeviceWork:
    """What one device did in a run: the recordings it replayed, and how it ended."""

    port: str
    board: str
    recordings: list[str] = field(default_factory=list)
    signal_seconds: float = 0.0
    replay_seconds: float = 0.0
    died: dict[str, str] | None = None  # {"recording": ..., "error": ...} when it failed

    def as_dict(self) -> dict[str, Any]:
        speed = self.signal_seconds / self.replay_seconds if self.replay_seconds else 0.0
        return {"port": self.port, "board": self.board, "recordings": list(self.recordings),
                "signal_seconds": round(self.signal_seconds, 2), "replay_speed_x": round(speed, 1),
                "died": self.died}  # fmt: skip


class _WorkQueue:
    """Recording indices to replay; a failed one goes back to the front for another device.

    A device with nothing left to take waits while others still replay: one of them may
    fail and give its recording back."""

    def __init__(self, n: int) -> None:
        self.pending = deque(range(n))
        self.in_flight = 0
        self.closed = False
        self.cond = threading.Condition()

    def take(self) -> int | None:
        with self.cond:
            while not self.pending and self.in_flight and not self.closed:
                self.cond.wait()
            if self.closed or not self.pending:
                return None
            self.in_flight += 1
            return self.pending.popleft()

    def finish(self, index: int, done: bool) -> None:
        with self.cond:
            self.in_flight -= 1
            if not done:
                self.pending.appendleft(index)
            self.cond.notify_all()

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()


Answers = queue.Queue[tuple[str, int, int, Any]]  # (kind, device, recording index, payload)


def _serve(k: int, session: Session, jobs: Sequence[tuple[str, np.ndarray]], work: _WorkQueue,
           answers: Answers, attempts: int, progress: Progress | None) -> None:  # fmt: skip
    """One device's thread: replay recordings from the queue until none is left or it fails.

    Every recording taken is answered (done, died or crash) before it is handed back to the
    queue, so the calling thread learns of a failed device before another device finishes
    its recording."""
    while (i := work.take()) is not None:
        name, raw = jobs[i]
        try:
            if progress:
                progress(f"[{i + 1}/{len(jobs)}] {name} on {session.link.name}")
            replayed = session.replay(name, raw, attempts)
        except OSError as exc:  # the port or socket broke: the device is gone
            answers.put(("died", k, i, HilError(f"{session.link.name}: the link failed: {exc}")))
            work.finish(i, done=False)
            return
        except HilError as exc:
            answers.put(("died", k, i, exc))
            work.finish(i, done=False)
            return
        except BaseException as exc:  # a bug: the calling thread re-raises it
            answers.put(("crash", k, i, exc))
            work.finish(i, done=False)
            return
        answers.put(("done", k, i, replayed))
        work.finish(i, done=True)


def _next_answer(answers: Answers, threads: Sequence[threading.Thread]) -> tuple[str, int, int, Any]:
    """The next answer of a device thread; a RuntimeError rather than a wait without end if every
    thread has ended with recordings unanswered (which `_serve` never does)."""
    while True:
        try:
            return answers.get(timeout=1.0)
        except queue.Empty:
            if not any(t.is_alive() for t in threads) and answers.empty():
                raise RuntimeError("every device thread ended with recordings unanswered") from None


def replay_on_devices(
    sessions: Sequence[Session],
    jobs: Sequence[tuple[str, np.ndarray]],
    attempts: int,
    on_replayed: OnReplayed,
    progress: Progress | None = None,
) -> tuple[list[DeviceWork], float]:
    """Replay every job (name, raw int16 samples) on the devices; `on_replayed` is called in
    this thread for each. Returns what each device did and the wall seconds of the whole replay.

    Raises the device's own error when the only device fails, and a HilError naming every
    device and the recording it failed on when all of several fail."""
    work = _WorkQueue(len(jobs))
    answers: Answers = queue.Queue()
    done: list[DeviceWork] = [DeviceWork(s.link.name, s.info.board) for s in sessions]
    failures: list[BaseException] = []
    started = time.monotonic()
    threads = [
        threading.Thread(target=_serve, args=(k, s, jobs, work, answers, attempts, progress),
                         name=f"hil-{s.link.name}", daemon=True)
        for k, s in enumerate(sessions)
    ]  # fmt: skip
    for t in threads:
        t.start()
    finished, ended = 0, started
    try:
        while finished < len(jobs) and len(failures) < len(sessions):
            kind, k, i, payload = _next_answer(answers, threads)
            name = jobs[i][0]
            if kind == "crash":
                raise payload
            if kind == "died":
                failures.append(payload)
                done[k].died = {"recording": name, "error": str(payload)}
                if progress and len(failures) < len(sessions):
                    progress(f"{done[k].port} failed during {name} ({payload}); "
                             "its recording goes to the other devices")  # fmt: skip
                continue
            finished, ended = finished + 1, time.monotonic()
            done[k].recordings.append(name)
            done[k].signal_seconds += len(jobs[i][1]) / sessions[k].info.sample_rate_hz
            done[k].replay_seconds += payload.seconds
            on_replayed(i, payload)
    finally:
        work.close()
    if finished < len(jobs):
        if len(sessions) == 1:
            raise failures[0]
        which = "; ".join(f"{d.port} during {d.died['recording']}: {d.died['error']}" for d in done if d.died)
        raise HilError(f"every device failed, {finished} of {len(jobs)} recordings replayed: {which}")
    for t in threads:
        t.join(timeout=1.0)
    return done, ended - started
