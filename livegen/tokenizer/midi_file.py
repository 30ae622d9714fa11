"""MIDI files <-> notes in beats, with mido: tempo maps, meters, drums, sustain pedal.

Reading (`read_midi`): types 0 and 1 (2 is read like 1); all tracks merged in time order.
- Times are beats (ticks / ticks_per_beat): tempo-free, like the tokens. The tempo map is kept in
  `Score.tempos` for seconds <-> beats (`Score.seconds_at`, `Score.beat_at`).
- Time signatures are kept (`Score.time_signatures`, `Score.meter()` gives bar lengths in beats
  for the encoder's BAR tokens).
- Parts are MIDI channels (channel 10, i.e. 9 from zero, is drums); a note's program is the
  channel's last program change before it (None when there was none).
- The sustain pedal (CC64 >= 64) is **applied to durations**, not encoded: a key released while
  the pedal is down sounds until the pedal lifts (or the key is struck again), but at most
  `PEDAL_RING_BEATS` past its release, as a piano string dies away: some files press the pedal
  and never lift it (41 of POP909's 829 songs), which would otherwise ring every note for bars
  over every later chord. Performances with pedal thus keep the length you hear, and the token
  language stays notes only.
- Note-ons and note-offs pair within each track (note-on velocity 0 is a note-off; a stray
  note-off is ignored; a key struck again in its track ends the earlier note; notes still open
  at the end close at the last tick). Then one voice per key and channel, as a synth plays
  it and as the tokens hold it: notes of one key starting at the same tick (tracks doubling a
  part on one channel; on-off-on retriggers) are one note with the first velocity and the
  latest end, and a note still sounding when its key starts again ends there (a re-strike
  re-triggers: every tick a key is struck starts a note). `count_note_ons` counts the raw
  note-ons, so what one voice per key folds together can be accounted for.
- Running status is handled by mido; SysEx, pitch bend, other controllers and unknown metas are
  read and ignored. Data bytes above 127 are an error (not clipped): such files are corrupt.
- Anything unreadable raises MidiFileError naming the file and the reason (a truncated file: the
  track it ends in).
- Work per file is bounded. A gap between two onsets (or before the first) longer than
  `MAX_REST_BEATS` is shortened by whole bars of the meter in effect to at most that plus one bar,
  and everything after it moves up (notes, tempos, meters; a note sounding through the gap is
  shortened with it): a valid 37-byte file with a delta of 0x0FFFFFFF ticks would otherwise be
  134 M time-shift tokens. Files over `MAX_FILE_BYTES` are refused.

mido over symusic: symusic parses several times faster, but it pairs notes and reads the pedal
its own way; mido gives us the raw events, needs no compiled code at run time, and its speed is
enough here (see bench/tokenizer_bench.py for notes/s).
"""

from __future__ import annotations

import bisect
import heapq
import io
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from operator import itemgetter
from pathlib import Path

import mido

from livegen.errors import MidiFileError
from livegen.files import write_atomic
from livegen.tokenizer.events import Note

DEFAULT_TEMPO_US = 500_000  # microseconds per beat: 120 bpm, the MIDI default
SUSTAIN_PEDAL = 64  # CC number
PEDAL_DOWN = 64  # CC64 values from here up hold notes
_MIDI_SUFFIXES = (".mid", ".midi", ".smf", ".kar")
PEDAL_RING_BEATS = 4.0  # a key released under the pedal sounds at most this long after (2 s at 120)
MAX_REST_BEATS = 64.0  # longest rest kept between onsets (16 bars of 4/4), plus under one bar
MAX_FILE_BYTES = 32 * 1024 * 1024  # the largest MIDI files in the wild are a few MB


@dataclass(frozen=True)
class Score:
    """A MIDI file's notes in beats, with its tempo map and time signatures."""

    notes: list[Note]
    ticks_per_beat: int = 480
    tempos: tuple[tuple[float, int], ...] = ((0.0, DEFAULT_TEMPO_US),)  # (beat, µs per beat)
    time_signatures: tuple[tuple[float, int, int], ...] = ()  # (beat, numerator, denominator)
    end_beat: float = 0.0
    _seconds: list[float] = field(default_factory=list, repr=False, compare=False)
    _beats: list[float] = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        seconds, elapsed = [], 0.0
        for i, (beat, _tempo) in enumerate(self.tempos):
            if i:
                prev_beat, prev_tempo = self.tempos[i - 1]
                elapsed += (beat - prev_beat) * prev_tempo / 1e6
            seconds.append(elapsed)
        self._seconds.extend(seconds)
        self._beats.extend(beat for beat, _ in self.tempos)

    def meter(self) -> list[tuple[float, float]]:
        """(beat, beats_per_bar) at each time signature, for the encoder's bar lines."""
        return [(beat, num * 4 / den) for beat, num, den in self.time_signatures]

    def seconds_at(self, beat: float) -> float:
        i = max(0, bisect.bisect_right(self._beats, beat) - 1)
        start_beat, tempo = self.tempos[i]
        return self._seconds[i] + (beat - start_beat) * tempo / 1e6

    def beat_at(self, seconds: float) -> float:
        i = max(0, bisect.bisect_right(self._seconds, seconds) - 1)
        start_beat, tempo = self.tempos[i]
        return start_beat + (seconds - self._seconds[i]) * 1e6 / tempo


