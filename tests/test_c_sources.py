"""Every C file of firmware_templates/ that is not generated compiles warning-free as it stands.

The portable core and the board glue are plain C in the repository, copied into a project
unchanged; only rc_config.h (and the protocol's constants) are generated. So each of those
files is compiled here straight from its repository path, not from a rendered copy, with
`-std=c99 -Wall -Wextra -Werror -pedantic` by the host compiler and by arm-none-eabi-gcc
for the Cortex-M4F, against an rc_config.h rendered by `repcount firmware` for a shipped
model (two boards: one whose IMU needs resampling and a remap with a negated axis, one
that needs neither). Headers are compiled on their own too, so each includes what it uses.

Not compiled here: the PlatformIO boards' C++ glue and its headers (they need the Arduino
core and the IMU libraries) and the generated files (the engines and the model data are built by
tests/test_firmware.py and the native engine's tests).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from repcount.firmware import render, templates

REPO = Path(__file__).parents[1]
MODEL = REPO / "models" / "jumprope-handle"
STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]
ARM = ["-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard", "-Os"]
COMPILERS = {"host": (shutil.which("cc") or shutil.which("gcc"), []),
             "arm": (shutil.which("arm-none-eabi-gcc"), ARM)}
# Board folders whose C runs only on one target: the emulated board's registers and
# start-up code on the Cortex-M4F, the Linux program on the host.
ONLY_ON = {"boards/qemu-mps2-an386": "arm", "boards/host-linux": "host"}
# (board, mount) whose rc_config.h each source is compiled against.
CONFIGS = [("xiao-nrf52840-sense", "handle"), ("qemu-mps2-an386", "wrist")]


def plain_c_sources() -> list[str]:
    """Every .c and .h under firmware_templates/ that is not a template (names relative to
    it), but for the headers of the Arduino glue: a folder with C++ sources is C++."""
    sources = [s for folder in ("core", "engines", "boards") for s in templates.sources_in(folder)]
    cpp_folders = {str(Path(s).parent) for s in sources if s.endswith(".cpp")}
    return [s for s in sources if s.endswith((".c", ".h")) and str(Path(s).parent) not in cpp_folders]


def test_the_sources_are_found_and_none_is_a_template():
    names = plain_c_sources()
    assert {"core/rc_app.c", "core/rc_pipeline.c", "core/rc_protocol.c", "core/rc_engine.h",
            "boards/qemu-mps2-an386/rc_board.c", "boards/host-linux/rc_board_linux.c"} <= set(names)
    for name in names:
        text = (templates.root() / name).read_text()
        assert "{{" not in text and "{%" not in text, f"{name} holds Jinja: name it .j2 or make it plain C"


@pytest.fixture(scope="module", params=CONFIGS, ids=[f"{b}-{m}" for b, m in CONFIGS])
def config_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding only the generated headers of a real render (no copied sources)."""
    board, mount = request.param
    work = tmp_path_factory.mktemp("render")
    project = render.render(MODEL, board, work / "project", engine="native", mount=mount)
    config = work / "config"
    config.mkdir()
    generated = [templates.output_name(s, "core") for s in templates.sources_in("core")
                 if s.endswith(".h.j2")]
    assert "rc_config.h" in generated
    for name in generated:
        shutil.copy(project.directory / "src" / name, config / name)
    return config


def _include_dirs(name: str, config: Path) -> list[str]:
    folder = (templates.root() / name).parent
    return [f"-I{folder}", f"-I{templates.root() / 'core'}", f"-I{config}"]


@pytest.mark.parametrize("target", list(COMPILERS))
def test_every_plain_c_file_compiles_warning_free_from_the_repository(config_dir: Path, tmp_path: Path,
                                                                        target: str) -> None:
    compiler, flags = COMPILERS[target]
    if compiler is None:
        pytest.skip(f"no {target} C compiler")
    failures = []
    for name in plain_c_sources():
        folder = str(Path(name).parent)
        if ONLY_ON.get(folder, target) != target:
            continue
        source = templates.root() / name
        if name.endswith(".h"):  # a header compiles on its own: it includes what it uses
            unit = tmp_path / f"{source.stem}_alone.c"
            unit.write_text(f'#include "{source.name}"\n')
            source = unit
        cmd = [compiler, *STRICT, *flags, *_include_dirs(name, config_dir), "-c", str(source),
               "-o", str(tmp_path / "unit.o")]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            failures.append(f"{name}:\n{result.stderr}")
    assert not failures, "\n".join(failures)


def test_a_warning_in_a_source_fails_the_check(config_dir: Path, tmp_path: Path) -> None:
    """The check can fail: an unused variable in a copy of rc_pipeline.c is an error."""
    compiler, flags = COMPILERS["host"]
    if compiler is None:
        pytest.skip("no host C compiler")
    broken = tmp_path / "rc_pipeline.c"
    text = (templates.root() / "core" / "rc_pipeline.c").read_text()
    start = "void rc_pipeline_reset(void)\n{\n"
    broken.write_text(text.replace(start, start + "    int unused;\n"))
    cmd = [compiler, *STRICT, *flags, *_include_dirs("core/rc_pipeline.c", config_dir), "-c", str(broken),
           "-o", str(tmp_path / "unit.o")]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode != 0 and "unused" in result.stderr
