"""Hardware-in-the-loop: replay labelled recordings to a device over serial and judge it.

The device (a board on a serial port, or the emulated Cortex-M4F board) must run repcount
firmware rendered from the model HIL compares with. A run (docs/hil.md):
  1. asks the device who it is and refuses firmware of another model (`session`);
  2. replays each recording at full speed and collects every inference's int8 outputs and
     every count event, refusing damaged answers and reporting resets (`session`);
  3. makes three comparisons, each with a verdict (`compare`): a. bit-exact with the
     tflite_micro runtime, b. close to the float model, c. counts no worse than the card's
     held-out figures allow;
and writes report.md and report.json with plots per recording (`report`). `target` holds
what the device is compared with (the model, the recordings), `run` the whole run, `pool`
the sharing of the recordings among several devices, `latency` the count latency measured
on the device's sample clock.
The command line is `repcount.commands.hil`; the pytest suite is hil_tests/.
"""

from repcount.device.hil.compare import (
    FLOAT_FIGURES,
    Margins,
    bitexact_failure,
    card_figures,
    compare_bitexact,
    compare_float,
    compare_labels,
    float_failure,
    labels_failure,
)
from repcount.device.hil.latency import count_latencies, emission_samples, latency_figures
from repcount.device.hil.pool import DeviceWork, replay_on_devices
from repcount.device.hil.report import fmt_figure, plot_outputs, write_report
from repcount.device.hil.run import HilRun, Progress, default_emulators, run_devices, run_hil, run_on_emulator
from repcount.device.hil.session import (
    DEFAULT_ATTEMPTS,
    CpuClock,
    HilError,
    RecordingRun,
    Replayed,
    Session,
    check_identity,
    judge_recording,
    process_cpu_clock,
    raw_samples,
    run_recording,
)
from repcount.device.hil.target import (
    Identity,
    Target,
    check_recording,
    check_recordings,
    load_target,
    model_identity,
    recording_names,
    select,
    unseen_oxford_traces,
)

__all__ = [
    "DEFAULT_ATTEMPTS", "FLOAT_FIGURES", "CpuClock", "DeviceWork", "HilError", "HilRun", "Identity",
    "Margins", "Progress", "RecordingRun", "Replayed", "Session", "Target", "bitexact_failure",
    "card_figures",
    "check_identity", "check_recording", "check_recordings", "compare_bitexact", "compare_float",
    "compare_labels", "count_latencies", "default_emulators", "emission_samples", "float_failure",
    "fmt_figure", "judge_recording", "labels_failure", "latency_figures", "load_target", "model_identity",
    "plot_outputs", "process_cpu_clock", "raw_samples", "recording_names", "replay_on_devices", "run_devices",
    "run_hil", "run_on_emulator", "run_recording", "select", "unseen_oxford_traces", "write_report",
]  # fmt: skip
