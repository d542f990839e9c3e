"""Every ordinary bad input of issue 17, through the real command line, in one table.

docs/cli.md promises that bad input (a malformed file, a wrong flag, an output path that
cannot be written, a model directory whose parts disagree) ends with exit 2 and one line
on stderr that says what was wrong, never a Python traceback; under `--json` stdout is
one JSON object with an `error` field. Each row below is one input a user met a
traceback (or a silent wrong result) with; the per-command test files check the wording,
this file checks that the contract holds for all of them at once. None needs a device:
where a command takes a port, a port that does not exist shows the check comes first.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from counting_data import impacts_recording
from repcount.data.recordings import Recording, save
from repcount.learn.tflite_model import model_hash

REPO = Path(__file__).resolve().parents[1]
NO_PORT = "/dev/repcount-no-such-port"
# Commands that take --json (docs/cli.md: every command that measures, and capture).
JSON_COMMANDS = {"simulate", "import", "show", "train", "evaluate", "firmware", "capture"}


def _model_copy(root: Path, name: str, damage: Callable[[Path], object]) -> None:
    """A copy of the shipped wrist model (card and .tflite) under `root/name`, damaged."""
    out = root / name
    out.mkdir()
    for part in ("card.json", "model.tflite"):
        shutil.copy(REPO / "models" / "jumprope-wrist" / part, out / part)
    damage(out)


def _edit_card(model: Path, edit: Callable[[dict], object]) -> None:
    card = json.loads((model / "card.json").read_text())
    edit(card)
    (model / "card.json").write_text(json.dumps(card, indent=2))


def _cut_tflite(size: int) -> Callable[[Path], None]:
    def cut(model: Path) -> None:
        tfl = model / "model.tflite"
        tfl.write_bytes(tfl.read_bytes()[:size])
    return cut


def _other_shape(model: Path) -> None:
    """The steps model's .tflite, with the card's hash made to match it: only the check of
    the card's geometry against the .tflite's can refuse it."""
    other = (REPO / "models" / "steps" / "model.tflite").read_bytes()
    (model / "model.tflite").write_bytes(other)
    _edit_card(model, lambda c: c.update(model_hash=model_hash(other)))


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The inputs every case refers to as {root}/...; none is written by a refused command."""
    root = tmp_path_factory.mktemp("bad-input")
    save(impacts_recording("u1", 40.0, 0.45, seed=1), root / "data" / "u1.rec")
    rec = impacts_recording("u2", 2.0, 0.45, seed=2)
    save(Recording(rec.meta, rec.t[:1], rec.acc[:1], None, [], []), root / "one" / "one.rec")
    (root / "taken.rec").write_bytes(b"precious")
    (root / "taken.png").write_bytes(b"precious")
    (root / "dir.rec").mkdir()
    (root / "plots").mkdir()
    (root / "plots" / "u1.png").write_bytes(b"precious")
    (root / "holds").mkdir()
    (root / "holds" / "in.rec").write_bytes(b"precious")
    (root / "firmware").mkdir()
    (root / "in.csv").write_text("t,ax,ay,az\n0,0,0,1\n0.02,0,0,1\n0.04,0,0,1\n")
    _model_copy(root, "no-hash", lambda m: _edit_card(m, lambda c: c.pop("model_hash")))
    _model_copy(root, "no-window", lambda m: _edit_card(m, lambda c: c.pop("window")))
    _model_copy(root, "empty", _cut_tflite(0))
    _model_copy(root, "truncated", _cut_tflite(5000))
    _model_copy(root, "other-shape", _other_shape)
    _model_copy(root, "good", lambda m: None)
    return root


MODEL = "--model {root}/good --board host-linux"
CAPTURE = f"--port {NO_PORT} --activity jump-rope --user u01 --mount wrist"
CSV = "{root}/in.csv --columns t=t,ax=ax,ay=ay,az=az"
EVAL = "--data {root}/data --no-float"
TRAIN = "--task jump-rope --data {root}/data --out {root}/new-model"

