"""Each knob is declared once: the specs, the Knobs fields and the controller table agree."""

from __future__ import annotations

import pytest

from livegen.errors import ConfigError
from livegen.live.control import Control
from livegen.live.knobs import CC_RANGES, KNOB_NAMES, KNOB_SPECS, Knobs, cc_to_value


def test_every_knob_has_exactly_one_spec_in_field_order() -> None:
    assert tuple(spec.name for spec in KNOB_SPECS) == KNOB_NAMES


def test_a_controller_sweeps_inside_the_valid_range() -> None:
    for name, (low, high) in CC_RANGES.items():
        Knobs(**{name: cc_to_value(name, 0)})
        Knobs(**{name: cc_to_value(name, 127)})
        assert low < high


def test_temperature_zero_is_greedy_and_valid() -> None:
    assert Knobs(temperature=0).temperature == 0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"temperature": 3.5}, r"temperature 3.5 not in 0..3 \(0 = greedy\)"),
        ({"top_p": 0.0}, r"top_p 0.0 not in \(0, 1\]"),
        ({"mode": "jam"}, "mode 'jam' not one of call, accompany, continue"),
        ({"bpm": 10.0}, "bpm 10.0 not in 20..400"),
        ({"key_lock": "H major"}, "key lock 'H major' not understood"),
    ],
)
def test_a_bad_knob_is_one_config_error(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Knobs(**changes)


def test_the_model_is_chosen_at_start_and_offered_as_no_live_knob() -> None:
    """Issue 13, point 4: the `model` knob loads a new model live or is not offered; it is not
    (serve --model / the config's model picks it at start), so nothing may turn it live."""
    assert "model" not in KNOB_NAMES and "model" not in CC_RANGES
    with pytest.raises(ConfigError, match="unknown knob 'model'"):
        Control().set(model="other")
