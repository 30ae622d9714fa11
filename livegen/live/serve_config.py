"""The daemon's settings: a frozen `ServeConfig` from configs/serve/*.toml and `--set` items."""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from livegen.config import from_mapping, read_toml
from livegen.errors import ConfigError
from livegen.live.control import CC_RANGES, Knobs

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs" / "serve"
CLOCKS = ("internal", "external")
ANSWER_STARTS = ("bar", "beat")


@dataclass(frozen=True)
class CallConfig:
    """Call and response: when a phrase is over and when the answer starts."""

    silence_beats: float = 1.0  # a phrase ends after this much silence ...
    end_on_bar_line: bool = True  # ... or at the first bar line with no key held
    answer_start: str = "bar"  # the answer starts on the next "bar" or "beat"

    def __post_init__(self) -> None:
        if self.answer_start not in ANSWER_STARTS:
            raise ConfigError(f"answer_start {self.answer_start!r} not one of bar, beat")
        if not 0.25 <= self.silence_beats <= 16:
            raise ConfigError(f"silence_beats {self.silence_beats} not in 0.25..16")


@dataclass(frozen=True)
class AccompanyConfig:
    """Accompaniment: how far ahead of playback the model's part is planned."""

    lookahead_beats: float = 1.5  # at least one beat, so a slow token never makes a note late
    max_note_beats: float = 4.0  # a note whose end is not generated yet ends after this

    def __post_init__(self) -> None:
        if not 1.0 <= self.lookahead_beats <= 8:
            raise ConfigError(f"lookahead_beats {self.lookahead_beats} not in 1..8")


@dataclass(frozen=True)
class TimingConfig:
    late_ms: float = 5.0  # a note sent later than this after its tick counts as late
    drop_ms: float = 60.0  # ... and later than this is not sent at all
    realtime_priority: bool = True  # ask for SCHED_FIFO (else nice) for the MIDI threads
    start_lead_ms: float = 100.0  # internal clock: first tick this long after start
    # Send notes this much early to make up for MIDI transport latency (clock in + notes out;
    # with JACK about one period each way). 0 = send exactly on the predicted tick.
    latency_ms: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.latency_ms <= 50.0:
            raise ConfigError(f"latency_ms {self.latency_ms} not in 0..50")


@dataclass(frozen=True)
class ServeConfig:
    clock: str = "internal"
    beats_per_bar: int = 4
    backend: str = "auto"
    device: str = "cpu"
    threads: int = 0  # onnxruntime intra-op threads; 0 = the engine's default
    seed: int = 0
    input_channel: int = -1  # -1 = listen on every channel
    prompt: str = ""  # a MIDI file the model continues from ("continue" mode)
    knobs: Knobs = field(default_factory=Knobs)
    call: CallConfig = field(default_factory=CallConfig)
    accompany: AccompanyConfig = field(default_factory=AccompanyConfig)
    timing: TimingConfig = field(default_factory=TimingConfig)
    cc: tuple[tuple[int, str], ...] = ()  # (controller number, knob) pairs

    def __post_init__(self) -> None:
        if self.clock not in CLOCKS:
            raise ConfigError(f"clock {self.clock!r} not one of {', '.join(CLOCKS)}")
        if not 1 <= self.beats_per_bar <= 16:
            raise ConfigError(f"beats_per_bar {self.beats_per_bar} not in 1..16")
        if not -1 <= self.input_channel <= 15:
            raise ConfigError(f"input_channel {self.input_channel} not in -1..15")


def _cc_table(table: Any, where: str) -> tuple[tuple[int, str], ...]:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table of controller = knob")
    pairs = []
    for key, knob in table.items():
        try:
            number = int(key)
        except ValueError as err:
            raise ConfigError(f"{where}: controller {key!r} is not a number 0..127") from err
        if not 0 <= number <= 127:
            raise ConfigError(f"{where}: controller {number} not in 0..127")
        if knob not in CC_RANGES:
            raise ConfigError(
                f"{where}: controller {number} -> {knob!r}; knobs a controller can move: "
                f"{', '.join(CC_RANGES)}"
            )
        pairs.append((number, str(knob)))
    return tuple(sorted(pairs))


def resolve_config_path(name: str | None) -> Path:
    """A config file: a path, or a name under configs/serve/ ("default", "jam.toml")."""
    if not name:
        return CONFIG_DIR / "default.toml"
    path = Path(name)
    if path.exists() or (path.suffix == ".toml" and path.parent != Path(".")):
        return path
    candidate = CONFIG_DIR / (name if name.endswith(".toml") else f"{name}.toml")
    if candidate.exists():
        return candidate
    shipped = ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.toml"))) or "none"
    raise ConfigError(f"serve config {name!r} not found; shipped configs: {shipped}")


def _parse_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text  # a bare word is a string: --set key_lock=A minor


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `--set key=value` items; a knob name alone means knobs.<name>."""
    data = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    knob_names = {f.name for f in dataclasses.fields(Knobs)}
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected key=value, e.g. --set temperature=0.8")
        if "." not in key and key in knob_names:
            key = f"knobs.{key}"
        section, _, name = key.rpartition(".")
        target = data
        if section:
            target = data.setdefault(section, {})
            if not isinstance(target, dict):
                raise ConfigError(f"--set {item!r}: {section!r} is not a section")
        target[name] = _parse_value(text.strip())
    return data


def load_serve_config(name: str | None = None, overrides: list[str] | None = None) -> ServeConfig:
    path = resolve_config_path(name)
    # An installed wheel has no configs/ folder: the built-in defaults stand in for default.toml.
    data = read_toml(path) if name or path.exists() else {}
    data = apply_overrides(data, overrides or [])
    cc = _cc_table(data.pop("cc", {}), f"{path} [cc]")
    config = from_mapping(ServeConfig, data, where=str(path))
    return dataclasses.replace(config, cc=cc)