def _open(path: Path) -> mido.MidiFile:
    if not path.exists():
        raise MidiFileError(f"MIDI file not found: {path}")
    if path.is_dir():
        raise MidiFileError(f"{path} is a folder, not a MIDI file")
    try:
        with path.open("rb") as handle:
            head = handle.read(14)
    except OSError as err:
        raise MidiFileError(f"cannot read {path}: {err.strerror or err}") from err
    if not head:
        raise MidiFileError(f"{path} is empty, not a MIDI file")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise MidiFileError(
            f"{path} is {size / 2**20:.0f} MiB; MIDI files over {MAX_FILE_BYTES // 2**20} MiB "
            "are refused"
        )
    if head[:4] != b"MThd":
        what = "a WAV/RIFF file" if head[:4] == b"RIFF" else "no MThd header"
        raise MidiFileError(f"{path} is not a MIDI file ({what})")
    if len(head) < 14:
        raise MidiFileError(f"{path} is truncated inside its MIDI header")
    header_size, midi_type, declared_tracks, division = struct.unpack(">IHHh", head[4:14])
    if header_size < 6 or header_size > 64 or midi_type > 2:
        raise MidiFileError(
            f"{path} has a corrupt MIDI header (size {header_size}, type {midi_type})"
        )
    if division <= 0:  # negative: SMPTE frames, not beats; zero: no time base at all
        what = "SMPTE time division is not supported" if division else "zero ticks per beat"
        raise MidiFileError(f"{path}: {what}")
    try:
        midi = mido.MidiFile(path, clip=False)
    except (OSError, EOFError, ValueError, KeyError, IndexError, TypeError) as err:
        cut = _cut_track(path, 8 + header_size, declared_tracks)
        if cut is not None:
            raise MidiFileError(f"{path} is truncated: {cut}") from err
        # mido's EOFError and some of its lookups carry no message: name the exception then
        reason = str(err) or f"{type(err).__name__} (the data ends early)"
        raise MidiFileError(f"{path} is not a readable MIDI file: {reason}") from err
    if len(midi.tracks) < declared_tracks:
        # mido stops quietly at the end of the data; a missing track means a cut-off file.
        raise MidiFileError(
            f"{path} is truncated: declares {declared_tracks} tracks, holds {len(midi.tracks)}"
        )
    return midi


def _cut_track(path: Path, offset: int, declared_tracks: int) -> str | None:
    """Which track chunk the file ends inside, said in words; None if every chunk is whole."""
    data = path.read_bytes()
    for track in range(1, declared_tracks + 1):
        if offset + 8 > len(data):
            return f"the data ends before track {track} of {declared_tracks}"
        name, length = struct.unpack(">4sI", data[offset : offset + 8])
        if name != b"MTrk":
            return (
                f"holds {track - 1} of the {declared_tracks} declared tracks, then no track "
                f"at byte {offset}"
            )
        present = len(data) - offset - 8
        if length > present:
            return f"track {track} of {declared_tracks} holds {present} of its {length} bytes"
        offset += 8 + length
    return None


_USED_TYPES = frozenset(
    {"note_on", "note_off", "control_change", "program_change", "set_tempo", "time_signature"}
)


def _timed_messages(tracks: list[mido.MidiTrack]) -> Iterator[tuple[int, int, mido.Message]]:
    """All tracks' messages as (absolute tick, track index, message), in time order, earlier
    tracks first at equal ticks (mido.merge_tracks' order, without copying every message)."""
    timed = []
    for index, track in enumerate(tracks):
        tick = 0
        events = []
        for msg in track:
            tick += msg.time
            events.append((tick, index, msg))
        timed.append(events)
    if len(timed) == 1:
        return iter(timed[0])
    return heapq.merge(*timed, key=itemgetter(0))


