"""Recorder: the session file holds both parts in time, the tempo, and no stuck notes."""

from __future__ import annotations

from pathlib import Path

import mido

from livegen.live.recorder import MODEL, PLAYER, Recorder


def test_recording_round_trips_notes_tempo_and_closes_held_notes(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path / "jam.mid")
    recorder.tempo(0, 100.0)
    recorder.add(PLAYER, 0.0, (0x90, 60, 100))
    recorder.add(PLAYER, 11.5, (0x90, 60, 0))  # note-on velocity 0 ends it
    recorder.add(MODEL, 24.0, (0x91, 67, 90))  # never ended: closed at the end
    recorder.add(MODEL, 30.0, (0x81, 50, 0))  # an end without a start is left out
    recorder.add(PLAYER, 40.0, (0xF8,))  # clock bytes are not recorded
    path = recorder.write()
    midi = mido.MidiFile(path)
    assert midi.ticks_per_beat == 480
    tempo = [m for m in midi.tracks[0] if m.type == "set_tempo"]
    assert round(mido.tempo2bpm(tempo[0].tempo)) == 100
    player = [(m.type, m.note, m.velocity) for m in midi.tracks[1] if not m.is_meta]
    assert player == [("note_on", 60, 100), ("note_on", 60, 0)]
    assert sum(m.time for m in midi.tracks[1]) == 230  # 11.5 ticks * 20
    model = [m for m in midi.tracks[2] if not m.is_meta]
    assert [m.type for m in model] == ["note_on", "note_off"]
    assert model[0].channel == 1 and model[0].note == 67


def test_the_file_is_valid_while_playing_and_rewritten_only_with_news(tmp_path: Path) -> None:
    """A kill -9 mid-jam leaves what flush last wrote: a whole MIDI file, at most
    FLUSH_PERIOD_S behind."""
    from livegen.live.recorder import FLUSH_PERIOD_S

    path = tmp_path / "jam.mid"
    recorder = Recorder(path)
    recorder.add(PLAYER, 0.0, (0x90, 60, 100))
    recorder.flush(now_s=100.0)
    assert [m.note for m in mido.MidiFile(path).tracks[1] if m.type == "note_on"] == [60]
    recorder.add(MODEL, 24.0, (0x91, 67, 90))
    recorder.flush(now_s=100.0 + FLUSH_PERIOD_S / 2)  # too soon: unchanged
    assert not [m for m in mido.MidiFile(path).tracks[2] if m.type == "note_on"]
    recorder.flush(now_s=100.0 + FLUSH_PERIOD_S)
    assert [m.note for m in mido.MidiFile(path).tracks[2] if m.type == "note_on"] == [67]


def test_a_session_without_notes_keeps_the_earlier_jam(tmp_path: Path) -> None:
    path = tmp_path / "jam.mid"
    path.write_bytes(b"the earlier jam")
    recorder = Recorder(path)
    recorder.add(PLAYER, 0.0, (0xB0, 1, 64))  # a controller is not a jam
    recorder.flush(now_s=100.0)
    assert recorder.write() is None
    assert path.read_bytes() == b"the earlier jam"


def test_an_unwritable_path_is_refused_when_the_recorder_is_made(tmp_path: Path) -> None:
    import pytest

    from livegen.errors import OutputError

    with pytest.raises(OutputError, match="folder"):
        Recorder(tmp_path)
    with pytest.raises(OutputError, match="cannot write"):
        Recorder("/proc/livegen/jam.mid")
