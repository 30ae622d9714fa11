"""Presets: knobs and MIDI-learn bindings saved as `configs/serve/<name>.toml` and loaded back.

Layout (shared with the serve config): a `[knobs]` table with `Knobs` fields and a `[cc]` table
mapping controller numbers to knob names. Saving into an existing file keeps its other tables
(ports, clock, ...) so a preset can live in the serve config itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from livegen.config import dump_toml, from_mapping, read_toml, to_mapping
from livegen.errors import ConfigError
from livegen.files import write_atomic
from livegen.live.control import Control
from livegen.live.knobs import Knobs, parse_cc_table

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class Preset:
    """What a preset restores: every knob and every controller binding."""

    knobs: Knobs = field(default_factory=Knobs)
    cc_bindings: dict[int, str] = field(default_factory=dict)


def default_presets_dir() -> Path:
    """Where serve configs live: the checkout's configs/serve, else ./configs/serve."""
    from livegen.live.serve_config import CONFIG_DIR

    return CONFIG_DIR if CONFIG_DIR.is_dir() else Path("configs") / "serve"


def preset_path(directory: str | Path, name: str) -> Path:
    """The file for preset `name`; names are plain words so they cannot escape the folder."""
    name = name.strip().removesuffix(".toml")
    if not _NAME.match(name):
        raise ConfigError(f"preset name {name!r} not allowed; use letters, digits, '-', '_' or '.'")
    return Path(directory) / f"{name}.toml"


def list_presets(directory: str | Path) -> list[str]:
    """Preset names found in `directory`, sorted; a missing folder has none."""
    folder = Path(directory)
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.toml") if not p.name.startswith("."))


def save_preset(path: str | Path, knobs: Knobs, cc_bindings: dict[int, str]) -> Path:
    """Write knobs and bindings to `path` atomically, keeping other tables already in the file."""
    path = Path(path)
    data: dict[str, Any] = read_toml(path) if path.exists() else {}
    data["knobs"] = to_mapping(knobs)
    data["cc"] = {str(cc): knob for cc, knob in sorted(cc_bindings.items())}
    write_atomic(path, dump_toml(data))
    return path


def load_preset(path: str | Path) -> Preset:
    """Read a preset; a bad knob value, unknown knob or bad controller number is a ConfigError."""
    data = read_toml(path)
    knobs = from_mapping(Knobs, data.get("knobs", {}), where=f"{path} [knobs]")
    return Preset(knobs=knobs, cc_bindings=parse_cc_table(data.get("cc", {}), f"{path} [cc]"))


def apply_preset(control: Control, preset: Preset) -> None:
    """Swap in the preset's knobs (one reference swap) and its controller bindings."""
    control.set(**to_mapping(preset.knobs))
    control.cc_bindings = dict(preset.cc_bindings)
