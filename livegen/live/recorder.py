"""Records a live session (the player's notes and the generated part) to a MIDI file.

Times are clock ticks (24 per beat, fractional for the player, whose notes land between ticks);
the file uses 480 ticks per beat and a tempo track taken from the clock. Notes still held at the
end are closed, so the file never holds a stuck note either.

Nothing is lost and nothing is replaced by nothing: the path is checked when the recorder is made
(an unwritable `--record` fails at start, not after the jam); while playing, `flush` rewrites the
file atomically every `FLUSH_PERIOD_S` when something new was recorded, so at every moment the
path holds a valid MIDI file and a `kill -9`, an OOM kill or a crash loses at most the last
seconds; a session that recorded no notes never writes, so an earlier jam at the same path stays.
"""

from __future__ import annotations

import io
import os
import tempfile
import threading
import time
from pathlib import Path

import mido

from livegen.errors import OutputError
from livegen.files import check_output, write_atomic
from livegen.live.clock import TICKS_PER_BEAT
from livegen.music.midi import NOTE_OFF, SYSTEM, is_note_off, is_note_on

FILE_TICKS_PER_BEAT = 480
_SCALE = FILE_TICKS_PER_BEAT // TICKS_PER_BEAT
PLAYER, MODEL = "player", "livegen"
FLUSH_PERIOD_S = 2.0


def check_writable(path: Path) -> None:
    """OutputError now if `path` could not be written later (a folder, no permission, no dir)."""
    target = check_output(path)
    folder = target.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".probe")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise OutputError(f"cannot write the recording {path}: {err.strerror or err}") from err


class Recorder:
    def __init__(self, path: str | Path, beats_per_bar: int = 4) -> None:
        self.path = Path(path)
        check_writable(self.path)
        self.beats_per_bar = beats_per_bar
        self.enabled = True
        self._lock = threading.Lock()
        self._tracks: dict[str, list[tuple[float, tuple[int, ...]]]] = {PLAYER: [], MODEL: []}
        self._tempi: list[tuple[float, float]] = []
        self.written = False
        self._changes = 0  # events added; compared with _flushed to know when to rewrite
        self._flushed = 0
        self._next_flush_s = 0.0

    def add(self, part: str, tick: float, message: tuple[int, ...]) -> None:
        """A note or controller message at a clock tick; `part` is PLAYER or MODEL."""
        if (
            not self.enabled
            or tick < 0
            or not message
            or message[0] < NOTE_OFF
            or message[0] >= SYSTEM
        ):
            return
        with self._lock:
            self._tracks[part].append((tick, tuple(message)))
            self._changes += 1

    def tempo(self, tick: float, bpm: float) -> None:
        with self._lock:
            if not self._tempi or abs(self._tempi[-1][1] - bpm) >= 0.05:
                self._tempi.append((max(0.0, tick), bpm))

    @property
    def note_count(self) -> int:
        with self._lock:
            return sum(1 for t in self._tracks.values() for _, m in t if is_note_on(m))

    def to_midi(self) -> mido.MidiFile:
        with self._lock:
            tracks = {
                name: sorted(events, key=lambda e: e[0]) for name, events in self._tracks.items()
            }
            tempi = list(self._tempi) or [(0.0, 120.0)]
        midi = mido.MidiFile(type=1, ticks_per_beat=FILE_TICKS_PER_BEAT)
        meta = [(0, mido.MetaMessage("track_name", name="tempo", time=0))]
        meta.append(
            (0, mido.MetaMessage("time_signature", numerator=self.beats_per_bar, denominator=4))
        )
        for tick, bpm in tempi:
            meta.append(
                (_file_tick(tick), mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm)))
            )
        midi.tracks.append(_track(meta))
        for name, events in tracks.items():
            rows = [(0, mido.MetaMessage("track_name", name=name, time=0))]
            held: dict[tuple[int, int], int] = {}
            end = 0
            for tick, message in events:
                at = _file_tick(tick)
                end = max(end, at)
                try:
                    msg = mido.Message.from_bytes(list(message))
                except (ValueError, TypeError):
                    continue
                key = (message[0] & 0x0F, message[1]) if len(message) > 1 else None
                if is_note_on(message):
                    held[key] = held.get(key, 0) + 1
                elif is_note_off(message):
                    if not held.get(key):
                        continue  # an off without an on (recording began mid-note)
                    held[key] -= 1
                rows.append((at, msg))
            for (channel, pitch), count in held.items():
                rows.extend(
                    (end + _SCALE, mido.Message("note_off", channel=channel, note=pitch))
                    for _ in range(count)
                )
            midi.tracks.append(_track(rows))
        return midi

    def flush(self, now_s: float | None = None) -> None:
        """Rewrite the file if something was recorded since the last write, at most every
        FLUSH_PERIOD_S (the daemon's main thread calls this as it supervises)."""
        now_s = time.monotonic() if now_s is None else now_s
        if now_s < self._next_flush_s or self._changes == self._flushed:
            return
        self._next_flush_s = now_s + FLUSH_PERIOD_S
        self.write()

    def write(self) -> Path | None:
        """Write the whole recording atomically; None (and nothing written) without a note."""
        changes = self._changes
        if self.note_count == 0:
            self._flushed = changes
            return None
        buffer = io.BytesIO()
        self.to_midi().save(file=buffer)
        write_atomic(self.path, buffer.getvalue())
        self._flushed = changes
        self.written = True
        return self.path


def _file_tick(tick: float) -> int:
    return max(0, round(tick * _SCALE))


def _track(rows: list[tuple[int, mido.Message | mido.MetaMessage]]) -> mido.MidiTrack:
    track = mido.MidiTrack()
    now = 0
    for at, message in sorted(rows, key=lambda r: r[0]):
        track.append(message.copy(time=at - now))
        now = at
    return track
