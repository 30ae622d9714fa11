"""`remi` and `remi-bpe`: MidiTok's REMI (Bar, Position, Pitch, Velocity, Duration, Tempo, Program,
Chord), plain or with BPE learned on the prepared train split. MidiTok is the `languages` extra.

Choices (MidiTok 3.1's names):
- **Grid**: 24 positions per beat (`beat_res` at 24 up to 4 beats), the `events` grid: 16ths and
  8th/16th triplets are exact and onsets move at most 1/48 beat. Bars are 4 beats
  (`use_time_signatures = false`: the issue's token list has no time signature, and REMI's bar
  is then a fixed count of positions).
- **Durations**: every 1/24 beat to 4 beats, every 1/4 beat to 12, every beat to 32; longer notes
  are cut at 32 beats, as `events` closes held notes there.
- **Program** before a note only where the instrument changes (`program_changes`), drums as
  program -1. REMI keeps parts by program, not by MIDI channel: two channels playing one program
  become one part, and decoding gives each program a channel of its own (drums on 10).
- **Velocity** in 16 bins, **Tempo** in MidiTok's 32 bins over 40..250 bpm, **Chord** tokens
  from MidiTok's chord detection (they carry no notes: decoding skips them). Pitch range is the
  whole MIDI range, drums included, so no note is dropped for its pitch.
- Notes reach MidiTok through `tokenizer.read_midi` (as for every language: same pedal, same
  one voice per key), converted to a symusic Score at 480 ticks a beat.
- **BPE**: MidiTok's trainer (Hugging Face tokenizers) over the train split's files, merges
  inside a bar. The trained tokenizer is a JSON file saved in the prepared folder and the model
  folder; its sha256 is in the settings, so a changed file is refused. Nothing downloads.
- PAD, BOS and EOS are MidiTok's special tokens; a stream is BOS, MidiTok's ids, EOS.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Hashable, Iterable, Sequence
from pathlib import Path
from typing import Any

from livegen.errors import ConfigError, LivegenError, ModelLoadError
from livegen.languages.base import Language
from livegen.tokenizer import Note, Score

VERSION = "1.0"
POSITIONS_PER_BEAT = 24
TICKS_PER_BEAT = 480  # the symusic Score handed to MidiTok; MidiTok resamples to its grid
BEAT_RESOLUTION = {(0, 4): POSITIONS_PER_BEAT, (4, 12): 4, (12, 32): 1}
VELOCITIES = 16
BPE_FILE = "miditok-remi-bpe.json"
DRUM_CHANNEL = 9
DRUM_PROGRAM = -1  # MidiTok's program for drums


class MissingExtraError(LivegenError, ImportError):
    """A language needs a package only an extra installs."""


def _miditok() -> Any:
    try:
        import miditok
    except ImportError as err:
        raise MissingExtraError(
            "the remi and remi-bpe token languages need MidiTok: pip install 'livegen[languages]'"
        ) from err
    return miditok


def _config() -> Any:
    miditok = _miditok()
    return miditok.TokenizerConfig(
        pitch_range=(0, 127),
        drums_pitch_range=(0, 127),
        beat_res=dict(BEAT_RESOLUTION),
        num_velocities=VELOCITIES,
        special_tokens=["PAD", "BOS", "EOS"],
        use_velocities=True,
        use_chords=True,
        use_tempos=True,
        use_programs=True,
        one_token_stream_for_programs=True,
        program_changes=True,
        use_time_signatures=False,
        remove_duplicated_notes=False,
    )


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _vocab_digest(tokenizer: Any) -> str:
    """The base vocabulary's names in id order: another MidiTok giving other ids is refused."""
    names = sorted(tokenizer.vocab.items(), key=lambda item: item[1])
    return _sha256("\n".join(name for name, _ in names))


