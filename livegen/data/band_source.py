"""`livegen data render-band`: POP909 songs with a band (drums, bass, chords) rendered by mma.

For each song NNN of POP909 the chord labels (chords/NNN.txt) become an mma chart on the song's
own beat grid and 4/4 bar lines (data/band_chart.py) in a groove picked by song number, Debian's
`mma` renders it, and the rendered drums (channel 10), bass and chord tracks join POP909's MELODY
and BRIDGE tracks, copied note for note; POP909's PIANO is left out, as mma's bass and chord
tracks take its place (and the pop909 collection already teaches the piano).

Time. mma's tracks are placed beat for beat on the song's grid (mma's tempo does not matter), and
the song keeps its own tempo map, so a band part follows the song's tempo changes. Everything is
moved later by under one beat so the song's beats fall on whole beats of the file (POP909's grid
is off tick 0 by a fraction of a beat), with a pickup bar and then 4/4 time signatures on the bar
lines. The output is laid out as POP909 is (OUT/midi/NNN.mid with OUT/chords/NNN.txt and
OUT/keys/NNN.txt, the labels moved by the same seconds), so `data prepare --source
band=OUT/midi` takes the KEY and CHORD tokens from the labels and puts song NNN in the same
train/val/test split as POP909's own NNN.mid (the split hashes the file's path in its source).

Licence: mma is GPL-2 and its output is built from its groove library, so the rendered files are
synthetic, GPL-2-derived accompaniment: training data only, never shipped with livegen.
"""

from __future__ import annotations

import io
import multiprocessing
import shutil
import subprocess
import tempfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import mido

from livegen.data.band_chart import (
    BEATS_PER_BAR,
    BeatGrid,
    TempoMap,
    beat_grid,
    chart_text,
    read_chord_labels,
)
from livegen.errors import ConfigError, LivegenError, MidiFileError
from livegen.files import write_atomic

# Pop, rock, ballad, soul and funk grooves of mma's standard library, all 4/4 with straight
# eighths and sixteenths as POP909 is (RockBallad and JazzRock play triplets, so they are not here).
DEFAULT_GROOVES: tuple[str, ...] = (
    "8Beat",
    "SoftRock",
    "PopBallad",
    "Ballad",
    "BasicRock",
    "R&B",
    "DSoul",
    "BVFunk",
    "FolkRock",
    "60sRock",
)
DRUM_CHANNEL = 9
MELODY_CHANNEL, BRIDGE_CHANNEL = 0, 1  # POP909's MELODY and BRIDGE tracks; PIANO (2) is left out
# GM programs (from zero): the sung line as "Voice Oohs", the secondary melody as POP909's piano.
KEPT_PROGRAMS: dict[int, int] = {MELODY_CHANNEL: 53, BRIDGE_CHANNEL: 0}
# Channels for mma's pitched tracks, in the order they appear (drums keep channel 10).
BAND_CHANNELS: tuple[int, ...] = (2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15)
MMA_TIMEOUT_S = 120
MMA_MAX_BARS = 5000  # mma refuses charts over 500 bars by default
_KEPT_KINDS = {"note_on", "note_off", "control_change", "pitchwheel", "program_change"}


class RenderError(LivegenError, RuntimeError):
    """mma is missing, or failed on a chart: says which and why, on one line."""


@dataclass(frozen=True)
class SongResult:
    song: str
    written: bool = False
    cached: bool = False
    reason: str | None = None  # why the song was skipped


@dataclass
class BandReport:
    results: list[SongResult] = field(default_factory=list)

    @property
    def written(self) -> list[str]:
        return [r.song for r in self.results if r.written]

    @property
    def cached(self) -> list[str]:
        return [r.song for r in self.results if r.cached]

    @property
    def skipped(self) -> list[tuple[str, str]]:
        return [(r.song, r.reason) for r in self.results if r.reason is not None]


def mma_command() -> str:
    """The mma executable, or RenderError with how to install it."""
    found = shutil.which("mma")
    if found is None:
        raise RenderError("mma is not installed (apt-get install mma)")
    return found