def read_midi(path: str | Path) -> Score:
    """Read a standard MIDI file into notes in beats (see the module docstring for the rules)."""
    path = Path(path)
    midi = _open(path)
    tpb = midi.ticks_per_beat

    # Every note in note-on order (file order: _one_voice_per_key keeps the first of a tick) as
    # [channel, pitch, start_tick, end_tick, velocity, program]; the end is set when it closes.
    paired: list[list] = []
    # (track, channel, pitch) -> [its note in `paired`, tick its key was released under the pedal
    # or None while the key is down]
    open_notes: dict[tuple[int, int, int], list] = {}
    pedal = [False] * 16
    programs: dict[int, int] = {}
    tempos: dict[int, int] = {0: DEFAULT_TEMPO_US}
    meters: dict[int, tuple[int, int]] = {}

    ring_ticks = round(PEDAL_RING_BEATS * tpb)

    def close(key: tuple[int, int, int], tick: int) -> None:
        note, released = open_notes.pop(key)
        note[3] = tick if released is None else min(tick, released + ring_ticks)

    tick = 0
    for tick, track, msg in _timed_messages(midi.tracks):
        kind = msg.type
        if kind not in _USED_TYPES:
            continue
        if kind == "note_on" or kind == "note_off":
            key = (track, msg.channel, msg.note)
            held = open_notes.get(key)
            if kind == "note_on" and msg.velocity > 0:
                if held is not None:
                    # A re-strike re-triggers, as on a synth: the sounding note ends here and a
                    # new one starts. Struck again at the tick it began, the earlier note has no
                    # length (no sound); _one_voice_per_key folds it into the new one.
                    close(key, tick)
                note = [msg.channel, msg.note, tick, tick, msg.velocity, programs.get(msg.channel)]
                paired.append(note)
                open_notes[key] = [note, None]
            elif held is not None and held[1] is None:
                if pedal[msg.channel]:
                    held[1] = tick  # released under the pedal: sounds on until it lifts
                else:
                    close(key, tick)
        elif kind == "control_change" and msg.control == SUSTAIN_PEDAL:
            down = msg.value >= PEDAL_DOWN
            if pedal[msg.channel] and not down:
                ch = msg.channel
                for key in [k for k, h in open_notes.items() if k[1] == ch and h[1] is not None]:
                    close(key, tick)
            pedal[msg.channel] = down
        elif kind == "program_change":
            programs[msg.channel] = msg.program
        elif kind == "set_tempo":
            if msg.tempo > 0:
                tempos[tick] = msg.tempo
        elif kind == "time_signature" and msg.numerator > 0 and msg.denominator > 0:
            meters[tick] = (msg.numerator, msg.denominator)
    for key in list(open_notes):
        close(key, tick)
    voiced = _one_voice_per_key(paired)
    meter_map = sorted(meters.items())
    warp = _RestCap(sorted({note[2] for note in voiced}), meter_map, tpb)
    notes = [
        Note(pitch, warp(start), warp(end), velocity, channel, program)
        for channel, pitch, start, end, velocity, program in voiced
    ]
    notes.sort(key=lambda n: (n.start_beat, n.channel, n.pitch))
    return Score(
        notes=notes,
        ticks_per_beat=tpb,
        tempos=_last_per_beat((warp(t), tempo) for t, tempo in sorted(tempos.items())),
        time_signatures=_last_per_beat((warp(t), n, d) for t, (n, d) in meter_map),
        end_beat=warp(tick),
    )