def to_symusic(score: Score) -> Any:
    """livegen's notes in beats -> a symusic Score: one track per part (program, or drums)."""
    import symusic

    out = symusic.Score(TICKS_PER_BEAT)
    for beat, us_per_beat in score.tempos:
        out.tempos.append(symusic.Tempo(round(beat * TICKS_PER_BEAT), 60e6 / us_per_beat))
    tracks: dict[tuple[bool, int], Any] = {}
    for note in score.notes:
        drums = note.channel == DRUM_CHANNEL
        program = 0 if drums else note.program or 0
        track = tracks.get((drums, program))
        if track is None:
            track = tracks[(drums, program)] = symusic.Track("", program, drums)
            out.tracks.append(track)
        start = round(note.start_beat * TICKS_PER_BEAT)
        end = max(start + 1, round(note.end_beat * TICKS_PER_BEAT))
        track.notes.append(symusic.Note(start, end - start, note.pitch, note.velocity))
    return out


def from_symusic(score: Any) -> list[Note]:
    """Decoded tracks -> notes in beats; each program gets a channel (drums channel 10)."""
    tpq = score.ticks_per_quarter
    channels: dict[int, int] = {}
    free = [c for c in range(16) if c != DRUM_CHANNEL]
    notes = []
    for track in score.tracks:
        if track.is_drum:
            channel, program = DRUM_CHANNEL, None
        else:
            program = int(track.program)
            if program not in channels:
                channels[program] = free[min(len(channels), len(free) - 1)]
            channel = channels[program]
        for n in track.notes:
            start = n.time / tpq
            notes.append(
                Note(
                    int(n.pitch), start, start + n.duration / tpq, int(n.velocity), channel, program
                )
            )
    notes.sort(key=lambda n: (n.start_beat, n.channel, n.pitch))
    return notes


class RemiLanguage(Language):
    """MidiTok REMI; `bpe=True` reads ids through a trained BPE model (RemiBpeLanguage)."""

    name = "remi"
    streaming = False
    steps_per_beat = POSITIONS_PER_BEAT

    def __init__(self, tokenizer: Any | None = None) -> None:
        self.tokenizer = tokenizer if tokenizer is not None else _miditok().REMI(_config())
        self.pad, self.bos, self.eos = (self._special(n) for n in ("PAD", "BOS", "EOS"))

    def _special(self, name: str) -> int:
        base = int(self.tokenizer.vocab[f"{name}_None"])
        if not self.tokenizer.is_trained:
            return base
        from miditok.constants import CHR_ID_START

        return int(self.tokenizer.vocab_model[chr(base + CHR_ID_START)])

    @property
    def size(self) -> int:
        return len(self.tokenizer)

    def settings(self) -> dict[str, Any]:
        return {
            "language": self.name,
            "version": VERSION,
            "positions_per_beat": POSITIONS_PER_BEAT,
            "vocab_size": self.size,
            "vocab_sha256": _vocab_digest(self.tokenizer),
        }

    @classmethod
    def from_settings(cls, settings: dict[str, Any], folder: Path | None) -> RemiLanguage:
        language = cls()
        _check_same(settings, language.settings(), "remi")
        return language

    def encode(self, score: Score, *, bos: bool = True, eos: bool = True) -> list[int]:
        ids = list(self.tokenizer.encode(to_symusic(score)).ids) if score.notes else []
        return ([self.bos] if bos else []) + ids + ([self.eos] if eos else [])

    def decode(self, tokens: Sequence[int]) -> list[Note]:
        """Special and out-of-range ids are dropped; each part between BOS/EOS is decoded alone
        and MidiTok's own decoder skips tokens out of REMI's order."""
        notes: list[Note] = []
        for piece in self._pieces(tokens):
            score = self.tokenizer.decode(piece)
            notes.extend(from_symusic(score))
        return notes

    def _pieces(self, tokens: Iterable[int]) -> list[list[int]]:
        pieces: list[list[int]] = [[]]
        for token in tokens:
            if token in (self.bos, self.eos):
                if pieces[-1]:
                    pieces.append([])
            elif token != self.pad and 0 <= token < self.size:
                pieces[-1].append(int(token))
        return [p for p in pieces if p]

    def token_name(self, token: int) -> str:
        if not 0 <= token < self.size:
            return f"UNKNOWN_{token}"
        if not self.tokenizer.is_trained:
            return str(self.tokenizer[int(token)])
        # a learned id stands for several base tokens: "Position_0+Pitch_60+..."
        learned = self.tokenizer._model.id_to_token(int(token))
        return "+".join(self.tokenizer._vocab_learned_bytes_to_tokens[learned])

    def part_of(self, note: Note) -> Hashable:
        if note.channel == DRUM_CHANNEL:
            return DRUM_PROGRAM
        return note.program or 0


