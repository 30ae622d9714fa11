"""What every token language gives the data, training, export and generate paths: the contract.

A language turns a read MIDI file (`tokenizer.Score`: notes in beats, tempo map, meters) into
token ids and token ids back into notes. Everything downstream of the tokens (shards, the flat
transformer, the ONNX engine) only needs the vocabulary size and the PAD/BOS/EOS ids, so a
language is chosen once, in `livegen data prepare --tokenizer NAME`, and recorded: its
`settings()` are the `tokenizer` entry of the prepared folder's manifest, of every checkpoint
and of `model.toml`, and `files()` (MidiTok's trained BPE) are saved beside them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from livegen.tokenizer import Note, Score


class Language(ABC):
    """One token language: encode a Score, decode ids, name ids; PAD, BOS and EOS ids."""

    name: ClassVar[str]
    # Can the live daemon encode a player's note when the key goes down? Only a language with
    # separate note-on and note-off tokens can: the others write a duration at the onset.
    streaming: ClassVar[bool]
    # The onset grid, in steps per beat: the decoder's onsets are whole steps of it.
    steps_per_beat: ClassVar[int] = 24

    pad: int
    bos: int
    eos: int

    @property
    @abstractmethod
    def size(self) -> int:
        """Vocabulary size: token ids are 0..size-1."""

    @abstractmethod
    def settings(self) -> dict[str, Any]:
        """Plain TOML/JSON data that rebuilds this language (see languages.language_from)."""

    def files(self) -> dict[str, str]:
        """Files the settings refer to, by name: written beside the manifest and model.toml."""
        return {}

    @abstractmethod
    def encode(self, score: Score, *, bos: bool = True, eos: bool = True) -> list[int]:
        """A read MIDI file's notes to token ids."""

    @abstractmethod
    def decode(self, tokens: Sequence[int]) -> list[Note]:
        """Token ids to notes; ill-formed streams never raise (a model's samples can be any)."""

    @abstractmethod
    def token_name(self, token: int) -> str:
        """Readable name of one id, e.g. "Pitch_60"."""

    def token_kind(self, token: int) -> str:
        """The kind an id belongs to, for counts: its name up to the first '_' or digit."""
        name = self.token_name(token)
        return name.split("_", 1)[0]

    def part_of(self, note: Note) -> Hashable:
        """What tells one part from another in this language (the round trip matches notes of the
        same part and pitch): the MIDI channel, unless the language keeps only programs."""
        return note.channel

    def save_files(self, folder: Path) -> None:
        """Write files() into `folder` (prepared data, model folder)."""
        from livegen.files import write_atomic

        for name, text in self.files().items():
            write_atomic(folder / name, text)
