"""Faults between host and device: the run detects them and retries, or fails with a clear
message; it never gives a verdict on damaged data. Only on the emulator (the proxy and the
restarts need it), for the first model."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from faultproxy import FaultProxy, Faults
from hil_devices import Device
from repcount.data.recordings import Recording
from repcount.device import hil
from repcount.device.emulator import Emulator
from repcount.device.link import Link

pytestmark = [pytest.mark.device, pytest.mark.one_model]


def test_a_damaged_link_is_retried_and_gives_the_clean_runs_answers(
    hil_result: hil.HilRun, hil_target: hil.Target, hil_data: list[Recording], needs_emulator: Device
) -> None:
    """Bytes corrupted and dropped in both directions, at known places early in the stream:
    the damaged replays are refused and repeated, and the accepted one is the clean run's."""
    rec = hil_data[0]
    to_host = Faults(corrupt={2_000}, drop={5_000})
    to_device = Faults(corrupt={1_500}, drop={4_000})
    port = int(needs_emulator.url.rsplit(":", 1)[1])
    with FaultProxy(port, to_device=to_device, to_host=to_host) as proxy, Link.open(proxy.url) as link:
        result = hil.run_hil(link, hil_target, [rec], margins=hil_result.margins, attempts=4)
    assert to_host.damaged == 2 and to_device.damaged == 2  # every planned fault happened
    replayed = result.runs[0].device
    assert replayed.attempts >= 2 and replayed.damage, "the damaged attempt was not noticed"
    assert np.array_equal(replayed.outputs, hil_result.runs[0].device.outputs)
    assert replayed.event_steps == hil_result.runs[0].device.event_steps
    assert result.bitexact["bitexact_mismatches"] == 0
    stats = result.summary()["link"]
    assert stats["host_received"]["crc_errors"] + stats["host_received"]["cobs_errors"] >= 1
    assert stats["device_received"]["crc_errors"] + stats["device_received"]["cobs_errors"] >= 1


def test_a_link_too_damaged_to_trust_fails_with_a_clear_message(
    hil_result: hil.HilRun, hil_target: hil.Target, hil_data: list[Recording], needs_emulator: Device
) -> None:
    """One byte in 400 from the device corrupted: every attempt is damaged, no verdict."""
    port = int(needs_emulator.url.rsplit(":", 1)[1])
    with FaultProxy(port, to_host=Faults(corrupt_every=400)) as proxy, Link.open(proxy.url) as link:
        with pytest.raises(hil.HilError) as exc:
            hil.run_hil(link, hil_target, hil_data[:1], attempts=2)
    message = str(exc.value)
    assert f"the answers to {hil.recording_names(hil_data)[0]} arrived damaged in all 2 attempts" in message
    assert "crc errors" in message or "cobs errors" in message or "arrived after" in message
    assert "no verdict is given on damaged data" in message


def test_a_device_reset_in_the_middle_of_a_run_is_reported(
    hil_target: hil.Target, hil_data: list[Recording], needs_emulator: Device
) -> None:
    """The emulator is restarted under the run, behind a link that stays open (a board
    resetting behind its USB-serial bridge): the run stops and says the device reset."""
    assert needs_emulator.emulator is not None and needs_emulator.emulator.elf is not None
    elf = needs_emulator.emulator.elf
    first = Emulator(elf)
    first.start()
    second = Emulator(elf, port=first.port, probe=None)
    proxy = FaultProxy(first.port)
    restarted, done = threading.Event(), threading.Event()

    def restart_mid_replay() -> None:
        while proxy.to_host.passed < 3_000:
            if done.wait(0.005):
                return
        first.stop()
        second.start()
        restarted.set()
        done.wait()  # QEMU gets SIGKILL when the thread that started it ends (its parent-death signal)

    restarter = threading.Thread(target=restart_mid_replay, daemon=True)
    restarter.start()
    try:
        with Link.open(proxy.url) as link, pytest.raises(hil.HilError) as exc:
            hil.run_hil(link, hil_target, hil_data)
        assert restarted.is_set()
        message = str(exc.value)
        assert "the device reset during the replay of" in message
        assert "it sent BOOT" in message or "its receive counters restarted" in message
    finally:
        done.set()
        restarter.join(timeout=30)
        proxy.close()
        first.stop()
        second.stop()
