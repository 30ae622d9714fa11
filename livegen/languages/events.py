"""`events`, livegen's own streaming beat-grid language, behind the Language contract.

Nothing is re-implemented: the ids, grammar and timing are livegen/tokenizer's. Its settings are
TokenizerConfig.to_dict() exactly as before languages existed (no `language` key), so prepared
folders, checkpoints and model folders made before keep working and are read as `events`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from livegen.languages.base import Language
from livegen.tokenizer import Note, Score, TokenizerConfig, Vocab, decode_tokens, encode_notes


class EventsLanguage(Language):
    name = "events"
    streaming = True  # NOTE_ON at the key press, NOTE_OFF at the release

    def __init__(self, config: TokenizerConfig | None = None) -> None:
        self.config = config or TokenizerConfig()
        self.vocab = Vocab(self.config)
        self.pad, self.bos, self.eos = self.vocab.pad, self.vocab.bos, self.vocab.eos
        self.steps_per_beat = self.config.steps_per_beat

    @property
    def size(self) -> int:
        return self.vocab.size

    def settings(self) -> dict[str, Any]:
        return self.config.to_dict()

    def encode(self, score: Score, *, bos: bool = True, eos: bool = True) -> list[int]:
        return encode_notes(
            score.notes, self.config, time_signatures=score.meter(), bos=bos, eos=eos,
            vocab=self.vocab,
        )  # fmt: skip

    def decode(self, tokens: Sequence[int]) -> list[Note]:
        return decode_tokens(list(tokens), self.config, vocab=self.vocab)

    def token_name(self, token: int) -> str:
        return self.vocab.name(token)

    def token_kind(self, token: int) -> str:
        if 0 <= token < self.vocab.size:
            return self.vocab.kind(token).name
        return "UNKNOWN"
