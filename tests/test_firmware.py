"""`repcount firmware`: rendering every board x engine x model, and what it derives.

The models are converted with TensorFlow once per session (tests/firmware_models.py);
every shipped model under models/ is rendered too. What the renderer writes is checked
against the .tflite itself (bytes, hash, op list), never against the card's copy.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import firmware_models
import pytest
from repcount.commands import firmware as firmware_command
from repcount.errors import UserError
from repcount.firmware import boards, sizes
from repcount.firmware import render as firmware
from repcount.learn import tflite_model

HERE = Path(__file__).parent
REPO = HERE.parent
SHIPPED = sorted(p for p in (REPO / "models").glob("*") if (p / "card.json").is_file())
COMBOS = [(b, e) for b in boards.ids() for e in boards.load(b).engines]


@pytest.fixture(scope="session")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {
        "tiny": firmware_models.write_model_dir(root / "tiny", firmware_models.convert("sigmoid"), "tiny"),
        "tanh": firmware_models.write_model_dir(root / "tanh", firmware_models.convert("tanh"), "tanh"),
    }


def model_dirs(models: dict[str, Path]) -> list[Path]:
    return [models["tiny"], *SHIPPED]


def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    firmware_command.add_arguments(parser)
    return firmware_command.run(parser.parse_args(list(argv)))


@pytest.mark.parametrize("board_id,engine", COMBOS)
def test_every_board_and_engine_renders_every_model(models, tmp_path, board_id, engine):
    board = boards.load(board_id)
    for model_dir in model_dirs(models):
        out = tmp_path / model_dir.name
        project = firmware.render(model_dir, board_id, out, engine=engine)
        names = {str(p.relative_to(out)) for p in project.files}
        assert {"README.md", "src/rc_config.h", "src/rc_pipeline.c", "src/rc_pipeline.h",
                "src/rc_engine.h"} <= names
        assert ("platformio.ini" if board.build == "platformio" else "Makefile") in names
        assert ("src/rc_engine_tflm.cc" in names) == (engine == "tflm")
        assert ("src/rc_model_data.c" in names) == ("src/rc_model_data.h" in names) == (engine == "tflm")
        for path in project.files:
            assert path.is_file()
            text = path.read_text()
            assert "{{" not in text and "{%" not in text, path
        digest = hashlib.sha256((model_dir / "model.tflite").read_bytes()).hexdigest()[:16]
        assert f'#define RC_MODEL_HASH "{digest}"' in (out / "src" / "rc_config.h").read_text()


def test_platformio_project_declares_board_framework_tflm_and_imu_libraries(models, tmp_path):
    for board_id in ("nano33ble-sense-rev2", "xiao-nrf52840-sense", "m5stickc-plus"):
        board = boards.load(board_id)
        firmware.render(models["tiny"], board_id, tmp_path / board_id, engine="tflm")
        ini = (tmp_path / board_id / "platformio.ini").read_text()
        assert f"[env:{board_id}]" in ini
        assert f"board = {board.platformio['board']}" in ini
        assert f"framework = {board.platformio['framework']}" in ini
        for lib in [*board.platformio["lib_deps"], *board.platformio["tflm_lib_deps"]]:
            assert f"    {lib}\n" in ini
        readme = (tmp_path / board_id / "README.md").read_text()
        assert "pio run -t upload" in readme and "repcount hil" in readme
        glue = (tmp_path / board_id / "src" / "rc_board.cpp").read_text()
        assert "void setup()" in glue and "rc_arduino_setup()" in glue and "rc_arduino_loop()" in glue
        shared = (tmp_path / board_id / "src" / "rc_arduino.cpp").read_text()  # arduino-common
        assert "rc_app_init()" in shared and "rc_app_poll()" in shared
    # the native engine needs no TFLM package
    firmware.render(models["tiny"], "m5stickc-plus", tmp_path / "native", engine="native")
    ini = (tmp_path / "native" / "platformio.ini").read_text()
    assert "TensorFlowLite" not in ini and "m5stack/M5StickCPlus" in ini


def test_tflm_engine_resolver_is_exactly_the_models_ops(models, tmp_path):
    project = firmware.render(models["tiny"], "nano33ble-sense-rev2", tmp_path, engine="tflm")
    source = (tmp_path / "src" / "rc_engine_tflm.cc").read_text()
    ops = tflite_model.read(models["tiny"] / "model.tflite").op_names
    assert ops == ["CONV_2D", "DEPTHWISE_CONV_2D", "LOGISTIC", "RESHAPE"]
    assert re.search(r"constexpr int kOpCount = (\d+);", source).group(1) == str(len(ops))
    assert "tflite::MicroMutableOpResolver<kOpCount> g_resolver;" in source
    added = re.findall(r"g_resolver\.(Add\w+)\((.*)\) != kTfLiteOk", source)
    # int8-only kernels where TFLM has them (CMSIS-NN's smaller int8 path), the default otherwise
    assert added == [("AddConv2D", "tflite::Register_CONV_2D_INT8()"),
                     ("AddDepthwiseConv2D", "tflite::Register_DEPTHWISE_CONV_2D_INT8()"),
                     ("AddLogistic", ""), ("AddReshape", "")]
    assert project.context["model"]["ops"] == ops  # from the .tflite, not the card's "NOT_TRUSTED"
    # today's TFLM API only (tflm-int8.md): no error reporter, no all-ops resolver
    for removed in ("ErrorReporter", "AllOpsResolver", "MicroErrorReporter"):
        assert removed not in source
    for call in ("tflite::InitializeTarget()", "tflite::GetModel(g_rc_model_data)",
                 "TFLITE_SCHEMA_VERSION", ".AllocateTensors()", "arena_used_bytes()", "->Invoke()"):
        assert call in source
    assert source.count("alignas(16)") == 1 and "alignas(16) uint8_t g_arena[kArenaSize];" in source


@pytest.mark.parametrize("margin", [None, 0, 5000])
def test_tflm_arena_is_the_cards_measurement_plus_the_margin(models, tmp_path, margin):
    firmware.render(models["tiny"], "xiao-nrf52840-sense", tmp_path, engine="tflm", arena_margin=margin)
    source = (tmp_path / "src" / "rc_engine_tflm.cc").read_text()
    card = json.loads((models["tiny"] / "card.json").read_text())
    constant = {k: int(v) for k, v in re.findall(r"constexpr size_t (kArena\w+) = (\d+);", source)}
    expected_margin = max(1024, card["arena_bytes"] // 4) if margin is None else margin
    assert constant["kArenaMeasured"] == card["arena_bytes"]
    assert constant["kArenaMargin"] == expected_margin
    assert constant["kArenaSize"] == math.ceil((card["arena_bytes"] + expected_margin) / 16) * 16
    assert "AllocateTensors failed: arena %u bytes (measured %u + margin %u)" in source


def test_tflm_engine_needs_a_measured_arena(models, tmp_path):
    model = tmp_path / "m"
    shutil.copytree(models["tiny"], model)
    card = json.loads((model / "card.json").read_text())
    del card["arena_bytes"]
    (model / "card.json").write_text(json.dumps(card))
    with pytest.raises(UserError, match="no measured arena_bytes"):
        firmware.render(model, "nano33ble-sense-rev2", tmp_path / "out", engine="tflm")


@pytest.mark.parametrize("engine", ["tflm", "native"])
def test_unsupported_op_fails_at_generation_naming_it(models, tmp_path, engine):
    with pytest.raises(UserError) as err:
        firmware.render(models["tanh"], "m5stickc-plus", tmp_path, engine=engine)
    message = str(err.value)
    assert "TANH" in message and f"{engine!r} engine" in message
    assert str(models["tanh"] / "model.tflite") in message and "operator #" in message
    assert not (tmp_path / "src").exists()  # nothing half-rendered


def test_model_array_is_the_tflite_aligned_and_builds_as_c99(models, tmp_path):
    firmware.render(models["tiny"], "nano33ble-sense-rev2", tmp_path, engine="tflm")
    src = tmp_path / "src"
    exe = tmp_path / "dump"
    cc = shutil.which("cc")
    if cc is None:
        pytest.skip("needs a host C compiler")
    subprocess.run([cc, "-std=c99", "-Wall", "-Wextra", "-Werror", f"-I{src}", str(src / "rc_model_data.c"),
                    str(HERE / "c" / "core_model_data_main.c"), "-o", str(exe)], check=True)
    proc = subprocess.run([str(exe)], capture_output=True, check=True)
    data = (models["tiny"] / "model.tflite").read_bytes()
    assert proc.stdout == data  # the array is the file, byte for byte; main checks 16-byte alignment
    arm = shutil.which("arm-none-eabi-gcc")
    if arm:
        subprocess.run([arm, "-std=c99", "-Wall", "-Wextra", "-Werror", "-mcpu=cortex-m4", "-mthumb",
                        "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard", f"-I{src}", "-c",
                        str(src / "rc_model_data.c"), "-o", str(tmp_path / "model.o")], check=True)


def test_card_that_disagrees_with_the_model_is_refused(models, tmp_path):
    model = tmp_path / "m"
    shutil.copytree(models["tiny"], model)
    card = json.loads((model / "card.json").read_text())
    card["input"]["multiplier"] += 1
    (model / "card.json").write_text(json.dumps(card))
    with pytest.raises(UserError, match="do not match .*the card belongs to another model"):
        firmware.render(model, "host-linux", tmp_path / "out", engine="native")
    card["input"]["multiplier"] -= 1
    card["window"] = 40
    (model / "card.json").write_text(json.dumps(card))
    with pytest.raises(UserError, match="disagree with"):
        firmware.render(model, "host-linux", tmp_path / "out", engine="native")
    del card["counting"]
    (model / "card.json").write_text(json.dumps(card))
    with pytest.raises(UserError, match=r"card\.json: field counting: missing"):
        firmware.render(model, "host-linux", tmp_path / "out", engine="native")
    (model / "card.json").write_text("{not json")
    with pytest.raises(UserError, match="not valid JSON"):
        firmware.render(model, "host-linux", tmp_path / "out", engine="native")


def test_clear_errors_for_board_engine_and_model(models, tmp_path):
    with pytest.raises(UserError, match="unknown board 'uno'; choose one of .*nano33ble-sense-rev2"):
        firmware.render(models["tiny"], "uno", tmp_path)
    with pytest.raises(UserError, match="does not support the 'tflm' engine .*--engine native"):
        firmware.render(models["tiny"], "qemu-mps2-an386", tmp_path, engine="tflm")
    with pytest.raises(UserError, match="no such model directory"):
        firmware.render(tmp_path / "nope", "host-linux", tmp_path, engine="native")
    with pytest.raises(UserError, match="no card.json"):
        firmware.render(tmp_path, "host-linux", tmp_path / "out", engine="native")
    with pytest.raises(UserError, match="--arena-margin must be >= 0"):
        firmware.render(models["tiny"], "m5stickc-plus", tmp_path / "out", engine="tflm", arena_margin=-1)
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match="is a file; give a directory"):
        firmware.render(models["tiny"], "host-linux", tmp_path / "file", engine="native")
    with pytest.raises(UserError, match="no mount 'ankle'"):
        firmware.render(models["tiny"], "host-linux", tmp_path / "out", engine="native", mount="ankle")


def test_cli_defaults_to_the_boards_first_engine(models, tmp_path, capsys):
    out = tmp_path / "fw"
    assert cli("--model", str(models["tiny"]), "--board", "qemu-mps2-an386", "--out", str(out)) == 0
    printed = capsys.readouterr().out
    assert "qemu-mps2-an386 (native engine, wrist mount)" in printed
    assert f"next: cd {out} && make" in printed
    assert (out / "src" / "rc_engine_native.c").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fw"]  # no temporary directory left


def test_cli_refuses_an_existing_out_before_any_work(tmp_path):
    """--out is checked first: even a model that does not exist is not looked at yet."""
    (tmp_path / "fw").mkdir()
    with pytest.raises(UserError, match="--out .*fw: already exists; .* --force"):
        cli("--model", str(tmp_path / "no-model"), "--board", "host-linux", "--out", str(tmp_path / "fw"))
    (tmp_path / "file").write_text("mine")
    with pytest.raises(UserError, match="is a file; name a directory"):
        cli("--model", str(tmp_path / "no-model"), "--board", "host-linux", "--out", str(tmp_path / "file"),
            "--force")
    assert (tmp_path / "file").read_text() == "mine"


def test_cli_force_replaces_out_only_with_a_complete_project(models, tmp_path):
    out = tmp_path / "fw"
    (out / "src").mkdir(parents=True)
    (out / "src" / "old.c").write_text("int old;\n")
    with pytest.raises(UserError, match="TANH"):  # fails while rendering: the old project stays
        cli("--model", str(models["tanh"]), "--board", "host-linux", "--out", str(out), "--force")
    assert (out / "src" / "old.c").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fw"]
    assert cli("--model", str(models["tiny"]), "--board", "host-linux", "--out", str(out), "--force") == 0
    assert not (out / "src" / "old.c").exists() and (out / "src" / "rc_config.h").is_file()


def test_cli_json_reports_what_was_rendered(models, tmp_path, capsys):
    assert cli("--model", str(models["tiny"]), "--board", "nano33ble-sense-rev2", "--mount", "handle",
               "--out", str(tmp_path / "fw"), "--json") == 0
    info = json.loads(capsys.readouterr().out)
    data = (models["tiny"] / "model.tflite").read_bytes()
    assert info["engine"] == "tflm" and info["mount"] == "handle"
    assert info["model_hash"] == hashlib.sha256(data).hexdigest()[:16]
    assert info["tflite_bytes"] == len(data)
    card = json.loads((models["tiny"] / "card.json").read_text())
    assert info["card_arena_bytes"] == card["arena_bytes"]
    assert info["firmware_arena_bytes"] >= info["card_arena_bytes"]
    # measured again now in the tflite_micro runtime, not copied from the card
    assert info["tflm_arena_bytes"] == card["arena_bytes"]
    assert info["ops"] == ["CONV_2D", "DEPTHWISE_CONV_2D", "LOGISTIC", "RESHAPE"]
    assert "src/rc_board.cpp" in info["files"]
    # the Nano's library fixes the BMI270 at +-4 g, below what this model's input reaches
    assert firmware.input_reach_g(tflite_model.read(data)) > 8
    assert any("set to +-4 g but the model's input reaches +-8.00 g" in w for w in info["warnings"])
    assert "the model was trained for the wrist mount" in " ".join(info["warnings"])


def test_boards_are_data_with_usb_ids_for_guessing():
    assert set(boards.ids()) == {"qemu-mps2-an386", "host-linux", "nano33ble-sense-rev2",
                                 "xiao-nrf52840-sense", "m5stickc-plus"}
    assert boards.guess(0x2341, 0x805A).id == "nano33ble-sense-rev2"
    assert boards.guess(0x2886, 0x8045).id == "xiao-nrf52840-sense"
    assert boards.guess(0x1234, 0x5678) is None and boards.guess(None, None) is None
    for board_id in boards.ids():
        b = boards.load(board_id)
        assert b.imu.odr_hz > 0 and b.imu.full_scale_g in (2, 4, 8, 16)
        for mount in ("wrist", "handle"):
            r = b.remap(mount)
            assert sorted(r.index) == [0, 1, 2] and set(r.sign) <= {-1, 1}
    with pytest.raises(UserError, match="no mount 'ankle'"):
        boards.load("m5stickc-plus").remap("ankle")


def test_malformed_board_profile_is_reported_by_field():
    from repcount.firmware.boards import _parse

    profile = {"id": "x", "name": "x", "mcu": "x", "core": "x", "flash_bytes": 1, "ram_bytes": 1,
               "build": "make", "engines": ["native"], "usb_ids": [],
               "imu": {"chip": "c", "bus": "b", "odr_hz": 50, "full_scale_g": 8},
               "serial": {"transport": "t", "baud": 1}, "mounts": {"wrist": {"remap": ["+x", "+x", "+z"]}}}
    with pytest.raises(ValueError, match="signed permutation"):
        _parse(profile)
    profile["mounts"]["wrist"]["remap"] = ["+x", "-y", "+z"]
    assert _parse(profile).mounts["wrist"].sign == (1, -1, 1)
    with pytest.raises(ValueError, match="usb_ids"):
        _parse({**profile, "usb_ids": ["2341-805A"]})


@pytest.mark.parametrize("board_id,compiler",
                         [("host-linux", "cc"), ("qemu-mps2-an386", "arm-none-eabi-gcc")])
def test_makefile_projects_build_with_their_generated_makefile(models, tmp_path, board_id, compiler):
    if shutil.which(compiler) is None or shutil.which("make") is None:
        pytest.skip(f"needs make and {compiler} (make toolchain)")
    firmware.render(models["tiny"], board_id, tmp_path, engine="native")
    proc = subprocess.run(["make", "-C", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    built = tmp_path / "build" / ("firmware.elf" if board_id == "qemu-mps2-an386" else "repcount-device")
    assert built.is_file()


def test_json_warns_when_the_cards_arena_is_below_the_measurement(models, tmp_path, capsys):
    model = tmp_path / "m"
    shutil.copytree(models["tiny"], model)
    card = json.loads((model / "card.json").read_text())
    card["arena_bytes"] = 64
    (model / "card.json").write_text(json.dumps(card))
    assert cli("--model", str(model), "--board", "xiao-nrf52840-sense", "--arena-margin", "0",
               "--out", str(tmp_path / "out"), "--json") == 0
    info = json.loads(capsys.readouterr().out)
    assert info["firmware_arena_bytes"] == 64
    assert any("more than the 64 generated from the card" in w for w in info["warnings"])


def test_rendering_again_with_another_engine_leaves_no_stale_sources(models, tmp_path):
    firmware.render(models["tiny"], "m5stickc-plus", tmp_path, engine="tflm")
    assert (tmp_path / "src" / "rc_engine_tflm.cc").is_file()
    project = firmware.render(models["tiny"], "m5stickc-plus", tmp_path, engine="native")
    assert not (tmp_path / "src" / "rc_engine_tflm.cc").exists()
    assert not (tmp_path / "src" / "rc_model_data.c").exists()
    assert any("src/rc_engine_tflm.cc left by an earlier render" in w for w in project.warnings)
    in_src = sorted(p for p in project.files if p.parent.name == "src")
    assert sorted((tmp_path / "src").iterdir()) == in_src


def test_qemu_json_reports_flash_ram_and_instructions_from_the_generated_makefile(models, tmp_path, capsys):
    if shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None:
        pytest.skip("needs arm-none-eabi-gcc and qemu-system-arm (make toolchain)")
    assert cli("--model", str(models["tiny"]), "--board", "qemu-mps2-an386", "--out", str(tmp_path / "fw"),
               "--json") == 0
    info = json.loads(capsys.readouterr().out)
    assert info["warnings"] == []
    assert 0 < info["flash_bytes"] <= 32 * 1024 and info["ram_bytes"] > 0
    # the Makefile links the engine call through the board's instruction counter
    assert info["instructions_per_inference"] > 0 and info["instructions_per_second"] > 0
    assert isinstance(info["streaming"], bool) and info["why"]
    # the steady state, per second of signal, and per MAC the engine computes
    steady = info["instructions_per_inference"]
    assert info["instructions_per_second"] == round(steady * info["inferences_per_second"])
    assert info["instructions_per_mac"] == round(
        info["instructions_per_inference"] / info["macs_computed_per_inference"], 2
    )
    if info["streaming"]:  # the first inference computes the whole window
        assert info["instructions_first_inference"] > steady


@pytest.mark.parametrize("model_dir", SHIPPED, ids=lambda p: p.name)
def test_the_native_engine_streams_the_shipped_models_and_says_so(model_dir, tmp_path, capsys):
    """Streaming is the engine a device runs for hours: each shipped model gets it, and the
    command says whether the engine streams and what that saves."""
    assert cli("--model", str(model_dir), "--board", "m5stickc-plus", "--engine", "native",
               "--out", str(tmp_path / "fw")) == 0
    printed = capsys.readouterr().out
    assert re.search(r"streaming: yes: computes each layer's new steps only: [\d,]+ of [\d,]+ MACs", printed)
    engine = (tmp_path / "fw" / "src" / "rc_engine_native.c").read_text()
    assert "rc_stream(input);" in engine


def test_no_clipping_warning_when_the_imu_range_covers_the_models_input(models, tmp_path):
    project = firmware.render(models["tiny"], "xiao-nrf52840-sense", tmp_path, engine="tflm")  # +-8 g
    assert not any("clip" in w for w in project.warnings)
    for model_dir in SHIPPED:  # the shipped models' int8 input spans +-4 g: the Nano loses nothing
        reach = firmware.input_reach_g(tflite_model.read(model_dir / "model.tflite"))
        project = firmware.render(model_dir, "nano33ble-sense-rev2", tmp_path / model_dir.name, engine="tflm")
        assert any("clip" in w for w in project.warnings) == (reach > 4)


def test_a_model_of_mixed_placements_defaults_to_the_wrist_mount(models, tmp_path):
    model = tmp_path / "m"
    shutil.copytree(models["tiny"], model)
    card = json.loads((model / "card.json").read_text())
    card["mount"] = "mixed"  # like the steps model, trained on phones in pockets, bags, hands
    (model / "card.json").write_text(json.dumps(card))
    project = firmware.render(model, "xiao-nrf52840-sense", tmp_path / "out", engine="tflm")
    assert project.mount == "wrist" and not any("mount" in w for w in project.warnings)
    project = firmware.render(model, "xiao-nrf52840-sense", tmp_path / "out", engine="tflm", mount="handle")
    assert project.mount == "handle" and not any("mount" in w for w in project.warnings)


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="needs arm-none-eabi-gcc")
@pytest.mark.parametrize("missing", list(sizes.SERIAL_BUFFER_SYMBOLS))
def test_a_serial_buffer_missing_from_the_elf_is_an_error_naming_it(tmp_path, missing):
    """A renamed buffer must not silently count as 0 bytes (it would move into the RAM figure)."""
    source = tmp_path / "buffers.c"
    source.write_text("".join(
        f"unsigned char {name}[{8 * (i + 1)}];\n" if name != missing else ""
        for i, name in enumerate(sizes.SERIAL_BUFFER_SYMBOLS)
    ) + "int main(void) { return 0; }\n")
    elf = tmp_path / "buffers.elf"
    subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-fno-common", "--specs=nosys.specs",
                    str(source), "-o", str(elf)], check=True, capture_output=True, text=True)
    source_file = sizes.SERIAL_BUFFER_SYMBOLS[missing]
    with pytest.raises(UserError, match=rf"no static symbol '{missing}'.*{source_file}"):
        sizes.elf_sizes(elf)
    complete = tmp_path / "complete.c"
    complete.write_text(source.read_text() + f"unsigned char {missing}[100];\n")
    subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-fno-common", "--specs=nosys.specs",
                    str(complete), "-o", str(elf)], check=True, capture_output=True, text=True)
    expected = 100 + sum(8 * (i + 1) for i, n in enumerate(sizes.SERIAL_BUFFER_SYMBOLS) if n != missing)
    assert sizes.elf_sizes(elf)["serial_buffer_bytes"] == expected
