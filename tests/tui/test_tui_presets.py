"""Presets: knobs and CC bindings round-trip through configs/serve/*.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from livegen.config import read_toml
from livegen.errors import ConfigError
from livegen.live.control import Control
from livegen.live.knobs import Knobs
from livegen.tui.presets import (
    Preset,
    apply_preset,
    list_presets,
    load_preset,
    preset_path,
    save_preset,
)

SHIPPED = sorted((Path(__file__).parents[2] / "configs" / "serve").glob("*.toml"))


def test_knobs_and_bindings_round_trip(tmp_path):
    knobs = Knobs(temperature=1.3, top_k=12, mode="call", key_lock="A minor", output_channel=9)
    path = save_preset(tmp_path / "jam.toml", knobs, {21: "temperature", 1: "density"})
    assert load_preset(path) == Preset(knobs, {21: "temperature", 1: "density"})


def test_saving_into_a_serve_config_keeps_its_other_tables(tmp_path):
    path = tmp_path / "live.toml"
    path.write_text('clock = "external"\n\n[timing]\nlate_ms = 3.0\n\n[cc]\n7 = "bpm"\n')
    save_preset(path, Knobs(bpm=90.0), {74: "top_p"})
    data = read_toml(path)
    assert data["clock"] == "external"
    assert data["timing"] == {"late_ms": 3.0}
    assert data["cc"] == {"74": "top_p"}  # bindings are replaced, not merged
    assert data["knobs"]["bpm"] == 90.0


def test_a_saved_preset_is_a_valid_serve_config(tmp_path):
    serve_config = pytest.importorskip("livegen.live.serve_config")
    path = save_preset(tmp_path / "jam.toml", Knobs(density=0.5), {71: "density"})
    config = serve_config.load_serve_config(str(path))
    assert config.knobs == Knobs(density=0.5)
    assert config.cc == ((71, "density"),)


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_serve_configs_load_as_presets(path):
    preset = load_preset(path)
    assert isinstance(preset.knobs, Knobs)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[knobs]\nwarmth = 1.0\n", "unknown key 'warmth'"),
        ("[knobs]\ntemperature = 9.0\n", "temperature 9.0 not in"),
        ('[cc]\n200 = "density"\n', "controller '200' is not a number 0..127"),
        ('[cc]\n7 = "mode"\n', "7 -> 'mode'; knobs a controller can move"),
    ],
)
def test_bad_presets_are_config_errors_naming_the_file(tmp_path, text, match):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match) as err:
        load_preset(path)
    assert "bad.toml" in str(err.value)


def test_preset_names_cannot_leave_the_folder(tmp_path):
    assert preset_path(tmp_path, "jam") == tmp_path / "jam.toml"
    assert preset_path(tmp_path, "jam.toml") == tmp_path / "jam.toml"
    for name in ("../etc/x", "", "a b", "/abs"):
        with pytest.raises(ConfigError, match="not allowed"):
            preset_path(tmp_path, name)


def test_list_presets_sorted_and_missing_folder_empty(tmp_path):
    assert list_presets(tmp_path / "nope") == []
    for name in ("b", "a"):
        save_preset(tmp_path / f"{name}.toml", Knobs(), {})
    assert list_presets(tmp_path) == ["a", "b"]


def test_apply_swaps_knobs_and_bindings():
    control = Control()
    apply_preset(control, Preset(Knobs(top_p=0.5), {3: "bpm"}))
    assert control.knobs == Knobs(top_p=0.5)
    assert control.cc_bindings == {3: "bpm"}