def run_mma(chart: str, out_mid: Path) -> mido.MidiFile:
    """Render an mma chart to `out_mid` and read it back; RenderError with mma's own error line."""
    chart_path = out_mid.with_suffix(".mma")
    chart_path.write_text(chart)
    command = [mma_command(), "-w", "-m", str(MMA_MAX_BARS), "-f", str(out_mid), str(chart_path)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=MMA_TIMEOUT_S)
    except subprocess.TimeoutExpired as err:
        raise RenderError(f"mma took over {MMA_TIMEOUT_S} s") from err
    if done.returncode != 0 or not out_mid.is_file():
        # mma's message starts at "Error:" and may wrap onto indented lines
        text = done.stdout + done.stderr
        _, found, message = text.partition("Error:")
        message = " ".join(message.split()) if found else f"exit status {done.returncode}"
        raise RenderError(f"mma: {message}")
    return mido.MidiFile(out_mid)


def check_grooves(grooves: Sequence[str]) -> None:
    """ConfigError naming the first groove mma does not know (one bar of each is rendered)."""
    if not grooves:
        raise ConfigError("--grooves: give at least one mma groove, e.g. 8Beat,PopBallad")
    with tempfile.TemporaryDirectory() as tmp:
        for groove in grooves:
            chart = chart_text([], 0, 1, groove=groove, tempo_bpm=120.0, seed=0)
            try:
                run_mma(chart, Path(tmp) / "groove.mid")
            except RenderError as err:
                if "not installed" in str(err):
                    raise
                raise ConfigError(
                    f"--grooves: mma cannot play groove {groove!r} ({err}); its grooves are "
                    "the DefGroove names under /usr/share/mma/lib, e.g. "
                    + ", ".join(DEFAULT_GROOVES[:4])
                ) from err


def groove_for(song: str, grooves: Sequence[str]) -> str:
    """The song's groove: by song number (NNN), so a song renders the same groove every time."""
    number = int(song) if song.isdigit() else zlib.crc32(song.encode())
    return grooves[number % len(grooves)]


def pop909_songs(root: Path) -> list[str]:
    """The song names (NNN) of POP909's midi/ folder, sorted; ConfigError if there are none."""
    songs = sorted(p.stem for p in (root / "midi").glob("*.mid"))
    if not songs:
        raise ConfigError(f"{root}: no POP909 songs (expected {root / 'midi'}/NNN.mid)")
    return songs


