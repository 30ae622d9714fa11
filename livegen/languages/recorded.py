"""The language a prepared data folder or a model folder recorded, rebuilt with its files."""

from __future__ import annotations

import json
from pathlib import Path

from livegen.config import read_toml
from livegen.errors import ConfigError
from livegen.languages import Language, language_from

MANIFEST = "manifest.json"  # livegen/data/shards.py's name: data imports languages, not back
MODEL_TOML = "model.toml"


def recorded_language(folder: str | Path) -> Language:
    """A prepared folder (manifest.json) or model folder (model.toml): its `tokenizer`."""
    folder = Path(folder)
    if (folder / MANIFEST).is_file():
        try:
            settings = json.loads((folder / MANIFEST).read_text()).get("tokenizer")
        except (OSError, ValueError) as err:
            raise ConfigError(f"{folder / MANIFEST}: unreadable ({err})") from err
    elif (folder / MODEL_TOML).is_file():
        settings = read_toml(folder / MODEL_TOML).get("tokenizer")
    else:
        raise ConfigError(
            f"{folder}: neither a prepared data folder ({MANIFEST}) nor a model folder "
            f"({MODEL_TOML})"
        )
    return language_from(settings, folder)
