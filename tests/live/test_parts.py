"""Several parts, like a band (issue 13, point 4): parsing, channels, and one stream playing them.

The session runs on a manual clock with the tiny random model (tests/live/test_live_session.py's
harness): what it may write is decided by masks, so the rules hold whatever the weights.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from livegen.cli import main
from livegen.errors import ConfigError
from livegen.live.clock import TICKS_PER_BEAT
from livegen.live.control import Control
from livegen.live.knobs import Knobs, parse_cc_table
from livegen.live.parts import (
    Part,
    PartMix,
    describe,
    parse_parts,
    part_channels,
    program_changes,
)
from livegen.tokenizer import DRUM_CHANNEL

from .test_live_session import drive, make_session, note_ons

BAND = "bass:33,drums,keys:1"


def test_a_band_is_roles_and_gm_programs() -> None:
    assert parse_parts(BAND) == (Part("bass", 33), Part("drums"), Part("keys", 1))
    assert parse_parts(" Bass:33 , ") == (Part("bass", 33),)
    assert parse_parts("") == ()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("bass:0", "not a GM program 1..128"),
        ("bass:129", "not a GM program 1..128"),
        ("drums:1", "take no program"),
        ("bass,bass:33", "named twice"),
        ("9bass", "ROLE or ROLE:PROGRAM"),
    ],
)
def test_a_bad_part_is_a_config_error_naming_it(text: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        parse_parts(text)


def test_a_bad_part_from_set_is_one_line(capsys) -> None:
    assert main(["serve", "--set", "parts=bass:200", "--seconds", "1"]) == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: --set parts=bass:200: "), lines


def test_drums_take_channel_10_and_the_rest_follow_the_output_channel() -> None:
    parts = parse_parts(BAND)
    assert part_channels(parts, 1) == {1: parts[0], 2: parts[2], DRUM_CHANNEL: parts[1]}
    assert part_channels(parts, 8) == {8: parts[0], DRUM_CHANNEL: parts[1], 10: parts[2]}
    assert part_channels((), 5) == {5: None}  # no band: the output channel, as before
    assert program_changes(part_channels(parts, 1)) == [[0xC1, 32], [0xC2, 0]]
    assert describe(part_channels(parts, 1)) == "bass ch2 #33 · keys ch3 #1 · drums ch10"
    assert describe(part_channels(parts, 1), {"drums": PartMix(muted=True)}).endswith("(muted)")
    assert describe(part_channels((), 1)) == ""  # no band, no row in the TUI


def _band_session(tiny_model_dir: Path):
    knobs = Knobs(mode="continue", output_channel=1, density=4.0)
    return make_session(tiny_model_dir, knobs, parts=parse_parts(BAND))


def test_the_band_plays_only_its_channels_each_with_its_instrument(tiny_model_dir: Path) -> None:
    session, daemon = _band_session(tiny_model_dir)
    drive(session, daemon, 16 * TICKS_PER_BEAT)
    sent = [s.message for s in daemon.scheduler.sent_log]
    ons = note_ons(daemon)
    assert ons, "the band played nothing"
    assert {channel for _, channel, _ in ons} <= {1, 2, DRUM_CHANNEL}
    assert len({channel for _, channel, _ in ons}) >= 2, "one part played alone"
    # program changes first, before any note
    assert sent[:2] == [(0xC1, 32), (0xC2, 0)]
    # a part's notes carry its program in the stream: the model hears what it plays
    for channel, program in ((1, 32), (2, 0)):
        if any(c == channel for _, c, _ in ons):
            assert session.decoder.programs.get(channel) == program


def test_a_muted_part_goes_quiet_and_the_others_play_on(tiny_model_dir: Path) -> None:
    session, daemon = _band_session(tiny_model_dir)
    drive(session, daemon, 4 * TICKS_PER_BEAT)
    mute_tick = round(daemon.tick())
    assert any(c == DRUM_CHANNEL for _, c, _ in note_ons(daemon)), "no drums to mute"
    daemon.control.set_part("drums", muted=True)
    drive(session, daemon, 20 * TICKS_PER_BEAT)
    later = [(t, c) for t, c, _ in note_ons(daemon) if t > mute_tick]
    assert later, "nothing played after the mute"
    assert all(channel != DRUM_CHANNEL for _, channel in later)
    daemon.control.set_part("bass", muted=False, density=2.0)
    assert daemon.control.part_mix["bass"].density == 2.0
    with pytest.raises(ConfigError, match="density"):
        daemon.control.set_part("bass", density=9)


def test_controllers_mute_a_part_and_sweep_its_density() -> None:
    bindings = parse_cc_table({"20": "mute:drums", "21": "density:bass"}, "serve.toml [cc]")
    control = Control()
    control.cc_bindings = bindings
    assert control.handle_cc(20, 127) == "mute:drums"
    assert control.part_mix["drums"].muted
    control.handle_cc(20, 0)
    assert not control.part_mix["drums"].muted
    control.handle_cc(21, 127)  # the density knob's controller sweep, 0..2
    assert control.part_mix["bass"].density == pytest.approx(2.0)
    with pytest.raises(ConfigError, match="mute:ROLE / density:ROLE"):
        parse_cc_table({"20": "loud:drums"}, "serve.toml [cc]")