def render_song(job: tuple[str, str, str, str]) -> SongResult:
    """Render one song (job: POP909 root, output root, song, groove); a failure is a reason."""
    root, out, song, groove = (Path(job[0]), Path(job[1]), job[2], job[3])
    if (out / "midi" / f"{song}.mid").is_file():
        return SongResult(song, cached=True)
    try:
        render_band_song(root, out, song, groove)
    except (LivegenError, OSError, ValueError, EOFError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        return SongResult(song, reason=reason)
    return SongResult(song, written=True)


def render_band_song(root: Path, out: Path, song: str, groove: str) -> Path:
    """Write out/midi/SONG.mid (and its moved labels) from POP909's SONG; returns the MIDI path."""
    midi_path = root / "midi" / f"{song}.mid"
    try:
        source = mido.MidiFile(midi_path)
    except (OSError, ValueError, EOFError) as err:
        raise MidiFileError(f"{midi_path}: not a readable MIDI file ({err})") from err
    spans = read_chord_labels(root / "chords" / f"{song}.txt")
    keys_path = root / "keys" / f"{song}.txt"
    tempo = TempoMap(source)
    grid, on_grid = beat_grid(spans, tempo)
    placement = _Placement.of(source, grid)
    chart = chart_text(
        on_grid,
        placement.first_bar_beat,
        placement.bars,
        groove=groove,
        tempo_bpm=tempo.first_bpm,
        seed=int(song) if song.isdigit() else 0,
    )
    with tempfile.TemporaryDirectory() as tmp:
        band = run_mma(chart, Path(tmp) / f"{song}.mid")
    merged = _merge(source, band, placement, f"POP909 {song} with mma groove {groove}")
    shift_s = placement.shift_ticks / source.ticks_per_beat * 60.0 / tempo.first_bpm
    _write_moved_labels(root / "chords" / f"{song}.txt", out / "chords" / f"{song}.txt", shift_s)
    if keys_path.is_file():
        _write_moved_labels(keys_path, out / "keys" / f"{song}.txt", shift_s)
    buffer = io.BytesIO()
    merged.save(file=buffer)
    target = out / "midi" / f"{song}.mid"
    target.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(target, buffer.getvalue(), inputs=[midi_path])


@dataclass(frozen=True)
class _Placement:
    """Where the chart goes: source tick t is output tick t + shift_ticks; music beat k is output
    beat k + base; the chart's bar 1 starts at music beat first_bar_beat and runs `bars` bars."""

    ticks_per_beat: int
    shift_ticks: int
    base: int
    first_bar_beat: int
    bars: int
    bar_phase: int

    @classmethod
    def of(cls, source: mido.MidiFile, grid: BeatGrid) -> _Placement:
        tpb = source.ticks_per_beat
        late_beats = (1.0 - grid.offset_beats) % 1.0
        shift = round(late_beats * tpb) % tpb
        base = round(grid.offset_beats + late_beats)  # music beat 0 lands on output beat 0 or 1
        onsets, ends = [], []
        for track in source.tracks:
            tick = 0
            for msg in track:
                tick += msg.time
                if msg.type == "note_on" and msg.velocity > 0:
                    onsets.append(tick)
                elif msg.type in ("note_on", "note_off"):
                    ends.append(tick)
        if not onsets:
            raise MidiFileError("the song has no notes")
        first_beat = max(int((min(onsets) / tpb - grid.offset_beats) // 1), -base)
        last_beat = -int(-(max(ends + onsets) / tpb - grid.offset_beats) // 1)
        first_bar = first_beat - (first_beat - grid.bar_phase) % BEATS_PER_BAR
        bars = max(1, -(-(last_beat - first_bar) // BEATS_PER_BAR))
        return cls(tpb, shift, base, first_bar, bars, grid.bar_phase)

    def band_tick(self, band_ticks: int, band_tpb: int) -> int:
        """Output tick of a tick of mma's file (its bar 1 is music beat first_bar_beat)."""
        return round(
            (self.first_bar_beat + self.base + band_ticks / band_tpb) * self.ticks_per_beat
        )

    def time_signatures(self) -> list[tuple[int, int]]:
        """(output tick, beats) of the bars: a pickup bar if the first downbeat is not at 0."""
        lead = (self.bar_phase + self.base) % BEATS_PER_BAR
        if lead == 0:
            return [(0, BEATS_PER_BAR)]
        return [(0, lead), (lead * self.ticks_per_beat, BEATS_PER_BAR)]


def _absolute(track: mido.MidiTrack) -> list[tuple[int, mido.Message]]:
    timed, tick = [], 0
    for msg in track:
        tick += msg.time
        timed.append((tick, msg))
    return timed


def _as_track(name: str, events: list[tuple[int, int, mido.Message]]) -> mido.MidiTrack:
    """A track from (tick, order, message) events: order breaks ties (offs before ons).

    The messages must be this track's own copies: their times are set in place (a second
    copy per message was half of a song's rendering time).
    """
    track = mido.MidiTrack([mido.MetaMessage("track_name", name=name, time=0)])
    last = 0
    for tick, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
        msg.time = tick - last
        track.append(msg)
        last = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    return track


def _order(msg: mido.Message) -> int:
    if msg.type == "program_change":
        return 0
    if msg.type == "note_off" or (msg.type == "note_on" and msg.velocity == 0):
        return 1
    return 2 if msg.type != "note_on" else 3


def _merge(
    source: mido.MidiFile, band: mido.MidiFile, place: _Placement, title: str
) -> mido.MidiFile:
    tpb = source.ticks_per_beat
    merged = mido.MidiFile(type=1, ticks_per_beat=tpb)
    conductor = [(0, 0, mido.MetaMessage("text", text=title))]
    for track in source.tracks:
        for tick, msg in _absolute(track):
            if msg.type == "set_tempo":
                conductor.append((tick + place.shift_ticks if tick else 0, 1, msg.copy()))
    for tick, beats in place.time_signatures():
        meta = mido.MetaMessage("time_signature", numerator=beats, denominator=4)
        conductor.append((tick, 2, meta))
    merged.tracks.append(_as_track("livegen band", conductor))

    for channel, program in KEPT_PROGRAMS.items():
        events = [(0, 0, mido.Message("program_change", channel=channel, program=program))]
        for track in source.tracks:
            for tick, msg in _absolute(track):
                kept = msg.type in _KEPT_KINDS and msg.type != "program_change"
                if kept and msg.channel == channel:
                    events.append((tick + place.shift_ticks, _order(msg), msg.copy()))
        if len(events) > 1:
            name = "MELODY" if channel == MELODY_CHANNEL else "BRIDGE"
            merged.tracks.append(_as_track(name, events))

    channels: dict[int, int] = {DRUM_CHANNEL: DRUM_CHANNEL}
    free = iter(BAND_CHANNELS)
    for track in band.tracks:
        events, dropped = [], set()
        for band_tick, msg in _absolute(track):
            if msg.type not in _KEPT_KINDS:
                continue
            if msg.channel not in channels:
                channel = next(free, None)
                if channel is None:
                    raise RenderError("mma wrote more pitched tracks than there are channels")
                channels[msg.channel] = channel
            msg = msg.copy(channel=channels[msg.channel])
            tick = place.band_tick(band_tick, band.ticks_per_beat)
            key = (msg.channel, getattr(msg, "note", None))
            if msg.type == "note_on" and msg.velocity > 0:
                if tick < 0:  # before the file starts: the whole note goes
                    dropped.add(key)
                    continue
                dropped.discard(key)
            elif msg.type in ("note_on", "note_off") and key in dropped:
                dropped.discard(key)
                continue
            events.append((max(tick, 0), _order(msg), msg))
        if any(msg.type == "note_on" for _, _, msg in events):
            merged.tracks.append(_as_track(track.name or "mma", events))
    return merged


def _write_moved_labels(source: Path, target: Path, shift_s: float) -> None:
    """A copy of POP909's `start<TAB>end<TAB>label` file with both times `shift_s` later."""
    lines = []
    for line in source.read_text().splitlines():
        parts = line.split("\t")
        if len(parts) == 3:
            start, end = float(parts[0]) + shift_s, float(parts[1]) + shift_s
            lines.append(f"{start:.6f}\t{end:.6f}\t{parts[2]}")
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(target, "\n".join(lines) + "\n")


def render_band(
    root: str | Path,
    out: str | Path,
    grooves: Sequence[str] = DEFAULT_GROOVES,
    *,
    limit: int | None = None,
    workers: int = 1,
    progress: bool = True,
) -> BandReport:
    """Render POP909's songs (the first `limit`) into `out`; finished songs are skipped."""
    from livegen.data.progress import progress_bar

    mma_command()
    root, out = Path(root), Path(out)
    check_grooves(grooves)
    songs = pop909_songs(root)[:limit]
    jobs = [(str(root), str(out), song, groove_for(song, grooves)) for song in songs]
    report = BandReport()
    bar = progress_bar(len(jobs), "POP909 + mma band", unit="songs", enabled=progress)
    if workers <= 1:
        results = map(render_song, jobs)
        for result in results:
            report.results.append(result)
            bar.update()
    else:
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(workers) as pool:
            for result in pool.imap_unordered(render_song, jobs, chunksize=4):
                report.results.append(result)
                bar.update()
    bar.close()
    report.results.sort(key=lambda r: r.song)
    return report
