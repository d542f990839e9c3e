"""The hardware-in-the-loop suite's options and fixtures: which models, which device, which data.

With no option the suite runs every shipped model (repcount.models: models/*/card.json) on
the emulated Cortex-M4F board: it renders each model's firmware for qemu-mps2-an386 (native
engine), builds it and starts the emulator itself, one per pytest-xdist worker, so
`pytest -n 2 hil_tests` runs two emulators side by side. What is made once per model (the
quick model, the firmware build, the HIL run itself) is made by the first worker that needs
it, under a file lock, and shared with the others through the run's temporary directory.
With no shipped model yet the suite trains a quick one once per run.

Options:
  --port PORT     a device running repcount firmware (a board, or any pyserial URL); give it
                  once per device of a bench: xdist worker N uses the N-th port
  --board ID      the board the device must say it is (default: any)
  --model DIR     the model the firmware was rendered from (repeatable; default: shipped)
  --data SRC      recordings to replay (files, directories, or `oxford`); default: a held-out
                  subset per model (simulated jump-rope users no model saw; Oxford traces of
                  the steps card's held-out users)
  --firmware DIR  a qemu-mps2-an386 project to run in the emulator instead of rendering one
  --hil-report DIR  write report.md, report.json and plots per model there
JUnit XML for CI: `pytest hil_tests --junitxml=out/hil.xml` (each test carries its figures).
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import pickle
import re
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hil_devices import Device, worker_index
from repcount.commands import train
from repcount.data import simulation
from repcount.data.recordings import Recording, load_all
from repcount.device import hil
from repcount.device.emulator import Emulator, model_firmware
from repcount.device.link import Link
from repcount.errors import UserError
from repcount.learn.card import ModelCard
from repcount.learn.evaluation import load_data

# The margins of comparison (c): how much worse than its card's held-out figures the device
# may count on the held-out subset before the suite fails it. Steps: the subset is the card's
# held-out user, so a correct device counts exactly as the card says. Jump rope: six minutes
# of users no model saw, whose figures scatter a little around the card's (why these sizes:
# repcount.device.hil.Margins, whose defaults `repcount hil` uses too; every report states them).
MARGINS = hil.Margins(count_mape=0.03, event_f1=0.03, false_counts_per_hour=60.0)
HELD_OUT_SEED = 7  # the session of the simulated held-out users (their style comes from the index)
HELD_OUT_JUMP_USERS = 2
HELD_OUT_MINUTES = 3.0  # per user: about 250-330 jumps and a minute of rests and distractors
QUICK_USERS, QUICK_HELD_OUT, QUICK_MINUTES = 5, 2, 1.5


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("hil", "hardware-in-the-loop (hil_tests)")
    g.addoption("--port", action="append", default=[], help="device port or pyserial URL (repeatable)")
    g.addoption("--board", default=None, help="board id the device must report")
    g.addoption("--model", action="append", default=[], help="model directory (repeatable)")
    g.addoption("--data", action="append", default=[], help="recordings to replay (repeatable)")
    g.addoption("--firmware", default=None, help="qemu-mps2-an386 project to run instead of rendering")
    g.addoption("--hil-report", default=None, help="directory for report.md/report.json per model")


def shipped_models() -> list[Path]:
    root = resources.files("repcount.models")
    return sorted(Path(str(p)) for p in root.iterdir() if p.is_dir() and p.joinpath("card.json").is_file())


QUICK = "quick-model"  # stands for the model trained on the fly when nothing is shipped


def model_params(config: pytest.Config) -> list[str]:
    return [str(m) for m in config.getoption("--model")] or [str(m) for m in shipped_models()] or [QUICK]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every HIL test runs per model; tests marked `one_model` only for the first."""
    if "hil_model" in metafunc.fixturenames:
        models = model_params(metafunc.config)
        if metafunc.definition.get_closest_marker("one_model"):
            models = models[:1]
        metafunc.parametrize("hil_model", models, ids=[Path(m).name for m in models], indirect=True,
                             scope="session")  # fmt: skip


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "one_model: run for the first model only (faults, refusals)")


def shared_tmp(factory: pytest.TempPathFactory) -> Path:
    """A directory all xdist workers of this run share (each worker's basetemp is inside it)."""
    base = factory.getbasetemp()
    return base.parent if "PYTEST_XDIST_WORKER" in os.environ else base


