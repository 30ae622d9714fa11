"""The grammar as data and the sampler's mask over the vocabulary."""

from __future__ import annotations

import numpy as np
import pytest

from livegen.tokenizer import GRAMMAR, Grammar, Note, TokenKind, Vocab, encode_notes

VOCAB = Vocab()
GRAMMAR_MASKS = Grammar(VOCAB)


def allowed_kinds(mask: np.ndarray) -> set[TokenKind]:
    return {TokenKind(k) for k in np.unique(VOCAB.kinds[mask])}


def test_the_grammar_names_every_kind() -> None:
    assert set(GRAMMAR) == set(TokenKind)


@pytest.mark.parametrize(
    "prev, expected",
    [
        (VOCAB.note_on(60), {TokenKind.VELOCITY}),
        (VOCAB.program(3), {TokenKind.NOTE_ON}),
        (VOCAB.channel(9), {TokenKind.PROGRAM, TokenKind.NOTE_ON, TokenKind.NOTE_OFF}),
        (VOCAB.eos, {TokenKind.PAD}),
        (VOCAB.pad, {TokenKind.PAD}),
    ],
    ids=["after-note-on", "after-program", "after-channel", "after-eos", "after-pad"],
)
def test_mask_allows_exactly_the_kinds_the_grammar_lists(prev: int, expected) -> None:
    mask = GRAMMAR_MASKS.mask_after(prev)
    assert mask.dtype == np.bool_ and mask.shape == (VOCAB.size,)
    assert allowed_kinds(mask) == expected
    # every id of an allowed kind is allowed: the mask never splits a kind
    for kind in expected:
        assert mask[list(VOCAB.ids_of_kind(kind))].all()


def test_bar_follows_time_or_the_start_never_an_event_or_a_bar() -> None:
    assert GRAMMAR_MASKS.mask_after(VOCAB.shift(5))[VOCAB.bar]
    assert GRAMMAR_MASKS.mask_after(None)[VOCAB.bar]
    assert GRAMMAR_MASKS.mask_after(VOCAB.bos)[VOCAB.bar]
    for prev in (VOCAB.bar, VOCAB.velocity(2), VOCAB.note_off(60), VOCAB.channel(1)):
        assert not GRAMMAR_MASKS.mask_after(prev)[VOCAB.bar], VOCAB.name(prev)


def test_a_stream_cannot_open_with_a_velocity_or_a_pad() -> None:
    start = GRAMMAR_MASKS.mask_after(None)
    assert not start[VOCAB.velocity(0)] and not start[VOCAB.pad]
    assert start[VOCAB.note_on(60)] and GRAMMAR_MASKS.valid_after(None)[VOCAB.mode("call")]
    assert not start[VOCAB.mode("call")]  # conditioning is written by the caller, not sampled


def test_masks_are_read_only_rows_of_one_table() -> None:
    mask = GRAMMAR_MASKS.mask_after(VOCAB.note_on(1))
    with pytest.raises(ValueError):
        mask[0] = True
    assert GRAMMAR_MASKS.table.shape == (len(TokenKind), VOCAB.size)


def test_encoder_output_is_grammatical_and_violations_are_found() -> None:
    notes = [Note(60, 0, 1, 90), Note(64, 0.5, 3, 50, 1, 4), Note(36, 2, 2.1, 120, 9)]
    tokens = [VOCAB.bos, VOCAB.mode("accompany"), VOCAB.key("Am"), *encode_notes(notes)]
    assert GRAMMAR_MASKS.first_violation(tokens) is None
    broken = [*tokens[:4], VOCAB.note_on(61), VOCAB.shift(3)]
    assert GRAMMAR_MASKS.first_violation(broken) == 5
    assert not GRAMMAR_MASKS.is_valid([VOCAB.size])
