"""Builds a running daemon from the command line's choices: config, model, ports, clock, UI.

`run_serve` is what `livegen serve` and `livegen demo` call. Signal handlers only set the
daemon's stop event; the daemon's shutdown then silences every note and writes the recording.
"""

from __future__ import annotations

import logging
import queue
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from livegen.errors import LivegenError, MidiFileError, ModelLoadError
from livegen.files import check_writable
from livegen.live.clock import Clock, InternalClock, MidiClockFollower
from livegen.live.control import Control
from livegen.live.daemon import Daemon
from livegen.live.parts import parse_parts
from livegen.live.ports import InputItem, open_ports
from livegen.live.recorder import Recorder
from livegen.live.serve_config import ServeConfig, load_serve_config
from livegen.live.vary_move import VaryMove

log = logging.getLogger("livegen")


@dataclass(frozen=True)
class ServeOptions:
    """What the command line says; None = take it from the config file."""

    port: str | None = None
    in_port: str | None = None
    out_port: str | None = None
    virtual: str | None = None
    backend: str | None = None
    model: str | None = None
    mode: str | None = None
    clock: str | None = None
    bpm: float | None = None
    seed: int | None = None
    record: str | None = None
    headless: bool = False
    config: str | None = None
    overrides: tuple[str, ...] = ()
    prompt: str | None = None
    seconds: float | None = None  # stop by itself after this long (demo, tests)
    stats_json: str | None = None  # write timing numbers here at exit (livegen bench --live)


def build_config(options: ServeOptions) -> ServeConfig:
    overrides = list(options.overrides)
    for key, value in (
        ("mode", options.mode),
        ("bpm", options.bpm),
    ):
        if value is not None:
            overrides.append(f"knobs.{key}={_toml(value)}")
    for key, value in (
        ("clock", options.clock),
        ("seed", options.seed),
        ("backend", options.backend),
        ("prompt", options.prompt),
        ("model", options.model),
    ):
        if value is not None:
            overrides.append(f"{key}={_toml(value)}")
    return load_serve_config(options.config, overrides)


def _toml(value: object) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


def load_prompt(path: str, steps_per_beat: int = 24) -> list:
    """A MIDI file as the time-ordered note events a player would send."""
    from livegen.tokenizer import TokenizerConfig, note_events
    from livegen.tokenizer.midi_file import read_midi

    score = read_midi(path)
    if not score.notes:
        raise MidiFileError(f"{path}: the prompt has no notes")
    return note_events(score.notes, TokenizerConfig())


def make_performer(config: ServeConfig):  # -> LiveSession
    from livegen.inference.engine import Engine
    from livegen.live.live_session import LiveSession

    try:
        engine = Engine.load(config.model, device=config.device, threads=config.threads or None)
    except LivegenError:
        raise
    except Exception as err:  # anything else a broken model folder can raise
        raise ModelLoadError(f"model {config.model!r} cannot be loaded: {err}") from err
    prompt = load_prompt(config.prompt) if config.prompt else None
    return LiveSession(
        engine,
        beats_per_bar=config.beats_per_bar,
        seed=config.seed,
        prompt=prompt,
        lookahead_beats=config.accompany.lookahead_beats,
        max_note_beats=config.accompany.max_note_beats,
        call_silence_beats=config.call.silence_beats,
        call_end_on_bar_line=config.call.end_on_bar_line,
        call_answer_start=config.call.answer_start,
        write_ahead_ms=config.timing.write_ahead_ms,
        plan_margin_ms=config.timing.plan_margin_ms,
        parts=parse_parts(config.parts),
    )


def build_daemon(options: ServeOptions, config: ServeConfig | None = None) -> Daemon:
    """Everything but running: a model that fails to load or a bad port is one clear error."""
    if options.stats_json:  # written at exit: a path that cannot be written fails now
        check_writable(options.stats_json)
    config = config or build_config(options)
    performer = make_performer(config)
    vary = VaryMove.load(
        config.vary_model, config.vary, beats_per_bar=config.beats_per_bar, seed=config.seed
    )
    inbox: queue.SimpleQueue[InputItem] = queue.SimpleQueue()
    ports = open_ports(
        inbox,
        backend=config.backend,
        port=options.port,
        in_port=options.in_port,
        out_port=options.out_port,
        virtual=options.virtual,
    )
    clock: Clock = (
        MidiClockFollower() if config.clock == "external" else InternalClock(config.knobs.bpm)
    )
    recorder = Recorder(options.record, config.beats_per_bar) if options.record else None
    control = Control(config.knobs)
    return Daemon(
        config,
        control,
        ports,
        clock,
        inbox,
        performer=performer,
        recorder=recorder,
        stats_path=options.stats_json,
        vary=vary,
    )


def run_serve(options: ServeOptions) -> int:
    """Serve until quit/SIGINT/SIGTERM (or `options.seconds`); returns the exit code."""
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="livegen: %(message)s", force=True
    )
    daemon = build_daemon(options)
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), daemon.request_stop)
    if options.seconds is not None:
        timer = threading.Timer(options.seconds, daemon.request_stop)
        timer.daemon = True
        timer.start()
    tui = None if options.headless or not sys.stdout.isatty() else _tui()
    if tui is None:
        code = daemon.run()
    else:
        worker = threading.Thread(target=daemon.run, name="livegen-supervisor", daemon=True)
        worker.start()
        try:
            tui(daemon.control, daemon.stop_event, beats_per_bar=daemon.config.beats_per_bar)
        finally:
            daemon.request_stop()
            worker.join(10)
        code = daemon.exit_code
    if daemon.error:
        log.error(daemon.error)
    if daemon.recorder is not None and daemon.recorder.written:
        log.info("recording: %s", Path(daemon.recorder.path).resolve())
    return code


def _tui():
    try:
        from livegen.tui import run_tui
    except ImportError:
        return None
    return run_tui