@contextmanager
def made_once(factory: pytest.TempPathFactory, name: str) -> Iterator[Path]:
    """A directory shared by this run's workers, held under an exclusive lock: the first
    worker makes what goes in it, the others wait and find it made."""
    root = shared_tmp(factory) / name
    root.mkdir(exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield root


def model_key(model_dir: Path) -> str:
    return f"{model_dir.name}-{hashlib.sha256(str(model_dir.resolve()).encode()).hexdigest()[:8]}"


def train_quick_model(factory: pytest.TempPathFactory) -> Path:
    """A quick jump-rope model (simulated users 1-5, two held out), trained once per run."""
    with made_once(factory, "hil-quick-model") as root:
        out = root / "jumprope-quick"
        if not (out / "card.json").is_file():
            simulation.simulate_dataset("jump-rope", "wrist", QUICK_USERS, QUICK_MINUTES, 1, root / "data")
            p = argparse.ArgumentParser()
            train.add_arguments(p)
            args = p.parse_args([
                "--task", "jump-rope", "--data", str(root / "data"), "--mount", "wrist",
                "--holdout-users", str(QUICK_HELD_OUT), "--quick", "--seed", "1", "--out", str(out),
            ])  # fmt: skip
            assert train.run(args) == 0
    return out


@pytest.fixture(scope="session")
def hil_model(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The model directory under test (a shipped model, --model, or the quick one)."""
    return train_quick_model(tmp_path_factory) if request.param == QUICK else Path(request.param)


@pytest.fixture(scope="session")
def hil_target(hil_model: Path) -> hil.Target:
    return hil.load_target(hil_model)


def user_index(user: str) -> int | None:
    m = re.fullmatch(r"sim-[a-z]{2}-u(\d+)", user)
    return int(m[1]) if m else None


def held_out_data(card: ModelCard, out: Path) -> list[Recording]:
    """The held-out subset of a model: recordings of people it was never trained on."""
    known = [*card.training.train_users, *card.training.held_out_users] if card.training else []
    if card.task == "jump-rope":
        first = max([900, *(i for i in map(user_index, known) if i is not None)]) + 1
        mount = card.mount if card.mount in simulation.MOUNTS else "wrist"
        paths = simulation.simulate_dataset("jump-rope", mount, HELD_OUT_JUMP_USERS, HELD_OUT_MINUTES,
                                            HELD_OUT_SEED, out, first_user=first)  # fmt: skip
        return load_all(paths)
    if card.task == "steps":
        try:  # all of them: the recordings the card's held-out figures come from
            return hil.unseen_oxford_traces(card)
        except UserError as exc:
            pytest.skip(str(exc))
    pytest.skip(f"{card.name}: task {card.task} does not count events")
    return []


@pytest.fixture(scope="session")
def hil_data(hil_model: Path, hil_target: hil.Target, request: pytest.FixtureRequest,
             tmp_path_factory: pytest.TempPathFactory) -> list[Recording]:  # fmt: skip
    """The recordings replayed for this model: --data, or its held-out subset."""
    sources = request.config.getoption("--data")
    if sources:
        return load_data(sources)
    recs = held_out_data(hil_target.card, tmp_path_factory.mktemp(f"heldout-{hil_model.name}"))
    assert recs, f"{hil_model}: no held-out recordings to replay"
    return recs


@pytest.fixture(scope="session")
def hil_device(hil_model: Path, request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[Device]:  # fmt: skip
    """The device for this model: --port, or the emulator running the model's firmware."""
    ports = request.config.getoption("--port")
    if ports:
        yield Device(ports[worker_index() % len(ports)])
        return
    given = request.config.getoption("--firmware")
    if given:
        project = Path(given)
    else:
        with made_once(tmp_path_factory, f"fw-{model_key(hil_model)}") as root:
            project = root / "project"
            if not (project / "Makefile").is_file():
                model_firmware(hil_model, project)
    with Emulator(project) as emu:
        yield Device(emu.url, emu, project)


@pytest.fixture(scope="session")
def hil_run(hil_model: Path, hil_target: hil.Target, hil_device: Device, hil_data: list[Recording],
            request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
            ) -> hil.HilRun | hil.HilError:  # fmt: skip
    """The HIL run of this model, made once per pytest run by the first worker that needs it
    (a run that could not be made is returned as its error, and every test says why)."""
    with made_once(tmp_path_factory, f"run-{model_key(hil_model)}") as root:
        saved = root / "run.pickle"
        if not saved.is_file():
            saved.write_bytes(pickle.dumps(make_run(hil_target, hil_device, hil_data, request.config)))
        made = pickle.loads(saved.read_bytes())
    if isinstance(made, hil.HilError):
        return made
    return hil.HilRun(hil_target, margins=MARGINS, **made)


def make_run(target: hil.Target, device: Device, data: list[Recording],
             config: pytest.Config) -> dict[str, Any] | hil.HilError:  # fmt: skip
    """The run's device answers (what HilRun is rebuilt from), or the HilError that stopped it."""
    try:
        with Link.open(device.url) as link:
            cpu = hil.process_cpu_clock(device.emulator.pid) if device.emulator is not None else None
            result = hil.run_hil(link, target, data, margins=MARGINS, device_cpu=cpu)
    except hil.HilError as exc:
        return exc
    board = config.getoption("--board")
    if board and result.info.board != board:
        return hil.HilError(f"{device.url} says it is a {result.info.board}, not the {board} of --board")
    report_dir = config.getoption("--hil-report")
    if report_dir:
        hil.write_report(result, data, Path(report_dir) / target.name)
    return {"info": result.info, "port": result.port, "runs": result.runs,
            "host_link": result.host_link, "device_link": result.device_link,
            "wall_seconds": result.wall_seconds, "devices": result.devices}  # fmt: skip


@pytest.fixture
def hil_result(hil_run: hil.HilRun | hil.HilError) -> hil.HilRun:
    """The run, or the test fails with the reason the run could not be made."""
    if isinstance(hil_run, hil.HilError):
        pytest.fail(str(hil_run), pytrace=False)
    return hil_run


@pytest.fixture
def needs_emulator(hil_device: Device) -> Device:
    """Tests that restart, rebuild or proxy the device: only on the emulator."""
    if hil_device.emulator is None:
        pytest.skip("needs the emulator (this run talks to a board on --port)")
    return hil_device


