"""Grouping a token stream into events, for the hierarchical model (one position per event).

An event is the run of tokens from one opening token to the next. Which tokens open is read off
the vocabulary by token KIND, so kinds added later (chords, other token languages) group without
edits here:
- a token whose kind is in ATTACHED_KINDS never opens: a NOTE_OFF and the TIME_SHIFTs after a
  note belong to the event of the last note played (this is what makes a note about one event
  instead of three or four positions);
- a token after one that the grammar cannot end a stream on (NOTE_ON -> VELOCITY, CHANNEL ->
  PROGRAM/NOTE_ON/NOTE_OFF, PROGRAM -> NOTE_ON) never opens: an event is never cut mid-note;
- every other token opens an event;
- and a natural event longer than `max_tokens` is cut every `max_tokens` tokens, so the token
  decoder's context stays short during long rests.

Whether a token opens depends only on the tokens before it and itself, so the model's next-token
probabilities stay an exact factorisation (comparable with the flat model's NLL), and rolling
back to any token position is well defined. The rules travel as token-id lists in the model
config (`EventRules.to_fields`), so the runtime groups exactly as training did.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from livegen.tokenizer.grammar import Grammar
from livegen.tokenizer.vocab import TokenKind, Vocab

ATTACHED_KINDS = frozenset({TokenKind.TIME_SHIFT, TokenKind.NOTE_OFF})


@dataclass(frozen=True)
class EventRules:
    """Per token id: may it open an event, and does the event always go on after it."""

    opening: np.ndarray  # (vocab,) bool
    binding: np.ndarray  # (vocab,) bool: the next token always joins this token's event
    max_tokens: int

    @classmethod
    def from_vocab(cls, vocab: Vocab, max_tokens: int) -> EventRules:
        attached = np.isin(vocab.kinds, [int(kind) for kind in ATTACHED_KINDS])
        table = Grammar(vocab).table  # (kinds, vocab): may this id follow that kind
        # an event goes on after a kind the stream may not end on (neither EOS nor PAD next)
        kind_binds = ~(table[:, vocab.eos] | table[:, vocab.pad])
        return cls(~attached, kind_binds[vocab.kinds], max_tokens)

    @classmethod
    def from_fields(cls, opening_ids, binding_ids, vocab_size: int, max_tokens: int):
        opening = np.zeros(vocab_size, dtype=bool)
        binding = np.zeros(vocab_size, dtype=bool)
        opening[list(opening_ids)] = True
        binding[list(binding_ids)] = True
        return cls(opening, binding, max_tokens)

    def to_fields(self) -> dict[str, tuple[int, ...]]:
        """The model-config fields that carry these rules (token ids, plain data)."""
        return {
            "opening_ids": tuple(int(i) for i in np.flatnonzero(self.opening)),
            "binding_ids": tuple(int(i) for i in np.flatnonzero(self.binding)),
        }

    def offsets(self, tokens: np.ndarray) -> np.ndarray:
        """Each token's offset in its event (0 = it opens one); tokens (T,) or (B, T).

        The first token of a stream (or window) always opens. Vectorised: the natural event
        starts are the cumulative maximum of the natural opening positions; the cut every
        `max_tokens` is the offset from there modulo `max_tokens`.
        """
        tokens = np.asarray(tokens, dtype=np.int64)
        index = np.arange(tokens.shape[-1])
        natural = np.empty(tokens.shape, dtype=bool)
        natural[..., 0] = True
        natural[..., 1:] = self.opening[tokens[..., 1:]] & ~self.binding[tokens[..., :-1]]
        starts = np.maximum.accumulate(np.where(natural, index, 0), axis=-1)
        return (index - starts) % self.max_tokens


class EventTracker:
    """The same rules one token at a time (the engine's step): does the next token open?"""

    def __init__(self, rules: EventRules) -> None:
        self.rules = rules
        self.prev: int | None = None
        self.natural_offset = 0  # tokens since the last natural opening

    def opens(self, token: int) -> bool:
        """Whether `token` opens an event after the tokens seen so far; then take it in."""
        rules = self.rules
        natural = self.prev is None or (
            bool(rules.opening[token]) and not bool(rules.binding[self.prev])
        )
        self.natural_offset = 0 if natural else self.natural_offset + 1
        self.prev = token
        return self.natural_offset % rules.max_tokens == 0

    def restart(self, tokens: np.ndarray) -> None:
        """Forget everything, then take in `tokens` (T,) (after a rollback or a new window)."""
        self.prev = None
        self.natural_offset = 0
        for token in tokens.tolist():
            self.opens(token)