# (id, command, arguments after it, what the error line says). {root} is the fixture's
# folder; arguments are split on spaces, except the few that hold spaces or line breaks
# themselves (tuples).
CASES: list[tuple[str, str, str | tuple[str, ...], str]] = [
    # 10: a model directory whose card or .tflite is damaged
    ("evaluate-card-without-model-hash", "evaluate", "--model {root}/no-hash " + EVAL,
     "no-hash/card.json: field model_hash: missing"),
    ("evaluate-card-without-window", "evaluate", "--model {root}/no-window " + EVAL,
     "no-window/card.json: field window: missing"),
    ("evaluate-empty-tflite", "evaluate", "--model {root}/empty " + EVAL,
     "empty/model.tflite: not a TFLite flatbuffer"),
    ("evaluate-truncated-tflite", "evaluate", "--model {root}/truncated " + EVAL,
     "truncated/model.tflite: not a TFLite flatbuffer"),
    ("evaluate-wrong-shape-tflite", "evaluate", "--model {root}/other-shape " + EVAL,
     "with full_scale_g 8 do not match"),
    # 10: outputs onto a file, a directory, or a path under a regular file
    ("simulate-out-file", "simulate", "--users 1 --minutes 0.25 --out {root}/taken.png",
     "taken.png: is a file"),
    ("simulate-out-dir-with-files", "simulate", "--users 1 --minutes 0.25 --out {root}/data",
     "already holds files"),
    ("simulate-out-under-file", "simulate", "--users 1 --minutes 0.25 --out {root}/taken.png/sim",
     "taken.png is a file, not a directory"),
    ("firmware-out-file", "firmware", MODEL + " --out {root}/taken.png", "taken.png: is a file"),
    ("firmware-out-dir", "firmware", MODEL + " --out {root}/firmware", "firmware: already exists"),
    ("firmware-out-under-file", "firmware", MODEL + " --out {root}/taken.png/fw",
     "taken.png is a file, not a directory"),
    ("capture-out-file", "capture", CAPTURE + " --out {root}/taken.rec", "taken.rec: already exists"),
    ("capture-out-dir", "capture", CAPTURE + " --out {root}/dir.rec", "dir.rec: is a directory"),
    ("capture-out-under-file", "capture", CAPTURE + " --out {root}/taken.rec/x.rec",
     "taken.rec is a file, not a directory"),
    ("import-csv-out-file", "import", "csv " + CSV + " --out {root}/taken.png", "taken.png: is a file"),
    ("import-csv-out-dir-holding-it", "import", "csv " + CSV + " --out {root}/holds",
     "in.rec: already exists"),
    ("import-csv-out-under-file", "import", "csv " + CSV + " --out {root}/taken.png/csv",
     "taken.png is a file, not a directory"),
    ("show-plot-file", "show", "{root}/data/u1.rec --plot {root}/taken.png",
     "taken.png: already exists"),
    ("show-plot-dir-holding-it", "show", "{root}/data/u1.rec --plot {root}/plots",
     "u1.png: already exists"),
    ("show-plot-under-file", "show", "{root}/data/u1.rec --plot {root}/taken.png/u1.png",
     "taken.png is a file, not a directory"),
    ("evaluate-plot-file", "evaluate", "--model {root}/good " + EVAL + " --plot {root}/taken.png",
     "taken.png: is a file"),
    ("evaluate-plot-dir", "evaluate", "--model {root}/good " + EVAL + " --plot {root}/plots",
     "plots: already exists"),
    ("evaluate-plot-under-file", "evaluate", "--model {root}/good " + EVAL + " --plot {root}/taken.png/p",
     "taken.png is a file, not a directory"),
    # 10: emulate's port and timeout
    ("emulate-port-99999", "emulate", "--firmware {root}/firmware --port 99999",
     "--port 99999: not a TCP port"),
    ("emulate-timeout-negative", "emulate", "--firmware {root}/firmware --timeout -1",
     "--timeout -1: must be a number of seconds above 0"),
    # 9: train's numbers
    ("train-epochs-0", "train", TRAIN + " --epochs 0", "--epochs 0: must be at least 1"),
    ("train-epochs-negative", "train", TRAIN + " --epochs -1", "--epochs -1: must be at least 1"),
    ("train-train-stride-0", "train", TRAIN + " --train-stride 0",
     "--train-stride 0: must be at least 1"),
    ("train-rotations-negative", "train", TRAIN + " --rotations -2",
     "--rotations -2: must be at least 0"),
    # 6: capture arguments that would write a file its loader rejects or misreads
    ("capture-activity-comma", "capture",
     (*f"--port {NO_PORT} --out {{root}}/new.rec --user u01 --mount wrist".split(),
      "--activity", "jump,rope"),
     "--activity 'jump,rope'"),
    ("capture-full-scale-negative", "capture", CAPTURE + " --out {root}/new.rec --line-mode --full-scale -8",
     "--full-scale -8"),
    ("capture-full-scale-0", "capture", CAPTURE + " --out {root}/new.rec --line-mode --full-scale 0",
     "--full-scale 0"),
    ("capture-user-injects-metadata", "capture",
     (*f"--port {NO_PORT} --out {{root}}/new.rec --activity jump-rope --mount wrist".split(),
      "--user", "me\n# mount: bag"), "must be one line"),
    # a wrong flag, and a flag's value of the wrong type
    ("show-unknown-flag", "show", "{root}/data/u1.rec --bogus", "unrecognized arguments: --bogus"),
    ("train-epochs-not-a-number", "train", TRAIN + " --epochs many", "invalid int value: 'many'"),
]


