"""`pip install .` (not only the editable install) carries the templates, boards and models."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_carries_templates_boards_data_and_shipped_models(tmp_path: Path) -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    src = tmp_path / "src"
    for name in tracked:
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, src / name)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path / "dist"),
            str(src),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("repcount-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        "repcount/learn/tasks.toml",
        "repcount/firmware/engines.toml",
        "repcount/firmware/boards/qemu-mps2-an386.toml",
        "repcount/firmware_templates/core/rc_app.c",
        "repcount/firmware_templates/core/rc_config.h.j2",
        "repcount/firmware_templates/engines/native/rc_engine_native.c.j2",
        "repcount/firmware_templates/boards/qemu-mps2-an386/link.ld.j2",
    }
    for model in ("jumprope-wrist", "jumprope-handle", "steps"):
        expected |= {f"repcount/models/{model}/{f}" for f in ("model.tflite", "card.json", "float.keras")}
    assert expected <= names, sorted(expected - names)
    assert any(n.endswith("entry_points.txt") for n in names)