class _RestCap:
    """Ticks -> beats, with every gap between onsets (from tick 0) longer than MAX_REST_BEATS
    shortened by whole bars; a time inside a removed stretch lands on the next onset."""

    def __init__(self, onsets: list[int], meters: list[tuple[int, tuple[int, int]]], tpb: int):
        self._tpb = tpb
        self._gaps: list[tuple[int, int, int]] = []  # (gap start, gap end, ticks removed)
        meter_ticks = [t for t, _ in meters]
        for start, end in pairwise([0, *onsets]):
            if end - start <= MAX_REST_BEATS * tpb:
                continue
            at = bisect.bisect_right(meter_ticks, start) - 1
            num, den = meters[at][1] if at >= 0 else (4, 4)
            bar = num * 4 / den * tpb
            bars = int((end - start - MAX_REST_BEATS * tpb) // bar)
            if bars > 0:
                self._gaps.append((start, end, round(bars * bar)))
        self._starts = [start for start, _, _ in self._gaps]
        self._removed_before: list[int] = []
        total = 0
        for _, _, removed in self._gaps:
            self._removed_before.append(total)
            total += removed

    def __call__(self, tick: int) -> float:
        i = bisect.bisect_right(self._starts, tick) - 1
        if i < 0:
            return tick / self._tpb
        _, end, removed = self._gaps[i]
        shifted = tick - self._removed_before[i]
        if tick >= end:
            shifted -= removed
        else:  # inside the gap: the kept part stays, the removed part collapses to its end
            shifted = min(shifted, end - self._removed_before[i] - removed)
        return shifted / self._tpb


def _last_per_beat(items: Iterable[tuple]) -> tuple:
    """(beat, ...) rows in order, keeping the last of rows that a rest cap moved to one beat."""
    kept: dict[float, tuple] = {}
    for row in items:
        kept[row[0]] = row
    return tuple(kept.values())


def _one_voice_per_key(paired: list[list]) -> list[list]:
    """One sounding note per (channel, pitch), as a synth plays it: notes starting at the same
    tick merge (first velocity, latest end); a note still sounding when the key starts again
    ends there.

    The first velocity, not the re-strike's: live, the StreamingEncoder has already written the
    first note-on's VELOCITY token when a second note-on comes at the same step, and tokens
    cannot be revised; reading keeps the same rule, so a file and its live performance encode
    alike."""
    by_key: dict[tuple[int, int], list[list]] = {}
    for note in paired:
        by_key.setdefault((note[0], note[1]), []).append(note)
    result = []
    for notes in by_key.values():
        notes.sort(key=itemgetter(2))  # stable: note-on order among equal starts
        merged: list[list] = []
        for note in notes:
            if merged and merged[-1][2] == note[2]:
                merged[-1][3] = max(merged[-1][3], note[3])
            else:
                merged.append(list(note))
        for current, following in pairwise(merged):
            current[3] = min(current[3], following[2])
        result.extend(merged)
    return result


@dataclass(frozen=True)
class NoteOnCount:
    """A file's note-on messages (velocity > 0) as the file has them, before any pairing."""

    total: int
    same_tick: int  # repeats of a key (channel, pitch) already struck at the same tick


def count_note_ons(path: str | Path) -> NoteOnCount:
    """Count the note-on messages of a file from its raw events, apart from read_midi's pairing,
    so that a note the reader loses shows as a difference instead of vanishing from the count."""
    total = 0
    struck: set[tuple[int, int, int]] = set()  # (channel, pitch, tick)
    for track in _open(Path(path)).tracks:
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type == "note_on" and msg.velocity > 0:
                total += 1
                struck.add((msg.channel, msg.note, tick))
    return NoteOnCount(total, total - len(struck))


def write_midi(
    notes: Iterable[Note],
    path: str | Path,
    *,
    tempo_bpm: float = 120.0,
    ticks_per_beat: int = 480,
    time_signatures: Sequence[tuple[float, int, int]] = ((0.0, 4, 4),),
    inputs: Iterable[str | Path] = (),
) -> Path:
    """Write notes (in beats) as a type-1 file: a tempo/meter track, then one track per channel.

    Written by livegen.files.write_atomic: atomic over a regular file, never over `inputs`.
    """
    path = Path(path)
    if tempo_bpm <= 0:
        raise ValueError(f"tempo_bpm must be positive, got {tempo_bpm}")
    midi = mido.MidiFile(type=1, ticks_per_beat=ticks_per_beat)
    conductor: list[tuple[int, int, mido.Message | mido.MetaMessage]] = [
        (0, 0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tempo_bpm)))
    ]
    for beat, num, den in time_signatures:
        meta = mido.MetaMessage("time_signature", numerator=num, denominator=den)
        conductor.append((round(beat * ticks_per_beat), 1, meta))
    midi.tracks.append(_track(conductor))

    by_channel: dict[int, list[tuple[int, int, mido.Message]]] = {}
    for note in notes:
        events = by_channel.setdefault(note.channel, [])
        start = round(note.start_beat * ticks_per_beat)
        end = max(start, round(note.end_beat * ticks_per_beat))
        if note.program is not None:
            events.append(
                (
                    start,
                    0,
                    mido.Message("program_change", channel=note.channel, program=note.program),
                )
            )
        velocity = min(max(int(note.velocity), 1), 127)
        events.append(
            (
                start,
                2,
                mido.Message("note_on", channel=note.channel, note=note.pitch, velocity=velocity),
            )
        )
        # Offs sort before ons at the same tick, so a re-struck key is not cut by its own off.
        events.append(
            (end, 1, mido.Message("note_off", channel=note.channel, note=note.pitch, velocity=0))
        )
    for channel in sorted(by_channel):
        events = by_channel[channel]
        # Drop repeated program changes: only changes matter.
        kept, current = [], None
        for item in sorted(events, key=lambda e: (e[0], e[1])):
            if item[2].type == "program_change":
                if item[2].program == current:
                    continue
                current = item[2].program
            kept.append(item)
        midi.tracks.append(_track(kept))
    buffer = io.BytesIO()
    midi.save(file=buffer)
    write_atomic(path, buffer.getvalue(), inputs=inputs)
    return path


def _track(events: list[tuple[int, int, mido.Message | mido.MetaMessage]]) -> mido.MidiTrack:
    track = mido.MidiTrack()
    last = 0
    for tick, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
        track.append(msg.copy(time=tick - last))
        last = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    return track


def is_midi_name(path: str | Path) -> bool:
    """Does the file name look like MIDI (used to pick files from folders)?"""
    return Path(path).suffix.lower() in _MIDI_SUFFIXES
