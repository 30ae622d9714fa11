"""Token languages beside livegen's own: one module per language, chosen by name.

- `events` (events.py): livegen's streaming beat-grid language (livegen/tokenizer), the default.
- `remi`, `remi-bpe` (remi.py): MidiTok's REMI, plain or with BPE learned on the train split.
- `triplet` (triplet.py): one note = time delta, duration, pitch, velocity.

A language's `settings()` are what the prepared folder's manifest, checkpoints and model.toml
record as `tokenizer`; `language_from(settings, folder)` rebuilds it (settings without a
`language` key are `events`, as everything made before languages existed). See
docs/tokenizers.md for each language's grid, streaming and measured figures.

May import: `tokenizer`, `config`, `errors`, `files`; MidiTok lazily (the `languages` extra).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from livegen.errors import ConfigError, TokenizerMismatchError
from livegen.languages.base import Language
from livegen.tokenizer import TokenizerConfig

LANGUAGES: tuple[str, ...] = ("events", "remi", "remi-bpe", "triplet")
DEFAULT_LANGUAGE = "events"


def language_name(settings: dict[str, Any]) -> str:
    """The language recorded in a `tokenizer` entry (none recorded: events)."""
    return str(settings.get("language", DEFAULT_LANGUAGE))


def check_name(name: str) -> str:
    if name not in LANGUAGES:
        raise ConfigError(f"unknown token language {name!r}; choose from {', '.join(LANGUAGES)}")
    return name


def new_language(name: str) -> Language:
    """A language with its default settings; remi-bpe must be trained (RemiBpeLanguage.train)."""
    check_name(name)
    if name == "events":
        from livegen.languages.events import EventsLanguage

        return EventsLanguage()
    if name == "triplet":
        from livegen.languages.triplet import TripletLanguage

        return TripletLanguage()
    if name == "remi":
        from livegen.languages.remi import RemiLanguage

        return RemiLanguage()
    raise ConfigError("remi-bpe is learned from data: prepare a folder with --tokenizer remi-bpe")


def refuse_other_language(settings: dict[str, Any], where: str | Path) -> None:
    """The live path (serve, demo, bench --live) and events-only tools stream events: a model of
    another language is refused in one line saying why."""
    name = language_name(settings) if isinstance(settings, dict) else DEFAULT_LANGUAGE
    if name == DEFAULT_LANGUAGE:
        return
    reason = (
        "its tokens write each note's duration at the onset, which a held key does not know yet"
        if name in ("remi", "remi-bpe", "triplet")
        else "only events streams"
    )
    raise TokenizerMismatchError(
        f"{where} speaks the {name} token language; live play needs events ({reason}); "
        "use it with livegen generate or eval"
    )


def language_from(settings: dict[str, Any], folder: str | Path | None = None) -> Language:
    """Rebuild the language a manifest, checkpoint or model.toml recorded; `folder` holds its
    files (remi-bpe's trained tokenizer)."""
    if not isinstance(settings, dict):
        raise TokenizerMismatchError(f"no tokenizer settings (got {settings!r})")
    name = check_name(language_name(settings))
    folder = None if folder is None else Path(folder)
    if name == "events":
        from livegen.languages.events import EventsLanguage
        from livegen.tokenizer import check_compatible

        config = TokenizerConfig.from_dict(settings)
        check_compatible(settings, config)
        return EventsLanguage(config)
    if name == "triplet":
        from livegen.languages.triplet import TripletLanguage

        return TripletLanguage.from_settings(settings)
    if name == "remi":
        from livegen.languages.remi import RemiLanguage

        return RemiLanguage.from_settings(settings, folder)
    from livegen.languages.remi import RemiBpeLanguage

    return RemiBpeLanguage.from_settings(settings, folder)


__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "Language",
    "check_name",
    "language_from",
    "language_name",
    "new_language",
    "refuse_other_language",
]
