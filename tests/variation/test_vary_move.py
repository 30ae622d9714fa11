"""The live vary move without MIDI ports: which bars are varied, where the variation lands, and
that the scheduler plays it through re-plans and ends it on silence. Real smoke-trained models,
a manual clock and the real scheduler."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from livegen.errors import ConfigError, ModelLoadError
from livegen.live.clock import TICKS_PER_BEAT, ManualClock
from livegen.live.scheduler import Scheduler
from livegen.live.serve_config import VaryConfig, load_serve_config
from livegen.live.vary_move import (
    LEAD_TICKS,
    PlayerHistory,
    VaryMove,
    first_start,
    looped_rows,
    source_span,
    varied_notes,
)
from livegen.music.midi import ALL_NOTES_OFF
from livegen.tokenizer import read_midi
from livegen.variation.model import VariationModel
from livegen.variation.notes import GAP, PITCH

BAR = 4 * TICKS_PER_BEAT
MIDI_DIR = Path(os.environ["LIVEGEN_TESTDATA"]).resolve() / "midi"


@pytest.mark.parametrize(
    ("now_beats", "bars", "span_bars"),
    [
        (3.9, 1, (0, 1)),  # at the end of bar 1: bar 1
        (4.5, 1, (0, 1)),  # just after the bar line: still the bar just finished
        (6.5, 1, (1, 2)),  # past half of bar 2: bar 2, played so far
        (7.9, 2, (0, 2)),
        (3.9, 2, (0, 1)),  # not two bars played yet: from the start
        (0.2, 1, (0, 1)),  # before any bar is finished: bar 1
    ],
)
def test_the_source_is_the_bars_ending_on_the_nearest_bar_line(now_beats, bars, span_bars) -> None:
    span = source_span(now_beats * TICKS_PER_BEAT, BAR, bars)
    assert span == (span_bars[0] * BAR, span_bars[1] * BAR)


def test_the_variation_starts_on_the_first_bar_line_still_ahead() -> None:
    assert first_start(BAR, BAR - 2 * LEAD_TICKS, BAR) == BAR
    assert first_start(BAR, BAR - LEAD_TICKS // 2, BAR) == 2 * BAR  # too close: the next one
    assert first_start(BAR, BAR + 10, BAR) == 2 * BAR


def test_fewer_notes_than_a_window_are_looped_like_a_looper() -> None:
    notes = [n for n in read_midi(MIDI_DIR / "piano_bach_score.mid").notes if n.start_beat < 4][:3]
    span_beats = 4.0
    rows = looped_rows(notes, 0.0, span_beats, 8)
    assert rows.shape == (1, 8, 4)
    assert list(rows[0, :, PITCH]) == ([n.pitch for n in notes] * 3)[:8]
    wrap_gap = span_beats - notes[2].start_beat + notes[0].start_beat
    assert rows[0, 3, GAP] == pytest.approx(wrap_gap)


def test_the_history_pairs_offs_with_ons_and_ends_held_notes_now() -> None:
    history = PlayerHistory()
    history.hear(0.0, 0, 60, 100)
    history.hear(12.0, 0, 60, 0)
    history.hear(24.0, 0, 64, 90)  # still held
    history.hear(100.0, 0, 67, 80)  # outside the span
    notes = history.notes_in(0, BAR, now_tick=48.0)
    assert [(n.pitch, n.start_beat, n.end_beat) for n in notes] == [(60, 0.0, 0.5), (64, 1.0, 2.0)]


@pytest.mark.parametrize("kind", ["vae", "ddpm"])
def test_a_varied_bar_stays_inside_its_span(kind: str, variation_model_dir) -> None:
    model = VariationModel.load(variation_model_dir(kind))
    notes = [n for n in read_midi(MIDI_DIR / "piano_bach_score.mid").notes if n.start_beat < 8]
    notes = [n for n in notes if n.start_beat >= 4]
    config = VaryConfig(strength=0.5, keep_rhythm=False)
    varied = varied_notes(model, notes, (BAR, 2 * BAR), config, seed=1)
    assert 0 < len(varied) <= len(notes)
    assert all(4.0 <= n.start_beat < 8.0 and n.end_beat <= 8.0 for n in varied)
    assert [n.pitch for n in varied] != [n.pitch for n in notes]


@pytest.mark.parametrize("kind", ["vae", "ddpm"])
def test_keeping_the_rhythm_varies_only_pitches_and_velocities(kind, variation_model_dir) -> None:
    model = VariationModel.load(variation_model_dir(kind))
    notes = [n for n in read_midi(MIDI_DIR / "piano_bach_score.mid").notes if n.start_beat < 4]
    varied = varied_notes(model, notes, (0, BAR), VaryConfig(strength=0.5), seed=1)
    times = [t for n in varied for t in (n.start_beat, n.end_beat)]
    assert times == pytest.approx(
        [t for n in notes for t in (n.start_beat, min(n.end_beat, 4.0))], abs=1e-5
    )
    assert [n.pitch for n in varied] != [n.pitch for n in notes]


def _played_bar(move: VaryMove) -> list[int]:
    """The player's bar 1 (quarter notes), as the daemon's input thread reports it."""
    pitches = [60, 62, 64, 65, 67, 65, 64, 62]
    for i, pitch in enumerate(pitches):
        move.history.hear(i * TICKS_PER_BEAT / 2, 0, pitch, 100)
        move.history.hear(i * TICKS_PER_BEAT / 2 + 10, 0, pitch, 0)
    return pitches


def test_the_variation_plays_from_the_next_bar_through_replans_and_stops_on_silence(
    variation_model_dir,
) -> None:
    clock = ManualClock(bpm=120)
    sent: list[list[int]] = []
    scheduler = Scheduler(sent.append, clock)
    clock.start()
    move = VaryMove(VaryConfig(), VariationModel.load(variation_model_dir("vae")), seed=3)
    _played_bar(move)
    clock.advance_ticks(BAR - 6)
    outcome = move.play(clock.position_ticks, scheduler, channel=5)
    assert outcome.start_tick == BAR and outcome.notes > 0
    assert "from bar 2" in outcome.message
    scheduler.cancel_from(0)  # the performer re-plans on every player note
    scheduler.cut(BAR, 5)
    for _ in range(BAR + 7):  # up to and with the next bar line, where the last ones end
        scheduler.pump(clock.now_ns())
        clock.advance_ticks(1)
    on_ticks = [s.tick for s in scheduler.sent_log if s.message[0] == 0x95 and s.message[2]]
    assert len(on_ticks) == outcome.notes
    assert all(BAR <= tick < 2 * BAR for tick in on_ticks)
    ons = sum(1 for m in sent if m[0] == 0x95 and m[2])
    offs = sum(1 for m in sent if m[0] == 0x85 or (m[0] == 0x95 and not m[2]))
    assert ons == offs  # every varied note ended within its bar


def test_a_press_handled_after_the_bar_line_still_varies_the_bars_before_the_press(
    variation_model_dir,
) -> None:
    """The supervisor gets to a press a little after it happened: the source is the bar the
    player pressed at the end of, and the variation starts on the first bar line still ahead."""
    clock = ManualClock(bpm=120)
    scheduler = Scheduler(lambda m: None, clock)
    clock.start()
    move = VaryMove(VaryConfig(), VariationModel.load(variation_model_dir("vae")), seed=3)
    _played_bar(move)  # bar 1
    move.history.hear(BAR + 30, 0, 48, 90)  # bar 2 has begun: a note past its half
    move.history.hear(BAR + 60, 0, 48, 0)
    clock.advance_ticks(BAR + 60)  # handled well into bar 2
    late = move.play(clock.position_ticks, scheduler, channel=5, trigger_tick=BAR - 6)
    assert late.notes == 8 and late.start_tick == 2 * BAR, late.message
    now = move.play(clock.position_ticks, scheduler, channel=5)  # pressed now: bar 2, its 1 note
    assert now.notes == 1 and now.start_tick == 2 * BAR, now.message


def test_a_sounding_variation_ends_on_silence(variation_model_dir) -> None:
    clock = ManualClock(bpm=120)
    sent: list[list[int]] = []
    scheduler = Scheduler(sent.append, clock)
    clock.start()
    move = VaryMove(VaryConfig(), VariationModel.load(variation_model_dir("vae")), seed=3)
    _played_bar(move)
    clock.advance_ticks(BAR - 6)
    move.play(clock.position_ticks, scheduler, channel=5)
    while not scheduler.sounding():
        clock.advance_ticks(1)
        scheduler.pump(clock.now_ns())
    scheduler.silence()  # panic, pause, a transport stop, shutdown
    scheduler.pump(clock.now_ns())
    assert sent[-1] == [0xB5, ALL_NOTES_OFF, 0]
    assert scheduler.sounding() == []
    clock.advance_ticks(2 * BAR)
    scheduler.pump(clock.now_ns())
    assert sent[-1] == [0xB5, ALL_NOTES_OFF, 0]  # and the rest of the bar is not played


def test_without_a_model_a_vary_says_how_to_get_one() -> None:
    move = VaryMove(VaryConfig())
    outcome = move.play(lambda: 90.0, Scheduler(lambda m: None, ManualClock()), channel=0)
    assert outcome.notes == 0
    assert outcome.message.startswith("vary: no variation model; set vary_model")


def test_with_nothing_played_a_vary_says_so(variation_model_dir) -> None:
    move = VaryMove(VaryConfig(bars=2), VariationModel.load(variation_model_dir("vae")))
    outcome = move.play(lambda: 90.0, Scheduler(lambda m: None, ManualClock()), channel=0)
    assert outcome.message == "vary: nothing played in the last 2 bars to vary"


def test_a_controller_press_varies_once_until_released() -> None:
    move = VaryMove(VaryConfig(cc=80))
    presses = [move.is_press(c, v) for c, v in [(80, 127), (80, 127), (80, 0), (81, 127), (80, 90)]]
    assert presses == [True, False, False, False, True]


def test_a_transformer_folder_as_vary_model_is_one_line(tiny_model) -> None:
    with pytest.raises(ModelLoadError, match="varying needs one of vae, ddpm"):
        VaryMove.load(str(tiny_model()), VaryConfig())


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("vary.bars=0", "vary.bars 0 not in 1..8"),
        ("vary.method=gan", "vary.method 'gan' not one of vae, ddim, ddpm"),
        ("vary.strength=1.5", "vary.strength 1.5 not in 0..1"),
        ("vary.cc=128", "vary.cc 128 not in -1..127"),
        ("vary.channel=16", "vary.channel 16 not in -1..15"),
    ],
)
def test_vary_settings_out_of_range_are_one_line(item: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_serve_config(None, [item])


def test_a_note_a_hair_early_belongs_to_the_bar_it_anticipates(variation_model_dir) -> None:
    clock = ManualClock(bpm=120)
    scheduler = Scheduler(lambda m: None, clock)
    clock.start()
    move = VaryMove(VaryConfig(), VariationModel.load(variation_model_dir("vae")))
    for tick, pitch in ((BAR - 30, 55), (BAR - 2, 60), (BAR + 12, 64)):  # bar 2's downbeat early
        move.history.hear(tick, 0, pitch, 100)
        move.history.hear(tick + 6, 0, pitch, 0)
    clock.advance_ticks(2 * BAR - 6)
    outcome = move.play(clock.position_ticks, scheduler, channel=3)
    assert (outcome.notes, outcome.start_tick) == (2, 2 * BAR)
    for _ in range(BAR):
        scheduler.pump(clock.now_ns())
        clock.advance_ticks(1)
    ons = [s.tick for s in scheduler.sent_log if s.message[0] == 0x93 and s.message[2]]
    assert ons == [2 * BAR, 2 * BAR + 12]  # on the bar line; the next one keeps its place


def test_a_controller_both_vary_and_a_knob_is_one_line() -> None:
    with pytest.raises(
        ConfigError, match=r"controller 1 is both vary\.cc and bound to 'temperature'"
    ):
        load_serve_config(None, ["vary.cc=1"])  # default.toml binds 1 (mod wheel) to temperature
    assert load_serve_config(None, ["vary.cc=-1"]).vary.cc == -1
