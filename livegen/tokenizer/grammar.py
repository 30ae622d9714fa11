"""The token grammar as data (which kinds may follow which) and a boolean mask for sampling.

    BOS                        -> conditioning, BAR, TIME_SHIFT, event starts, EOS
    MODE / KEY / STYLE / CHORD -> conditioning, BAR, TIME_SHIFT, event starts, EOS
    BAR                        -> KEY, CHORD, TIME_SHIFT, event starts, EOS   (no two BARs in a row)
    TIME_SHIFT                 -> KEY, CHORD, BAR, TIME_SHIFT, event starts, EOS
    NOTE_ON                    -> VELOCITY                               (always, nothing else)
    VELOCITY, NOTE_OFF         -> TIME_SHIFT, event starts, EOS
    CHANNEL                    -> PROGRAM, NOTE_ON, NOTE_OFF             (a switch names a note)
    PROGRAM                    -> NOTE_ON
    EOS, PAD                   -> PAD

"event starts" are CHANNEL, PROGRAM, NOTE_ON, NOTE_OFF. BAR only follows a time shift (or the
start): bar lines come before the events of their step. KEY and CHORD tokens sit right after the
BAR or time shift of the step they apply from, before its events, where a live run can write them
too (it knows the chord of a bar when the bar line comes, not before).

Conditioning tokens (vocab.CONDITIONING_KINDS) are written by whoever conditions the model, never
sampled: `mask_after`, the sampler's mask, leaves them out; `is_valid` accepts them where the
grammar allows them. The encoder never writes anything
outside this grammar; the decoder tolerates anything. The mask is per previous token kind: one row
lookup in a precomputed (kinds x vocab) table, so it costs nothing in the sampling loop.
"""

from __future__ import annotations

import numpy as np

from livegen.tokenizer.vocab import CONDITIONING_KINDS, TokenKind, Vocab

K = TokenKind
_EVENT_STARTS = frozenset({K.CHANNEL, K.PROGRAM, K.NOTE_ON, K.NOTE_OFF})
_CONDITIONING = CONDITIONING_KINDS
_STRUCTURE = frozenset({K.KEY, K.CHORD})  # may change at a bar line or any step
_AFTER_TIME = _EVENT_STARTS | {K.TIME_SHIFT, K.EOS}

GRAMMAR: dict[TokenKind, frozenset[TokenKind]] = {
    K.PAD: frozenset({K.PAD}),
    K.BOS: _CONDITIONING | _AFTER_TIME | {K.BAR},
    K.EOS: frozenset({K.PAD}),
    K.BAR: _AFTER_TIME | _STRUCTURE,
    K.MODE: _CONDITIONING | _AFTER_TIME | {K.BAR},
    K.KEY: _CONDITIONING | _AFTER_TIME | {K.BAR},
    K.STYLE: _CONDITIONING | _AFTER_TIME | {K.BAR},
    K.CHORD: _CONDITIONING | _AFTER_TIME | {K.BAR},
    K.TIME_SHIFT: _AFTER_TIME | _STRUCTURE | {K.BAR},
    K.NOTE_ON: frozenset({K.VELOCITY}),
    K.NOTE_OFF: _AFTER_TIME,
    K.VELOCITY: _AFTER_TIME,
    K.CHANNEL: frozenset({K.PROGRAM, K.NOTE_ON, K.NOTE_OFF}),
    K.PROGRAM: frozenset({K.NOTE_ON}),
}
"""Allowed next token kinds after each kind."""


class Grammar:
    """Boolean masks over a vocabulary: `mask_after(prev_token)[id]` is True if id may come next."""

    def __init__(self, vocab: Vocab) -> None:
        self.vocab = vocab
        n_kinds = len(TokenKind)
        allowed_kinds = np.zeros((n_kinds, n_kinds), dtype=bool)
        for prev, nexts in GRAMMAR.items():
            for nxt in nexts:
                allowed_kinds[prev, nxt] = True
        # valid[prev_kind, token_id]: what a stream may hold; table: what may be sampled
        self.valid = np.ascontiguousarray(allowed_kinds[:, vocab.kinds])
        self.valid.setflags(write=False)
        sampled = ~np.isin(vocab.kinds, [int(k) for k in CONDITIONING_KINDS])
        self.table = np.ascontiguousarray(self.valid & sampled)
        self.table.setflags(write=False)
        # A stream opens with BOS, or with whatever may follow BOS (a prompt without one).
        self.valid_start = self.valid[TokenKind.BOS].copy()
        self.valid_start[vocab.bos] = True
        self.valid_start.setflags(write=False)
        self.start_mask = self.valid_start & sampled
        self.start_mask.setflags(write=False)

    def mask_after(self, prev_token: int | None) -> np.ndarray:
        """The sampler's mask for the token after `prev_token` (None: the first token): what the
        grammar allows, conditioning tokens left out. Read-only, do not edit."""
        if prev_token is None or not 0 <= prev_token < self.vocab.size:
            return self.start_mask
        return self.table[self.vocab.kind_list[prev_token]]

    def valid_after(self, prev_token: int | None) -> np.ndarray:
        """What the grammar allows after `prev_token`, conditioning tokens included."""
        if prev_token is None or not 0 <= prev_token < self.vocab.size:
            return self.valid_start
        return self.valid[self.vocab.kind_list[prev_token]]

    def is_valid(self, tokens: list[int]) -> bool:
        """Does the whole sequence follow the grammar (first token as after BOS)?"""
        return self.first_violation(tokens) is None

    def first_violation(self, tokens: list[int]) -> int | None:
        """Index of the first token that breaks the grammar, or None."""
        prev: int | None = None
        for index, token in enumerate(tokens):
            if not 0 <= token < self.vocab.size or not self.valid_after(prev)[token]:
                return index
            prev = token
        return None
