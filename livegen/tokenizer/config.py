"""Tokenizer settings and version: what a model was trained with, saved beside every model."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from livegen.config import from_mapping
from livegen.errors import ConfigError, TokenizerMismatchError

# Bump whenever the meaning of a token id changes (layout, grammar or timing); a model trained on
# another version would read the new ids as different music.
TOKENIZER_VERSION = "1.0"

DEFAULT_STYLES: tuple[str, ...] = (
    "classical",
    "jazz",
    "pop",
    "rock",
    "electronic",
    "folk",
    "latin",
    "blues",
)


@dataclass(frozen=True)
class TokenizerConfig:
    """The token language. Every field changes token ids or timing, so all are saved with models."""

    steps_per_beat: int = 24  # 16ths (6 steps) and 8th/16th triplets (8/4 steps) are exact
    max_shift_steps: int = 96  # longest TIME_SHIFT token: 4 beats; longer gaps use several
    velocity_bins: int = 16
    max_note_beats: float = 32.0  # a note still held after this long is closed (encoder clips)
    use_bars: bool = True  # emit BAR tokens at bar lines (they carry no time of their own)
    styles: tuple[str, ...] = DEFAULT_STYLES
    # CHORD_* tokens (music.chords.VOCABULARY) appended after every other token, so a model made
    # without them has the same ids for everything else (train --init-from grows it onto them).
    structure_tokens: bool = False

    def __post_init__(self) -> None:
        if self.steps_per_beat < 1:
            raise ConfigError(f"steps_per_beat must be >= 1, got {self.steps_per_beat}")
        if self.max_shift_steps < 1:
            raise ConfigError(f"max_shift_steps must be >= 1, got {self.max_shift_steps}")
        if not 1 <= self.velocity_bins <= 64:  # above 64 some bins would hold no velocity
            raise ConfigError(f"velocity_bins must be in 1..64, got {self.velocity_bins}")
        if self.max_note_steps < 2:
            raise ConfigError(f"max_note_beats is too short: {self.max_note_beats}")
        if len(set(self.styles)) != len(self.styles):
            raise ConfigError(f"styles must be unique, got {list(self.styles)}")

    @property
    def max_note_steps(self) -> int:
        return round(self.max_note_beats * self.steps_per_beat)

    def to_dict(self) -> dict[str, Any]:
        """Plain TOML/JSON-able data, including the tokenizer version.

        An appended-token option that is off is left out, so the data is what it was before the
        option existed (models and prepared folders saved then compare equal).
        """
        data: dict[str, Any] = {"version": TOKENIZER_VERSION}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name in APPENDED_TOKEN_OPTIONS and not value:
                continue
            data[field.name] = list(value) if isinstance(value, tuple) else value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, where: str = "tokenizer") -> TokenizerConfig:
        """Inverse of to_dict; the version key is not checked here (see check_compatible)."""
        fields = {k: v for k, v in data.items() if k != "version"}
        return from_mapping(cls, fields, where=where)

    def check_compatible(self, saved: dict[str, Any]) -> None:
        """Raise TokenizerMismatchError naming every difference between `saved` and this config."""
        check_compatible(saved, self)


# Options that only append tokens at the end of the vocabulary; absent from saved data = off.
APPENDED_TOKEN_OPTIONS: tuple[str, ...] = ("structure_tokens",)


def check_compatible(saved: dict[str, Any], config: TokenizerConfig | None = None) -> None:
    """A model's saved tokenizer (to_dict) must equal the runtime's, or ids mean other things.

    Without `config` the runtime's default is meant, with the saved appended-token options (the
    runtime reads models with and without CHORD tokens alike, building the vocab from the model).
    Raises TokenizerMismatchError saying what differs, e.g.
    "model was made with a different tokenizer: version 0.9 (model) vs 1.0 (runtime); ...".
    """
    if not isinstance(saved, dict):
        raise TokenizerMismatchError(f"model has no tokenizer settings (got {saved!r})")
    if config is None:
        options = {k: saved[k] for k in APPENDED_TOKEN_OPTIONS if saved.get(k) is True}
        config = TokenizerConfig(**options)
    current = config.to_dict()
    diffs = []
    for key in sorted(set(saved) | set(current)):
        mine, theirs = current.get(key, "<absent>"), saved.get(key, "<absent>")
        if isinstance(theirs, tuple):
            theirs = list(theirs)
        if key in APPENDED_TOKEN_OPTIONS:  # absent and false both mean off
            mine, theirs = mine is True, theirs is True
        if mine != theirs:
            diffs.append(f"{key} {theirs!r} (model) vs {mine!r} (runtime)")
    if diffs:
        raise TokenizerMismatchError(
            "model was made with a different tokenizer: " + "; ".join(diffs)
        )


def model_only_options(saved: dict[str, Any], config: TokenizerConfig) -> dict[str, bool]:
    """Appended-token options a saved model has and `config` lacks, turned on.

    A model with CHORD tokens fine-tuned (or resumed) on data prepared without them: the data's
    ids are a prefix of the model's vocabulary, so the run reads the data as it is and keeps the
    model's vocabulary (`{}` when there is nothing to adopt).
    """
    return {
        k: True for k in APPENDED_TOKEN_OPTIONS if saved.get(k) is True and not getattr(config, k)
    }


def check_grows_into(saved: dict[str, Any], config: TokenizerConfig) -> bool:
    """Can a model made with `saved` be fine-tuned onto `config`'s vocabulary?

    Yes when they are equal (False: nothing to grow), or when they differ only by appended-token
    options `config` turns on (True: the model's vocab is a prefix of the new one, and its
    embedding and output rows need growing). Raises TokenizerMismatchError otherwise.
    """
    grown = {k: False for k in APPENDED_TOKEN_OPTIONS if getattr(config, k) and not saved.get(k)}
    check_compatible({**saved, **grown}, dataclasses.replace(config, **grown))
    return bool(grown)