class RemiBpeLanguage(RemiLanguage):
    name = "remi-bpe"

    def __init__(self, tokenizer: Any, json_text: str) -> None:
        super().__init__(tokenizer)
        self.json_text = json_text

    @classmethod
    def train(cls, scores: Iterable[Score], vocab_size: int) -> RemiBpeLanguage:
        """Learn BPE merges over `scores` (the train split) with MidiTok's trainer."""
        miditok = _miditok()
        base = miditok.REMI(_config())
        if vocab_size <= len(base):
            raise ConfigError(
                f"--bpe-vocab {vocab_size} must exceed REMI's {len(base)} base tokens"
            )
        sequences = _BarStrings(base, list(scores))
        base.train(vocab_size=vocab_size, model="BPE", iterator=sequences)
        with tempfile.TemporaryDirectory() as tmp:
            base.save(Path(tmp), filename=BPE_FILE)
            text = (Path(tmp) / BPE_FILE).read_text()
        return cls(base, text)

    @classmethod
    def from_text(cls, text: str) -> RemiBpeLanguage:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / BPE_FILE
            path.write_text(text)
            tokenizer = _miditok().REMI(params=path)
        return cls(tokenizer, text)

    def settings(self) -> dict[str, Any]:
        # the base vocabulary's digest, the merges' file digest: together they fix every id
        return {**super().settings(), "file": BPE_FILE, "file_sha256": _sha256(self.json_text)}

    def files(self) -> dict[str, str]:
        return {BPE_FILE: self.json_text}

    @classmethod
    def from_settings(cls, settings: dict[str, Any], folder: Path | None) -> RemiBpeLanguage:
        name = str(settings.get("file", BPE_FILE))
        path = None if folder is None else Path(folder) / name
        if path is None or not path.is_file():
            raise ModelLoadError(
                f"the remi-bpe language needs its trained tokenizer {name} beside the settings"
                + (f" in {folder}" if folder is not None else "")
            )
        text = path.read_text()
        if _sha256(text) != settings.get("file_sha256"):
            raise ModelLoadError(f"{path} is not the BPE tokenizer these settings were made with")
        language = cls.from_text(text)
        _check_same(settings, language.settings(), "remi-bpe")
        return language


class _BarStrings:
    """MidiTok's training iterator over scores already read: each bar's base ids as one string
    of characters (what the Hugging Face trainer merges)."""

    def __init__(self, tokenizer: Any, scores: list[Score]) -> None:
        self.tokenizer = tokenizer
        self.scores = scores

    def __len__(self) -> int:
        return len(self.scores)

    def __iter__(self):
        for score in self.scores:
            if not score.notes:
                continue
            tokens = self.tokenizer.encode(to_symusic(score), encode_ids=False)
            bars = [bar for bar in tokens.split_per_bars() if len(bar) > 0]
            yield self.tokenizer._ids_to_bytes([bar.ids for bar in bars], as_one_str=True)


def _check_same(saved: dict[str, Any], current: dict[str, Any], name: str) -> None:
    diffs = [
        f"{key} {saved.get(key)!r} (saved) vs {current.get(key)!r} (here)"
        for key in sorted(set(saved) | set(current))
        if saved.get(key) != current.get(key)
    ]
    if diffs:
        raise ConfigError(f"the {name} language differs from the one saved: " + "; ".join(diffs))
