"""The cap on a generated note's length: its release is the next thing, and time never skips it."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from livegen.inference.engine import Engine
from livegen.inference.generate import GenerateRequest, generate_tokens
from livegen.inference.hold import HoldLimit
from livegen.inference.model_dir import read_model_dir
from livegen.tokenizer import (
    Grammar,
    StreamingDecoder,
    TokenizerConfig,
    Vocab,
    decode_tokens,
    encode_notes,
)
from livegen.tokenizer.midi_file import read_midi

VOCAB = Vocab()
SPB = VOCAB.config.steps_per_beat
ALL = np.ones(VOCAB.size, dtype=bool)
TESTDATA = Path(os.environ["LIVEGEN_TESTDATA"]) / "midi"


def stream(*tokens: int) -> StreamingDecoder:
    decoder = StreamingDecoder(VOCAB.config, vocab=VOCAB)
    decoder.feed_many(tokens)
    return decoder


def note(pitch: int) -> list[int]:
    return [VOCAB.note_on(pitch), VOCAB.velocity(8)]


def wait(beats: int) -> list[int]:
    return [VOCAB.shift(4 * SPB)] * (beats // 4) + (
        [VOCAB.shift(beats % 4 * SPB)] if beats % 4 else []
    )


def allowed(mask: np.ndarray) -> set[str]:
    return {VOCAB.name(int(t)) for t in np.flatnonzero(mask)}


def test_a_note_at_the_cap_can_only_be_released() -> None:
    decoder = stream(*note(60), *note(64), VOCAB.shift(2 * SPB), VOCAB.note_off(64))
    decoder.feed_many([VOCAB.shift(2 * SPB)])  # 60 has sounded 4 beats
    assert allowed(HoldLimit(VOCAB, 4).restrict(ALL, decoder)) == {VOCAB.name(VOCAB.note_off(60))}


def test_a_time_shift_over_the_cap_is_cut_there_with_the_release() -> None:
    decoder = stream(*note(60), VOCAB.shift(3 * SPB), *note(64))  # 60 has one beat left
    hold = HoldLimit(VOCAB, 4)
    assert hold.split(VOCAB.shift(2 * SPB), decoder) == [
        VOCAB.shift(SPB),
        VOCAB.note_off(60),
        VOCAB.shift(SPB),
    ]  # the same two beats, the model's choice, with 60 ended at its cap
    assert hold.split(VOCAB.shift(SPB // 2), decoder) == [VOCAB.shift(SPB // 2)]
    assert hold.split(VOCAB.note_on(62), decoder) == [VOCAB.note_on(62)]


def test_a_release_due_on_a_bar_line_comes_a_step_before_it() -> None:
    decoder = stream(*note(60), VOCAB.shift(2 * SPB))
    # 60's cap (4 beats after it began) is the bar line: BAR must stay first at its step
    assert HoldLimit(VOCAB, 4).split(VOCAB.shift(3 * SPB), decoder, bar_steps=4 * SPB) == [
        VOCAB.shift(2 * SPB - 1),
        VOCAB.note_off(60),
        VOCAB.shift(SPB + 1),
    ]


def test_a_note_on_another_channel_is_reached_through_its_channel_token() -> None:
    decoder = stream(VOCAB.channel(2), *note(40), VOCAB.channel(0), *note(72))
    decoder.feed_many(wait(8))
    hold = HoldLimit(VOCAB, 8)
    # 72 on channel 0 is due too: its release, or the way to 40's
    assert allowed(hold.restrict(ALL, decoder)) == {
        VOCAB.name(VOCAB.note_off(72)),
        VOCAB.name(VOCAB.channel(2)),
    }
    decoder.feed_many([VOCAB.note_off(72), VOCAB.channel(2)])
    assert allowed(hold.restrict(ALL, decoder)) == {VOCAB.name(VOCAB.note_off(40))}


def test_notes_on_channels_not_ours_are_left_alone() -> None:
    decoder = stream(*note(60), VOCAB.channel(1), *note(67), *wait(8))
    mask = HoldLimit(VOCAB, 4).restrict(ALL, decoder, channels={1})
    assert allowed(mask) == {VOCAB.name(VOCAB.note_off(67))}  # the player's 60 sounds on


def test_the_grammar_comes_first_and_off_changes_nothing() -> None:
    decoder = stream(*note(60), *wait(8), VOCAB.note_on(62))  # a VELOCITY is due
    grammar = Grammar(VOCAB).mask_after(VOCAB.note_on(62))
    assert (HoldLimit(VOCAB, 4).restrict(grammar, decoder) == grammar).all()
    assert (HoldLimit(VOCAB, 0).restrict(ALL, decoder) == ALL).all()
    with pytest.raises(ValueError, match="max_hold_beats"):
        HoldLimit(VOCAB, -1)


@pytest.mark.parametrize("name", ["band_mr_blue_sky.mid", "piano_pop_1390.mid"])
def test_the_default_model_continuing_real_music_ends_every_note_at_the_cap(name: str) -> None:
    tokenizer = TokenizerConfig.from_dict(read_model_dir("default").tokenizer)
    plain = replace(tokenizer, structure_tokens=False)
    prompt = encode_notes(read_midi(TESTDATA / name).notes, plain)[:256]
    prompt_end = max(n.start_beat for n in decode_tokens(prompt, plain))

    def longest_new_note(cap: float, seed: int) -> float:
        request = GenerateRequest(tokens=400, seed=seed, max_hold_beats=cap)
        out, _ = generate_tokens(
            Engine.load("default", overflow="sync"), prompt, request, Vocab(tokenizer)
        )
        notes = decode_tokens(prompt + out, plain)
        return max(n.end_beat - n.start_beat for n in notes if n.start_beat > prompt_end)

    # left to itself, the model holds some note too long here with some seed (which one moves
    # with every retrained default: stop 28's held one with seed 2, stop 29's not with that one)
    seed = next((s for s in range(8) if longest_new_note(0, s) > 4), None)
    assert seed is not None, "the premise: the uncapped model holds a note over 4 beats"
    assert longest_new_note(2, seed) <= 2 + 1e-9
