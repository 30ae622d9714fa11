"""The daemon's settings: a frozen `ServeConfig` from configs/serve/*.toml and `--set` items."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from livegen.config import from_mapping, parse_set, read_toml
from livegen.errors import ConfigError
from livegen.live.knobs import KNOB_NAMES, Knobs, parse_cc_table
from livegen.live.parts import parse_parts

_HERE = Path(__file__).resolve()
# The checkout's configs/serve; an installed wheel carries the same files as package data in
# livegen/configs/serve (pyproject.toml maps the checkout's configs/ folder there).
CONFIG_DIR = next(
    (d for d in (_HERE.parents[2] / "configs" / "serve", _HERE.parents[1] / "configs" / "serve")
     if d.is_dir()),
    _HERE.parents[2] / "configs" / "serve",
)  # fmt: skip
CLOCKS = ("internal", "external")
ANSWER_STARTS = ("bar", "beat")
MAX_LATENCY_MS = 50.0  # timing.latency_ms: a MIDI path slower than this is broken, not slow


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
        if not 0.25 <= self.max_note_beats <= 64:
            raise ConfigError(f"max_note_beats {self.max_note_beats} not in 0.25..64")


@dataclass(frozen=True)
class TimingConfig:
    late_ms: float = 5.0  # a note sent later than this after its tick counts as late
    drop_ms: float = 60.0  # ... and later than this is not sent at all
    realtime_priority: bool = True  # ask for SCHED_FIFO (else nice) for the MIDI threads
    start_lead_ms: float = 100.0  # internal clock: first tick this long after start
    # Send notes this much early to make up for MIDI transport latency (clock in + notes out;
    # with JACK about one period each way). 0 = send exactly on the predicted tick.
    latency_ms: float = 0.0
    # The model writes its part this far ahead of sending, the rest as time passes (every player
    # note throws away what is written past it). Longer rides out slower tokens, costs more CPU;
    # always at least up to the first step a note written now can still go out on.
    write_ahead_ms: float = 50.0
    # A note the model starts after a re-plan is due no sooner than this after now (plus the
    # output's hand-off window and latency_ms): the time to write its tokens and hand it over.
    # Sooner, it went out late (stop 23: every late onset of the live bench was one).
    plan_margin_ms: float = 4.0

    def __post_init__(self) -> None:
        if not 10.0 <= self.write_ahead_ms <= 5000.0:
            raise ConfigError(f"write_ahead_ms {self.write_ahead_ms} not in 10..5000")
        if not 0.0 <= self.plan_margin_ms <= 100.0:
            raise ConfigError(f"plan_margin_ms {self.plan_margin_ms} not in 0..100")
        if not 0.0 <= self.latency_ms <= MAX_LATENCY_MS:
            raise ConfigError(f"latency_ms {self.latency_ms} not in 0..{MAX_LATENCY_MS:g}")
        if not 0.0 <= self.late_ms <= 1000.0:
            raise ConfigError(f"late_ms {self.late_ms} not in 0..1000")
        if not self.late_ms <= self.drop_ms <= 1000.0:  # a note is late before it is dropped
            raise ConfigError(f"drop_ms {self.drop_ms} not in late_ms ({self.late_ms})..1000")
        if not 0.0 <= self.start_lead_ms <= 10_000.0:
            raise ConfigError(f"start_lead_ms {self.start_lead_ms} not in 0..10000")


VARY_METHODS = ("", "vae", "ddim", "ddpm")


@dataclass(frozen=True)
class VaryConfig:
    """The live vary move (livegen/live/vary_move.py): what comes back varied, how, on what."""

    bars: int = 1  # the player's last bars that come back varied
    method: str = ""  # "" = the model's own (vae; ddim for a ddpm), else vae | ddim | ddpm
    strength: float = 0.5  # 0 = as played (vae: its reconstruction), 1 = from noise
    steps: int = 10  # diffusion steps (ddim, ddpm)
    cc: int = 80  # pressing this controller (value >= 64) varies; -1 = none. 80: a GP button
    channel: int = -1  # 0-based MIDI channel of the variation; -1 = the output_channel knob
    # Same feel, different notes: only pitches and velocities vary; onsets and lengths stay the
    # player's (short-trained models drift off the grid, most of all towards chords)
    keep_rhythm: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.bars <= 8:
            raise ConfigError(f"vary.bars {self.bars} not in 1..8")
        if self.method not in VARY_METHODS:
            raise ConfigError(f"vary.method {self.method!r} not one of vae, ddim, ddpm (or '')")
        if not 0.0 <= self.strength <= 1.0:
            raise ConfigError(f"vary.strength {self.strength} not in 0..1")
        if not 1 <= self.steps <= 1000:
            raise ConfigError(f"vary.steps {self.steps} not in 1..1000")
        if not -1 <= self.cc <= 127:
            raise ConfigError(f"vary.cc {self.cc} not in -1..127 (-1 = none)")
        if not -1 <= self.channel <= 15:
            raise ConfigError(f"vary.channel {self.channel} not in -1..15 (-1 = output_channel)")


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
    model: str = "default"  # a model folder, or "default" for the shipped one
    parts: str = ""  # the band the model plays, e.g. "bass:33,drums,keys:1" (livegen.live.parts)
    vary_model: str = ""  # an exported vae/ddpm folder for the vary move; "" = none
    knobs: Knobs = field(default_factory=Knobs)
    call: CallConfig = field(default_factory=CallConfig)
    accompany: AccompanyConfig = field(default_factory=AccompanyConfig)
    timing: TimingConfig = field(default_factory=TimingConfig)
    vary: VaryConfig = field(default_factory=VaryConfig)
    cc: tuple[tuple[int, str], ...] = ()  # (controller number, knob) pairs

    def __post_init__(self) -> None:
        if self.clock not in CLOCKS:
            raise ConfigError(f"clock {self.clock!r} not one of {', '.join(CLOCKS)}")
        if not 1 <= self.beats_per_bar <= 16:
            raise ConfigError(f"beats_per_bar {self.beats_per_bar} not in 1..16")
        if not -1 <= self.input_channel <= 15:
            raise ConfigError(f"input_channel {self.input_channel} not in -1..15")
        if not 0 <= self.threads <= 256:
            raise ConfigError(f"threads {self.threads} not in 0..256 (0 = the engine's default)")
        parse_parts(self.parts)
        bound = dict(self.cc).get(self.vary.cc)
        if bound is not None:  # the vary press would take the controller from the knob
            raise ConfigError(
                f"controller {self.vary.cc} is both vary.cc and bound to {bound!r} in [cc]; "
                "move one of them (vary.cc = -1: no vary controller)"
            )


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


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `--set key=value` items; a knob name alone means knobs.<name>."""
    data = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    for item in overrides:
        key, value = parse_set(item, "key=value, e.g. --set temperature=0.8")
        if "." not in key and key in KNOB_NAMES:
            key = f"knobs.{key}"
        section, _, name = key.rpartition(".")
        target = data
        if section:
            target = data.setdefault(section, {})
            if not isinstance(target, dict):
                raise ConfigError(f"--set {item!r}: {section!r} is not a section")
        target[name] = value
    return data


def load_serve_config(name: str | None = None, overrides: list[str] | None = None) -> ServeConfig:
    path = resolve_config_path(name)
    # An installed wheel has no configs/ folder: the built-in defaults stand in for default.toml.
    base = read_toml(path) if name or path.exists() else {}
    data = apply_overrides(base, overrides or [])
    cc = tuple(sorted(parse_cc_table(data.pop("cc", {}), f"{path} [cc]").items()))
    try:
        config = from_mapping(ServeConfig, data, where=str(path))
    except ConfigError as err:
        _blame_override(base, overrides or [], path)
        raise err
    return dataclasses.replace(config, cc=cc)


def _blame_override(base: dict[str, Any], overrides: list[str], path: Path) -> None:
    """ConfigError naming the first `--set` that alone makes `base` invalid, if one does."""
    for item in overrides:
        data = apply_overrides(base, [item])
        data.pop("cc", None)
        try:
            from_mapping(ServeConfig, data, where=str(path))
        except ConfigError as err:
            reason = str(err).removeprefix(f"{path}: ").removeprefix(f"{path} ")
            raise ConfigError(f"--set {item}: {reason}") from err
