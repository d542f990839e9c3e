"""The model card as types, and the one check of a model directory (repcount.learn.card).

Every command that reads a model trusts what these checks let through, so each test is a
way a card can lie about its .tflite, or be broken, and the one clear error it must give.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from repcount.data.recordings import Meta, Recording
from repcount.errors import UserError
from repcount.learn.card import ModelCard, ModelDir

REPO = Path(__file__).resolve().parents[1]
SHIPPED = sorted(p.parent for p in (REPO / "models").glob("*/card.json"))


@pytest.fixture
def model(tmp_path: Path) -> Path:
    """A copy of a shipped model directory to break."""
    out = tmp_path / "m"
    shutil.copytree(REPO / "models" / "jumprope-wrist", out)
    return out


def edit_card(model: Path, edit) -> None:
    card = json.loads((model / "card.json").read_text())
    edit(card)
    (model / "card.json").write_text(json.dumps(card, indent=2))


@pytest.mark.parametrize("directory", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_cards_load_and_write_back_byte_identical(directory: Path) -> None:
    text = (directory / "card.json").read_text(encoding="utf-8")
    card = ModelCard.load(directory / "card.json")
    assert card.to_json() == text
    opened = ModelDir.open(directory)
    assert opened.card == card and opened.tflite.model_hash == card.model_hash
    assert card.counting_params.take_count * card.counting_params.out_stride == card.hop


def test_typed_fields_are_what_the_pipeline_uses() -> None:
    card = ModelCard.load(REPO / "models" / "steps" / "card.json")
    assert (card.output.scale, card.output.zero_point) == (1 / 256, -128)
    assert card.input_quant.full_scale_g == card.full_scale_g == 8.0
    assert card.geometry.output_len == card.output_len
    assert card.training is not None and card.training.held_out_users == ("oxford-dario",)
    assert card.training.cv_users == ("oxford-jamie", "oxford-carmelo", "oxford-dario")
    jump = ModelCard.load(REPO / "models" / "jumprope-wrist" / "card.json")
    assert jump.training is not None and jump.training.cv_users is None  # absent, and written back absent


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c["counting"].pop("refractory"), r"card\.json: field counting\.refractory: missing$"),
        (lambda c: c.pop("model_hash"), r"card\.json: field model_hash: missing$"),
        (lambda c: c.pop("window"), r"card\.json: field window: missing$"),
        (lambda c: c.update(window="96"), r"field window: must be an integer, got \"96\""),
        (lambda c: c.update(window=True), r"field window: must be an integer, got true"),
        (lambda c: c["input"].update(scale=None), r"field input\.scale: must be a number, got null"),
        (lambda c: c.update(full_scale_g=3), r"field full_scale_g: must be one of 2, 4, 8, 16, got 3"),
        (lambda c: c.update(model_hash="deadbeef"), r"field model_hash: 'deadbeef' is not 16 lowercase hex"),
        (lambda c: c.update(hop=200), r"field hop: 200 exceeds the window of 96"),
        (lambda c: c["counting"].update(threshold=300), r"field counting\.threshold: must be an int8"),
        (lambda c: c["counting"].update(take_start=20), r"field counting\.take_start: .* does not fit"),
        (lambda c: c["output"].update(zero_point=-129), r"field output\.zero_point: must be an int8"),
        (lambda c: c["config"].update(epochz=3), r"field config\.epochz: unknown"),
        (lambda c: c["training"].update(train_users="u1"), r"field training\.train_users: must be a list"),
    ],
)
def test_a_wrong_or_missing_field_is_one_error_naming_file_and_field(model: Path, edit, message: str) -> None:
    edit_card(model, edit)
    with pytest.raises(UserError, match=message) as err:
        ModelCard.load(model / "card.json")
    assert str(err.value).startswith(str(model / "card.json"))
    assert "\n" not in str(err.value)


def test_another_models_tflite_under_a_card_is_refused(model: Path) -> None:
    shutil.copy(REPO / "models" / "steps" / "model.tflite", model / "model.tflite")
    with pytest.raises(
        UserError,
        match=r"field model_hash: 1b008a37b6c2e4fb is not the hash of .*model\.tflite "
        r"\(ca3c105c35787ea1\); the card belongs to another model",
    ):
        ModelDir.open(model)


def test_an_edited_full_scale_is_refused_against_the_tflites_input_quantisation(model: Path) -> None:
    edit_card(model, lambda c: c.update(full_scale_g=4.0))
    with pytest.raises(UserError, match=r"full_scale_g 4 do not match .*the card belongs to another model"):
        ModelDir.open(model)


def test_quantisation_and_geometry_must_be_the_tflites(model: Path) -> None:
    edit_card(model, lambda c: c["output"].update(scale=1 / 128))
    with pytest.raises(
        UserError, match=r"output scale/zero_point 0.0078125/-128 disagree with .*model\.tflite"
    ):
        ModelDir.open(model)
    edit_card(model, lambda c: c["output"].update(scale=1 / 256, zero_point=0))
    with pytest.raises(UserError, match=r"output scale/zero_point"):
        ModelDir.open(model)
    edit_card(model, lambda c: (c["output"].update(zero_point=-128), c.update(input_len=96)))
    with pytest.raises(
        UserError, match=r"input_len 96 and output_len 24 disagree with .*\(288 inputs, 24 outputs\)"
    ):
        ModelDir.open(model)


@pytest.mark.parametrize("size", [0, 7, 100, 4000])
def test_a_truncated_or_empty_tflite_is_refused(model: Path, size: int) -> None:
    data = (model / "model.tflite").read_bytes()
    (model / "model.tflite").write_bytes(data[:size])
    with pytest.raises(UserError, match=r"model\.tflite: not a TFLite flatbuffer"):
        ModelDir.open(model)


def test_a_directory_without_its_files_is_refused(tmp_path: Path, model: Path) -> None:
    with pytest.raises(UserError, match="no such model directory"):
        ModelDir.open(tmp_path / "nope")
    with pytest.raises(UserError, match=r"no card\.json; a model directory holds"):
        ModelDir.open(tmp_path)
    (model / "model.tflite").unlink()
    with pytest.raises(UserError, match=r"no model\.tflite"):
        ModelDir.open(model)


def test_a_recording_at_another_rate_is_refused_naming_both_rates(model: Path) -> None:
    opened = ModelDir.open(model)
    rec = Recording(
        Meta(100.0, 8.0, "wrist", "u1"), np.arange(10) / 100.0, np.zeros((10, 3)), path=Path("data/fast.rec")
    )
    with pytest.raises(
        UserError,
        match=r"data/fast\.rec: recorded at 100 Hz but the model runs at 50 Hz; resample it to 50 Hz first "
        r"\(model .*/m;",
    ):
        opened.check_recording(rec)
    opened.check_recording(Recording(Meta(50.0, 8.0, "wrist", "u1"), np.arange(10) / 50.0, np.zeros((10, 3))))