def _argv(root: Path, args: str | tuple[str, ...]) -> list[str]:
    parts = args.split() if isinstance(args, str) else args
    return [a.replace("{root}", str(root)) for a in parts]


def _cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "repcount.cli", *argv], capture_output=True, text=True,
                          timeout=300, stdin=subprocess.DEVNULL)


def _error_line(stderr: str, command: str) -> str:
    """The one error line, naming the command: argparse's own refusals (a wrong flag or
    value) too, with no usage block."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    error = lines[0]
    assert error.startswith(f"repcount {command}: error: "), stderr
    assert len(error) > len(f"repcount {command}: error: ") + 10, stderr
    return error


@pytest.mark.parametrize(("command", "args", "said"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_line_and_exit_2(
    root: Path, command: str, args: str | tuple[str, ...], said: str
) -> None:
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    argv = [command, *_argv(root, args)]
    json_too = command in JSON_COMMANDS
    proc = _cli(*argv, *(["--json"] if json_too else []))
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    error = _error_line(proc.stderr, command)
    assert said in error, error
    if json_too:
        obj = json.loads(proc.stdout)  # exactly one JSON object, nothing else on stdout
        assert set(obj) == {"error", "exit_code"} and obj["exit_code"] == 2
        assert obj["error"] and obj["error"] in error
    else:
        assert proc.stdout == ""
    # Refused before anything was written, and nothing the user had was touched.
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before
    assert (root / "taken.png").read_bytes() == b"precious"
    assert (root / "taken.rec").read_bytes() == b"precious"


def test_show_of_a_one_sample_recording_prints_what_it_holds(root: Path) -> None:
    """Issue 17.10: a traceback once; one sample is a valid, if useless, recording."""
    proc = _cli("show", str(root / "one" / "one.rec"))
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "one.rec" in proc.stdout
    obj = json.loads(_cli("show", str(root / "one" / "one.rec"), "--json").stdout)
    assert obj["recordings"][0]["samples"] == 1
    assert np.isfinite(obj["recordings"][0]["duration_s"])
