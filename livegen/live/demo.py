"""`livegen demo`: a whole jam on a machine with no DAW and no MIDI hardware.

Starts a JACK dummy server if none runs, serves the model on virtual ports, plays a shipped
public-domain prompt into them in real time from a virtual player, records the jam, and renders it
to WAV (peak-normalised) when fluidsynth and a General MIDI soundfont are installed.

The jam is live, so the same --seed does not give the same jam twice: the model samples against
the running clock (no note may start in the past, plans reach only a beat or two ahead) and each
player note discards what was planned beyond it, seeded draws included, at a moment set by thread
timing. Keeping the sampler's state in the rollback checkpoints was tried: runs still differ.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import wave
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np
import rtmidi

from livegen.errors import LivegenError, MidiFileError, ModelLoadError
from livegen.inference.model_dir import DEFAULT_MODEL_DIR
from livegen.live.clock import TICKS_PER_BEAT
from livegen.live.jackserver import JackServer, server_running, start_dummy_server
from livegen.live.ports import find_port
from livegen.live.serve_run import ServeOptions, build_daemon
from livegen.live.signal_mask import stop_signals_held
from livegen.music.midi import ALL_NOTES_OFF, CONTROL_CHANGE, NOTE_OFF, NOTE_ON

log = logging.getLogger("livegen")

PROMPTS_DIR = Path(__file__).parents[1] / "assets" / "prompts"
SOUNDFONTS = (
    Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    Path("/usr/share/sounds/sf2/default-GM.sf2"),
    Path("/usr/share/soundfonts/FluidR3_GM.sf2"),
    Path("/usr/share/soundfonts/default.sf2"),
)
CLIENT = "livegen-demo"
PEAK_DBFS = -1.0  # the jam's loudest sample (fluidsynth's fixed gain leaves it 12-17 dB below)
FULL_SCALE = 32767
WAV_CHUNK_FRAMES = 1 << 16


@dataclass(frozen=True)
class DemoOptions:
    model: str = "default"
    prompt: str | None = None
    mode: str = "accompany"
    seconds: float | None = None
    bars: int = 8
    bpm: float = 100.0
    out_dir: str = "livegen-demo"
    seed: int = 0
    verbose: bool = False  # debug logging (the C libraries' stderr is the CLI's business)


def shipped_prompt() -> Path:
    prompts = sorted(PROMPTS_DIR.glob("*.mid"))
    if not prompts:
        raise MidiFileError(f"no prompt ships in {PROMPTS_DIR}; pass --prompt FILE.mid")
    return prompts[0]


def check_model(model: str) -> None:
    if model == "default" and not (DEFAULT_MODEL_DIR / "model.onnx").exists():
        raise ModelLoadError(
            f"the shipped model is missing ({DEFAULT_MODEL_DIR}); reinstall livegen, or pass "
            "--model PATH to an exported model folder (livegen export)"
        )


def ensure_jack() -> JackServer | None:
    """The running JACK server, or a private dummy one we start (and stop at the end)."""
    if server_running():
        return None
    server = start_dummy_server(f"{CLIENT}-{os.getpid()}")
    os.environ["JACK_DEFAULT_SERVER"] = server.name
    click.echo(f"started a JACK dummy server '{server.name}' (no sound card needed)")
    return server


def prompt_events(path: Path, bars: int, beats_per_bar: int) -> list:
    from livegen.live.serve_run import load_prompt

    limit = bars * beats_per_bar
    events = [e for e in load_prompt(str(path)) if e.beat < limit]
    held: dict[tuple[int, int], int] = {}
    for event in events:
        key = (event.channel, event.pitch)
        held[key] = held.get(key, 0) + (1 if event.velocity else -1)
    # notes still held at the cut end on the last beat, so the player leaves nothing sounding
    from livegen.tokenizer import NoteEvent

    closing = [NoteEvent(limit, p, 0, c) for (c, p), n in held.items() for _ in range(max(0, n))]
    return events + closing


def normalise_wav(src: Path, dst: Path, peak_dbfs: float = PEAK_DBFS) -> float | None:
    """Write `src` (16-bit PCM WAV) to `dst` scaled so its loudest sample is at `peak_dbfs`.

    Returns the gain applied in dB; None (and `dst` a plain copy) for a silent file.
    """
    with wave.open(str(src), "rb") as reader:
        params = reader.getparams()
        if params.sampwidth != 2:
            raise ValueError(f"{src}: {8 * params.sampwidth}-bit WAV; expected 16-bit PCM")
        peak = 0
        while chunk := reader.readframes(WAV_CHUNK_FRAMES):
            samples = np.frombuffer(chunk, dtype="<i2").astype(np.int32)
            peak = max(peak, int(np.abs(samples).max()))
    gain = FULL_SCALE * 10 ** (peak_dbfs / 20) / peak if peak else 1.0
    with wave.open(str(src), "rb") as reader, wave.open(str(dst), "wb") as writer:
        writer.setparams(params)
        while chunk := reader.readframes(WAV_CHUNK_FRAMES):
            samples = np.frombuffer(chunk, dtype="<i2").astype(np.float32) * np.float32(gain)
            writer.writeframes(np.round(samples).astype("<i2").tobytes())
    return 20 * float(np.log10(gain)) if peak else None


def render_wav(midi_path: Path) -> Path | None:
    """fluidsynth's rendering of `midi_path` beside it (.wav), peak-normalised to PEAK_DBFS."""
    fluidsynth = shutil.which("fluidsynth")
    soundfont = next((sf for sf in SOUNDFONTS if sf.exists()), None)
    if fluidsynth is None or soundfont is None:
        click.echo("no WAV: install fluidsynth and fluid-soundfont-gm to render one")
        return None
    wav = midi_path.with_suffix(".wav")
    raw = wav.with_name(f".{wav.name}.raw.wav")
    tmp = wav.with_name(f".{wav.name}.tmp.wav")
    command = [fluidsynth, "-ni", "-q", "-O", "s16", "-F", str(raw), "-r", "44100"]
    try:
        result = subprocess.run(
            [*command, str(soundfont), str(midi_path)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode != 0 or not raw.exists():
            click.echo(f"fluidsynth failed: {result.stderr.strip()[-300:]}")
            return None
        gain_db = normalise_wav(raw, tmp)
        tmp.replace(wav)
    finally:
        raw.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
    if gain_db is not None:
        log.debug("WAV normalised to a %.0f dBFS peak (%+.1f dB)", PEAK_DBFS, gain_db)
    return wav


def run_demo(options: DemoOptions) -> None:
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.DEBUG if options.verbose else logging.INFO,
        format="livegen: %(message)s",
        force=True,
    )
    check_model(options.model)
    prompt = Path(options.prompt) if options.prompt else shipped_prompt()
    out_dir = Path(options.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    record = out_dir / "jam.mid"
    # set before jackd starts: a closed terminal (SIGHUP) ends the demo as Ctrl-C and SIGTERM
    # do, and the finally below stops the server it started (by its PID)
    stop = threading.Event()
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        signal.signal(getattr(signal, name), lambda *_: stop.set())
    server = ensure_jack()
    try:
        beats_per_bar = 4
        events = prompt_events(prompt, options.bars, beats_per_bar)
        if not events:
            raise MidiFileError(f"{prompt}: no notes in the first {options.bars} bars")
        serve = ServeOptions(
            virtual=CLIENT,
            backend="jack",
            model=options.model,
            mode=options.mode,
            bpm=options.bpm,
            seed=options.seed,
            record=str(record),
            headless=True,
            overrides=("timing.start_lead_ms=300",),
        )
        daemon = build_daemon(serve)
        worker = threading.Thread(target=daemon.run, name="livegen-daemon", daemon=True)
        worker.start()
        click.echo(f"playing {prompt.name} ({options.bars} bars at {options.bpm:g} BPM) ...")
        try:
            _play(daemon, events, options, stop)
        finally:
            daemon.request_stop()
            worker.join(15)
        if daemon.error:
            raise LivegenError(daemon.error)
    finally:
        if server is not None:
            server.stop()
    notes = daemon.recorder.note_count if daemon.recorder is not None else 0
    click.echo(f"recorded {notes} notes: {record.resolve()}")
    wav = render_wav(record)
    if wav is not None:
        click.echo(f"rendered: {wav.resolve()}")


def _play(daemon, events: list, options: DemoOptions, stop: threading.Event) -> None:
    """The virtual player: sends the prompt into the daemon's input on the daemon's clock."""
    with stop_signals_held():  # a stop signal during the opening is handled after it
        player = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name=f"{CLIENT}-player")
    try:
        with stop_signals_held():
            player.open_port(find_port(player.get_ports(), f"{CLIENT}:in", "output"))
        while daemon.clock.timeline is None and not stop.is_set():
            time.sleep(0.01)
        line = daemon.clock.timeline
        if line is None:  # stopped before the stream started
            return
        start_tick = TICKS_PER_BEAT * 4  # one bar of count-in
        deadline = time.monotonic() + options.seconds if options.seconds else None
        for event in events:
            at_ns = line.tick_to_ns(start_tick + event.beat * TICKS_PER_BEAT)
            while not stop.is_set():
                wait_ns = at_ns - time.monotonic_ns()
                if wait_ns <= 0:
                    break
                time.sleep(min(wait_ns / 1e9, 0.05))
            if stop.is_set() or (deadline is not None and time.monotonic() > deadline):
                break
            status = (NOTE_ON if event.velocity else NOTE_OFF) | event.channel
            player.send_message([status, event.pitch, event.velocity])
        for channel in range(16):  # leave nothing of the player's sounding either
            player.send_message([CONTROL_CHANGE | channel, ALL_NOTES_OFF, 0])
        # let the model finish its phrase: one more bar
        tail_s = 4 * 60.0 / options.bpm
        stop.wait(
            tail_s if deadline is None else max(0.0, min(tail_s, deadline - time.monotonic()))
        )
    finally:
        with stop_signals_held():
            player.delete()
