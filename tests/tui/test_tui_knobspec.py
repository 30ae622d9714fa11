"""Knob stepping, typing and display: what ←/→ and ⏎ do to each knob."""

from __future__ import annotations

import dataclasses

import pytest

from livegen.errors import ConfigError
from livegen.live.knobs import Knobs
from livegen.tui.knobspec import (
    KEY_LOCK_CHOICES,
    KNOB_SPECS,
    format_value,
    gauge_fraction,
    parse_value,
    stepped,
)


def test_every_knob_field_has_exactly_one_spec_in_field_order():
    assert [spec.name for spec in KNOB_SPECS] == [f.name for f in dataclasses.fields(Knobs)]


@pytest.mark.parametrize(
    ("name", "steps", "coarse", "expected"),
    [
        ("temperature", -3, False, 0.75),  # 0.9 - 3 * 0.05, without float fuzz
        ("temperature", 1, True, 1.15),
        ("top_k", 1, False, 1),
        ("top_k", 2, True, 20),
        ("top_p", -1, False, 0.94),
        ("answer_bars", 1, True, 6),
        ("transpose", -1, True, -12),
        ("output_channel", 1, False, 2),
        ("bpm", -1, True, 110.0),
    ],
)
def test_numeric_knobs_step_fine_or_coarse(name, steps, coarse, expected):
    change = stepped(Knobs(), name, steps, coarse=coarse)
    assert change == {name: expected}
    assert type(change[name]) is type(getattr(Knobs(), name))


def test_stepping_past_the_range_is_left_to_knobs_to_reject():
    change = stepped(Knobs(temperature=0.0), "temperature", -1)
    with pytest.raises(ConfigError, match="temperature"):
        Knobs(**change)


def test_choice_knobs_cycle_and_wrap():
    assert stepped(Knobs(mode="call"), "mode", -1) == {"mode": "continue"}
    assert stepped(Knobs(mode="continue"), "mode", 1) == {"mode": "call"}
    assert stepped(Knobs(), "key_lock", 1) == {"key_lock": "C major"}
    assert stepped(Knobs(), "key_lock", -1) == {"key_lock": KEY_LOCK_CHOICES[-1]}


@pytest.mark.parametrize(
    ("name", "text", "value"),
    [
        ("temperature", " 1.25 ", 1.25),
        ("top_k", "off", 0),
        ("top_k", "40", 40),
        ("output_channel", "16", 15),  # typed as musicians count, stored 0-based
        ("transpose", "-7", -7),
        ("key_lock", "f#   minor", "F# minor"),
        ("key_lock", "off", ""),
        ("key_lock", "Bb", "A# major"),
        ("key_lock", "Db min", "C# minor"),
        ("key_lock", "am", "A minor"),
        ("mode", "call", "call"),
    ],
)
def test_typed_values_are_parsed(name, text, value):
    assert parse_value(name, text) == value


@pytest.mark.parametrize(
    ("name", "text", "match"),
    [
        ("temperature", "hot", "not a number"),
        ("temperature", "nan", "not a finite number"),
        ("answer_bars", "2.5", "not a whole number"),
        ("key_lock", "H major", "key lock 'H major' not understood"),
        ("volume", "1", "unknown knob 'volume'"),
    ],
)
def test_typed_nonsense_is_a_config_error_naming_the_knob(name, text, match):
    with pytest.raises(ConfigError, match=match):
        parse_value(name, text)


def test_values_are_shown_as_a_musician_reads_them():
    assert format_value("output_channel", 0) == "ch 1"
    assert format_value("top_k", 0) == "off"
    assert format_value("transpose", 5) == "+5 st"
    assert format_value("key_lock", "") == "off"
    assert format_value("temperature", 0.9) == "0.90"


def test_gauge_follows_the_controller_range_and_clamps():
    assert gauge_fraction("temperature", 0.1) == 0.0
    assert gauge_fraction("temperature", 2.0) == 1.0
    assert gauge_fraction("temperature", 3.0) == 1.0
    assert gauge_fraction("mode", "call") is None
