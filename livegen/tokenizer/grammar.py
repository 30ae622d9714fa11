"""The token grammar as data (which kinds may follow which) and a boolean mask for sampling.

    BOS                        -> conditioning, BAR, TIME_SHIFT, event starts, EOS
    MODE / KEY / STYLE         -> conditioning, BAR, TIME_SHIFT, event starts, EOS
    BAR                        -> TIME_SHIFT, event starts, EOS          (no two BARs in a row)
    TIME_SHIFT                 -> BAR, TIME_SHIFT, event starts, EOS
    NOTE_ON                    -> VELOCITY                               (always, nothing else)
    VELOCITY, NOTE_OFF         -> TIME_SHIFT, event starts, EOS
    CHANNEL                    -> PROGRAM, NOTE_ON, NOTE_OFF             (a switch names a note)
    PROGRAM                    -> NOTE_ON
    EOS, PAD                   -> PAD

"event starts" are CHANNEL, PROGRAM, NOTE_ON, NOTE_OFF. BAR only follows a time shift (or the
start): bar lines come before the events of their step. The encoder never writes anything
outside this grammar; the decoder tolerates anything. The mask is per previous token kind: one row
lookup in a precomputed (kinds x vocab) table, so it costs nothing in the sampling loop.
"""

from __future__ import annotations

import numpy as np

from livegen.tokenizer.vocab import TokenKind, Vocab

K = TokenKind
_EVENT_STARTS = frozenset({K.CHANNEL, K.PROGRAM, K.NOTE_ON, K.NOTE_OFF})
_CONDITIONING = frozenset({K.MODE, K.KEY, K.STYLE})
_AFTER_TIME = _EVENT_STARTS | {K.TIME_SHIFT, K.EOS}

GRAMMAR: dict[TokenKind, frozenset[TokenKind]] = {
    K.PAD: frozenset({K.PAD}),
    K.BOS: _CONDITIONING | _AFTER_TIME | {K.BAR},
    K.EOS: frozenset({K.PAD}),
    K.BAR: _AFTER_TIME,
    K.MODE: _CONDITIONING | _AFTER_TIME | {K.BAR},
    K.KEY: _CONDITIONING | _AFTER_TIME | {K.BAR},
    K.STYLE: _CONDITIONING | _AFTER_TIME | {K.BAR},
    K.TIME_SHIFT: _AFTER_TIME | {K.BAR},
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
        # table[prev_kind, token_id]
        self.table = np.ascontiguousarray(allowed_kinds[:, vocab.kinds])
        self.table.setflags(write=False)
        # A stream opens with BOS, or with whatever may follow BOS (a prompt without one).
        self.start_mask = self.table[TokenKind.BOS].copy()
        self.start_mask[vocab.bos] = True
        self.start_mask.setflags(write=False)

    def mask_after(self, prev_token: int | None) -> np.ndarray:
        """Mask for the token after `prev_token` (None: the first token). Read-only, do not edit."""
        if prev_token is None or not 0 <= prev_token < self.vocab.size:
            return self.start_mask
        return self.table[self.vocab.kind_list[prev_token]]

    def is_valid(self, tokens: list[int]) -> bool:
        """Does the whole sequence follow the grammar (first token as after BOS)?"""
        return self.first_violation(tokens) is None

    def first_violation(self, tokens: list[int]) -> int | None:
        """Index of the first token that breaks the grammar, or None."""
        prev: int | None = None
        for index, token in enumerate(tokens):
            if not 0 <= token < self.vocab.size or not self.mask_after(prev)[token]:
                return index
            prev = token
        return None
