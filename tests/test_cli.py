"""The command line stays fast and light: no TensorFlow on paths that do not train."""

from __future__ import annotations

import subprocess
import sys

import pytest
from repcount.cli import COMMANDS

HEAVY = ("tensorflow", "tf_keras", "tensorflow_model_optimization", "tflite_micro", "matplotlib", "scipy")


def _modules_loaded_by(args: list[str]) -> set[str]:
    code = (
        "import sys\n"
        "from repcount.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
        "print('MODULES:' + ' '.join(sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    # The help text itself may name a module ("the tflite_micro runtime"): read only our line.
    return set(out.rpartition("MODULES:")[2].split())


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_imports_nothing_heavy(command: str | None) -> None:
    args = ["--help"] if command is None else [command, "--help"]
    loaded = _modules_loaded_by(args)
    assert not [m for m in HEAVY if m in loaded], (
        f"`repcount {' '.join(args)}` imported {loaded & set(HEAVY)}"
    )


def test_every_command_has_a_teaching_help() -> None:
    for name in COMMANDS:
        out = subprocess.run(
            [sys.executable, "-m", "repcount.cli", name, "--help"], capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        assert "usage: repcount " + name in out.stdout
        assert "xample" in out.stdout, f"`repcount {name} --help` shows no example"


def test_no_command_prints_help_and_fails() -> None:
    out = subprocess.run([sys.executable, "-m", "repcount.cli"], capture_output=True, text=True)
    assert out.returncode == 2
    assert "simulate" in out.stdout
