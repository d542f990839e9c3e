"""HIL on several devices (one verdict, a device that dies is reported and its recording
finishes on the others) and the count latency measured on the device's sample clock."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hil_devices import Device
from repcount.data import simulation
from repcount.data.recordings import Recording, load_all
from repcount.device import hil
from repcount.device.emulator import Emulator
from repcount.device.link import Link

SHORT_RECORDINGS, SHORT_MINUTES = 5, 0.5


@pytest.mark.host
def test_count_latency_on_a_known_inference_schedule() -> None:
    """Window 96, hop 32, 50 Hz: an event reported by inference k was emitted when the device
    had k * 32 + 96 samples; the latency is that minus the true event's sample, in seconds.
    Only true events the device counted (within the tolerance) are timed."""
    rate, window, hop = 50.0, 96, 32
    true_t = np.array([1.00, 2.50, 4.00, 9.00])  # the last one the device missed
    device_t = np.array([1.06, 2.44, 4.10, 6.00])  # the last one a false count
    reported_by = [1, 4, 6, 8]
    emitted = hil.emission_samples(reported_by, window, hop)
    assert list(emitted) == [128, 224, 288, 352]
    latency = hil.count_latencies(true_t, device_t, true_t * rate, emitted, rate, tolerance_s=0.15)
    assert np.allclose(latency, [(128 - 50) / 50, (224 - 125) / 50, (288 - 200) / 50])
    figures = hil.latency_figures([latency, np.zeros(0)])
    assert figures["events_timed"] == 3
    assert figures["count_latency_p50_s"] == pytest.approx(1.76)  # the middle one, 88 samples
    assert figures["count_latency_p95_s"] == pytest.approx(1.958, abs=1e-3)  # numpy's linear percentile
    assert hil.latency_figures([])["count_latency_p95_s"] is None


def short_recordings(target: hil.Target, out: Path) -> list[Recording]:
    """A few half-minute jump-rope sessions of people no model saw: more recordings than devices."""
    if target.card.task != "jump-rope":
        pytest.skip(f"{target.name}: the sharing test simulates jump-rope sessions")
    mount = target.card.mount if target.card.mount in simulation.MOUNTS else "wrist"
    paths = simulation.simulate_dataset("jump-rope", mount, SHORT_RECORDINGS, SHORT_MINUTES, 11, out,
                                        first_user=980)  # fmt: skip
    return load_all(paths)


@pytest.mark.device
@pytest.mark.one_model
def test_a_device_that_dies_mid_run_is_reported_and_its_recordings_finish_on_the_others(
    hil_target: hil.Target, needs_emulator: Device, tmp_path: Path
) -> None:
    recs = short_recordings(hil_target, tmp_path / "data")
    names = hil.recording_names(recs)
    with Link.open(needs_emulator.url) as link:
        alone = hil.run_hil(link, hil_target, recs)
    with contextlib.ExitStack() as stack:
        emulators = [stack.enter_context(Emulator(needs_emulator.firmware)) for _ in range(2)]
        links = [stack.enter_context(Link.open(e.url)) for e in emulators]
        victim = emulators[1]
        started: list[str] = []

        def progress(msg: str) -> None:
            if msg.endswith(f" on {victim.url}"):
                started.append(msg)
                if len(started) == 2:  # it finished its first recording and takes the next: kill it
                    assert victim.pid is not None
                    os.kill(victim.pid, signal.SIGKILL)

        shared = hil.run_devices([(lk, None) for lk in links], hil_target, recs, progress=progress)
    assert [r.name for r in shared.runs] == names  # every recording checked, in order
    failed = shared.failed_devices
    assert [d["port"] for d in failed] == [victim.url]
    assert failed[0]["died"]["recording"] == started[1].split("] ", 1)[1].split(" on ")[0]
    assert len(failed[0]["recordings"]) == 1  # what it finished before it died counts
    by_port = {d["port"]: d for d in shared.devices}
    assert sorted(by_port[links[0].name]["recordings"] + failed[0]["recordings"]) == sorted(names)
    for a, b in zip(alone.runs, shared.runs, strict=True):  # the same answers, whoever replayed them
        assert np.array_equal(a.device.outputs, b.device.outputs)
        assert a.device.event_steps == b.device.event_steps
    s1, s2 = alone.summary(), shared.summary()
    for key in ("bitexact", "labels", "latency", "failures", "passed", "error"):
        assert s1[key] == s2[key], key
    assert s2["failed_devices"][0]["died"]["error"]


@pytest.mark.device
@pytest.mark.one_model
def test_count_latency_comes_from_the_inference_that_reported_each_event(hil_result: hil.HilRun) -> None:
    """An EVENT follows the OUTPUT of the inference whose first step decided it (the counter
    needs the next step to call a peak): the protocol order gives that inference exactly."""
    take = hil_result.target.card.counter.take_count
    for r in hil_result.runs:
        assert r.device.event_inferences == [(g + 1) // take for g in r.device.event_steps]
    s = hil_result.summary()
    assert s["latency"]["events_timed"] > 0
    assert 0 < s["count_latency_p50_s"] <= s["count_latency_p95_s"] <= s["latency"]["count_latency_max_s"]


class FakeDevice:
    """A device for the work queue alone: answers `replay` until its `fails_on`-th recording."""

    def __init__(self, name: str, fails_on: int | None = None, error: Exception | None = None,
                 together: threading.Barrier | None = None) -> None:  # fmt: skip
        self.link = SimpleNamespace(name=name)
        self.info = SimpleNamespace(board="fake", sample_rate_hz=50.0)
        self.fails_on, self.error, self.replayed, self.together = fails_on, error, 0, together

    def replay(self, name: str, raw: np.ndarray, attempts: int) -> hil.Replayed:
        self.replayed += 1
        if self.replayed == 1 and self.together is not None:
            self.together.wait(timeout=10)  # every device holds a recording before any finishes or fails
        if self.replayed == self.fails_on:
            raise self.error or OSError("socket disconnected")
        return hil.Replayed(np.zeros((1, 1), np.int8), [], 0.01, 1)


JOBS = [(f"rec{i}", np.zeros(500, np.int16)) for i in range(5)]


def replay_fakes(devices: list[FakeDevice]) -> tuple[list[hil.DeviceWork], list[int]]:
    judged: list[int] = []
    work, _wall = hil.replay_on_devices(devices, JOBS, 1, lambda i, _r: judged.append(i))  # type: ignore[arg-type]
    return work, judged


@pytest.mark.host
def test_the_work_queue_gives_a_failed_devices_recording_to_the_others() -> None:
    both = threading.Barrier(2)
    work, judged = replay_fakes([FakeDevice("A", together=both), FakeDevice("B", fails_on=1, together=both)])
    assert sorted(judged) == list(range(5))  # every recording judged once
    a, b = work
    assert b.died is not None and b.died["recording"] in a.recordings and b.recordings == []
    assert "B: the link failed: socket disconnected" in b.died["error"]
    assert sorted(a.recordings + b.recordings) == [name for name, _ in JOBS] and a.died is None


@pytest.mark.host
def test_no_verdict_only_when_every_device_fails() -> None:
    everyone = r"every device failed, [0-4] of 5 recordings replayed: A during rec\d: A: the link failed"
    with pytest.raises(hil.HilError, match=everyone):
        replay_fakes([FakeDevice("A", fails_on=2), FakeDevice("B", fails_on=1)])
    reset = hil.HilError("A: the device reset during the replay of rec1")
    with pytest.raises(hil.HilError, match="^A: the device reset"):  # one device: its own error
        replay_fakes([FakeDevice("A", fails_on=2, error=reset)])


@pytest.mark.host
def test_a_bug_in_a_device_thread_is_raised_not_waited_for() -> None:
    def progress(_msg: str) -> None:
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        hil.replay_on_devices([FakeDevice("A"), FakeDevice("B")], JOBS, 1, lambda _i, _r: None,  # type: ignore[list-item]
                              progress)  # fmt: skip
