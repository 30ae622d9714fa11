"""Real MIDI files through the tokenizer, corrupt files refused by name, and the reader's rules."""

from __future__ import annotations

import random
import re
import shutil
from pathlib import Path

import mido
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizer_testdata import CORRUPT_DIR, corrupt_files, midi_files, score_of

from livegen.errors import MidiFileError
from livegen.tokenizer import (
    Grammar,
    Note,
    StreamingEncoder,
    TokenizerConfig,
    Vocab,
    encode_notes,
    note_events,
    read_midi,
    round_trip,
    write_midi,
)
from livegen.tokenizer.midi_file import PEDAL_RING_BEATS

CONFIG = TokenizerConfig()
VOCAB = Vocab(CONFIG)
FILES = midi_files()


def test_the_shared_test_folder_is_there() -> None:
    assert len(FILES) >= 60, "expected the MIDI files in ../shared/testdata/midi (LIVEGEN_TESTDATA)"


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_round_trip_keeps_notes(path: Path) -> None:
    """>= 99.5% of the notes the grid can hold come back with exact pitch and channel, onset and
    end within half a step, velocity within one bin. Notes merged by the grid (two onsets of
    one key in one step) stay under 2%."""
    score = score_of(path)
    tokens, _, report = round_trip(score.notes, CONFIG, time_signatures=score.meter())
    assert report.kept_fraction >= 0.995, report
    assert report.merged <= 0.02 * max(report.notes_in, 1), report
    assert report.max_onset_error_steps <= 0.5
    assert Grammar(VOCAB).first_violation(tokens) is None


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_streaming_the_files_events_equals_offline(path: Path) -> None:
    score = score_of(path)
    offline = encode_notes(score.notes, CONFIG, time_signatures=score.meter(), vocab=VOCAB)
    encoder = StreamingEncoder(CONFIG, time_signatures=score.meter(), vocab=VOCAB)
    streamed: list[int] = []
    for event in note_events(score.notes, CONFIG):
        streamed.extend(encoder.encode(event))
    assert streamed == offline


CORRUPT = corrupt_files()


@pytest.mark.parametrize("path", CORRUPT, ids=[p.name for p in CORRUPT])
def test_shared_corrupt_files_raise_midi_file_error_naming_the_file(path: Path) -> None:
    with pytest.raises(MidiFileError, match=re.escape(path.name)):
        read_midi(path)


def _made_corrupt(tmp: Path) -> dict[str, Path]:
    good = (FILES[0]).read_bytes()
    wav = b"RIFF" + (36).to_bytes(4, "little") + b"WAVEfmt " + bytes(28)
    made = {
        "empty.mid": b"",
        "random_bytes.mid": random.Random(7).randbytes(4096),
        "wav_renamed.mid": wav,
        "truncated_half.mid": good[: len(good) // 2],
        "truncated_in_header.mid": good[:9],
        "header_then_random.mid": b"MThd" + random.Random(3).randbytes(300),
        "text.mid": b"this is not a MIDI file\n",
        "smpte.mid": good[:12] + bytes([0xE7, 0x28]) + good[14:],
        "zero_division.mid": good[:12] + bytes(2) + good[14:],
    }
    paths = {}
    for name, data in made.items():
        paths[name] = tmp / name
        paths[name].write_bytes(data)
    return paths


@pytest.mark.parametrize(
    "name",
    [
        "empty.mid",
        "random_bytes.mid",
        "wav_renamed.mid",
        "truncated_half.mid",
        "truncated_in_header.mid",
        "header_then_random.mid",
        "text.mid",
        "smpte.mid",
        "zero_division.mid",
    ],
)
def test_made_corrupt_files_raise_midi_file_error_naming_the_file(tmp_path: Path, name) -> None:
    path = _made_corrupt(tmp_path)[name]
    with pytest.raises(MidiFileError, match=re.escape(name)):
        read_midi(path)


def test_every_cut_of_a_real_file_is_refused_or_read(tmp_path: Path) -> None:
    """A file cut at any point never escapes as another exception type."""
    good = FILES[0].read_bytes()
    path = tmp_path / "cut.mid"
    for end in range(0, len(good), max(1, len(good) // 97)):
        path.write_bytes(good[:end])
        with pytest.raises(MidiFileError, match=r"cut\.mid"):
            read_midi(path)


@pytest.mark.parametrize("fraction", [0.02, 0.25, 0.5, 0.9, 0.999])
def test_a_truncated_file_says_it_is_truncated_and_where(tmp_path: Path, fraction) -> None:
    good = FILES[0].read_bytes()
    path = tmp_path / "cut.mid"
    path.write_bytes(good[: max(15, int(len(good) * fraction))])
    with pytest.raises(MidiFileError) as caught:
        read_midi(path)
    message = str(caught.value)
    assert re.fullmatch(
        r".*cut\.mid is truncated: (track \d+ of \d+ holds \d+ of its \d+ "
        r"bytes|the data ends before track \d+ of \d+)",
        message,
    ), message


def test_the_shared_truncated_file_says_how_many_tracks_it_holds() -> None:
    path = CORRUPT_DIR / "truncated_26_tracks_declared_4_present.mid"
    with pytest.raises(MidiFileError, match=r"truncated: holds 4 of the 26 declared tracks"):
        read_midi(path)


def test_missing_file_and_folder_are_named(tmp_path: Path) -> None:
    with pytest.raises(MidiFileError, match=r"not found: .*nope\.mid"):
        read_midi(tmp_path / "nope.mid")
    with pytest.raises(MidiFileError, match="folder"):
        read_midi(tmp_path)


def _save(tmp: Path, name: str, tracks: list[list], midi_type: int = 1, tpb: int = 480) -> Path:
    midi = mido.MidiFile(type=midi_type, ticks_per_beat=tpb)
    for messages in tracks:
        midi.tracks.append(mido.MidiTrack(messages))
    path = tmp / name
    midi.save(path)
    return path


def test_sustain_pedal_lengthens_released_notes(tmp_path: Path) -> None:
    path = _save(
        tmp_path,
        "pedal.mid",
        [
            [
                mido.Message("control_change", control=64, value=127, time=0),
                mido.Message("note_on", note=60, velocity=80, time=0),
                mido.Message("note_off", note=60, time=240),  # released at beat 0.5, held on
                mido.Message("note_on", note=64, velocity=80, time=240),
                mido.Message("control_change", control=64, value=0, time=480),  # lift at beat 2
                mido.Message("note_off", note=64, time=240),
            ]
        ],
    )
    notes = read_midi(path).notes
    assert [(n.pitch, n.start_beat, n.end_beat) for n in notes] == [(60, 0.0, 2.0), (64, 1.0, 2.5)]


def test_restrike_under_the_pedal_ends_the_sustained_note(tmp_path: Path) -> None:
    path = _save(
        tmp_path,
        "restrike.mid",
        [
            [
                mido.Message("control_change", control=64, value=100, time=0),
                mido.Message("note_on", note=60, velocity=80, time=0),
                mido.Message("note_off", note=60, time=240),
                mido.Message("note_on", note=60, velocity=70, time=240),
                mido.Message("control_change", control=64, value=0, time=480),
                mido.Message("note_off", note=60, time=480),
            ]
        ],
    )
    notes = read_midi(path).notes
    assert [(n.start_beat, n.end_beat, n.velocity) for n in notes] == [(0, 1, 80), (1, 3, 70)]


def test_tempo_map_converts_seconds_and_beats(tmp_path: Path) -> None:
    path = _save(
        tmp_path,
        "tempo.mid",
        [
            [
                mido.MetaMessage("set_tempo", tempo=500_000, time=0),  # 120 bpm
                mido.MetaMessage("time_signature", numerator=3, denominator=4, time=0),
                mido.MetaMessage("set_tempo", tempo=1_000_000, time=960),  # 60 bpm from beat 2
                mido.MetaMessage("time_signature", numerator=6, denominator=8, time=480),
            ],
            [
                mido.Message("note_on", channel=9, note=36, velocity=100, time=1920),
                mido.Message("note_on", channel=9, note=36, velocity=0, time=120),
            ],
        ],
    )
    score = read_midi(path)
    assert score.seconds_at(2.0) == pytest.approx(1.0)
    assert score.seconds_at(4.0) == pytest.approx(3.0)
    assert score.beat_at(3.0) == pytest.approx(4.0)
    assert score.meter() == [(0.0, 3.0), (3.0, 3.0)]
    [drum] = score.notes
    assert (drum.channel, drum.pitch, drum.start_beat, drum.end_beat) == (9, 36, 4.0, 4.25)


def test_type0_running_status_sysex_and_odd_metas_are_read(tmp_path: Path) -> None:
    path = _save(
        tmp_path,
        "type0.mid",
        [
            [
                mido.Message("sysex", data=[0x7E, 0x7F, 0x09, 0x01], time=0),
                mido.MetaMessage("sequencer_specific", data=[1, 2, 3], time=0),
                mido.MetaMessage("marker", text="A", time=0),
                mido.Message("program_change", channel=2, program=33, time=0),
                mido.Message("note_on", channel=2, note=40, velocity=90, time=0),
                mido.Message("note_on", channel=2, note=43, velocity=90, time=0),  # running status
                mido.Message("pitchwheel", channel=2, pitch=300, time=100),
                mido.Message("note_on", channel=2, note=40, velocity=0, time=380),
                mido.Message("note_on", channel=2, note=43, velocity=0, time=0),
            ]
        ],
        midi_type=0,
    )
    notes = read_midi(path).notes
    assert [(n.channel, n.pitch, n.program, n.end_beat) for n in notes] == [
        (2, 40, 33, 1.0),
        (2, 43, 33, 1.0),
    ]


def test_write_then_read_gives_the_same_notes(tmp_path: Path) -> None:
    notes = [
        Note(60, 0.0, 1.0, 90, 0, 0),
        Note(60, 1.0, 1.5, 70, 0, 0),  # re-struck at its neighbour's end
        Note(38, 0.5, 0.75, 110, 9, None),
        Note(67, 2.25, 4.0, 40, 3, 48),
    ]
    path = write_midi(notes, tmp_path / "out.mid", tempo_bpm=90, time_signatures=[(0, 3, 4)])
    score = read_midi(path)
    assert sorted(score.notes, key=lambda n: (n.start_beat, n.pitch)) == sorted(
        notes, key=lambda n: (n.start_beat, n.pitch)
    )
    assert score.tempos[0][1] == mido.bpm2tempo(90)
    assert score.time_signatures == ((0.0, 3, 4),)
    assert not list(tmp_path.glob(".*tmp")), "the write is atomic: no temp file left"


def test_midi_extension_is_not_required(tmp_path: Path) -> None:
    copy = tmp_path / "song.bin"
    shutil.copy(FILES[0], copy)
    assert read_midi(copy).notes == score_of(FILES[0]).notes


_ticks = st.integers(0, 4 * 480)
_written_notes = st.lists(
    st.builds(
        lambda pitch, start, length, velocity, channel: Note(
            pitch,
            start / 480,
            (start + length) / 480,
            velocity,
            channel,
            33 if channel == 3 else None,  # a program per part, as a file has it
        ),
        st.integers(0, 127),
        _ticks,
        st.integers(1, 3 * 480),
        st.integers(1, 127),
        st.sampled_from([0, 3, 9]),
    ),
    max_size=25,
    unique_by=lambda n: (n.channel, n.pitch),  # one voice per key: no overlaps to resolve
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(_written_notes)
def test_any_notes_written_read_back_unchanged(tmp_path: Path, notes: list[Note]) -> None:
    path = write_midi(notes, tmp_path / "prop.mid")

    def order(note: Note) -> tuple[float, int, int]:
        return (note.start_beat, note.channel, note.pitch)

    assert sorted(read_midi(path).notes, key=order) == sorted(notes, key=order)


def _gap_file(path: Path, delta_ticks: int, ticks_per_beat: int = 1) -> Path:
    """Two notes with `delta_ticks` of silence between them, as raw bytes (mido would refuse
    nothing here, but writing by hand keeps the file as small as the issue's 37 bytes)."""
    import struct

    def var_len(value: int) -> bytes:
        out = [value & 0x7F]
        while value := value >> 7:
            out.insert(0, (value & 0x7F) | 0x80)
        return bytes(out)

    track = b"\x00\x90\x3c\x64\x01\x80\x3c\x00" + var_len(delta_ticks) + b"\x90\x3e\x64"
    track += b"\x01\x80\x3e\x00\x00\xff\x2f\x00"
    head = b"MThd" + struct.pack(">IHHh", 6, 0, 1, ticks_per_beat)
    path.write_bytes(head + b"MTrk" + struct.pack(">I", len(track)) + track)
    return path


def test_a_huge_gap_becomes_a_bounded_rest(tmp_path: Path) -> None:
    """A valid tiny file whose second note comes 0x0FFFFFFF beats later: the gap is shortened
    by whole bars to at most MAX_REST_BEATS plus one bar, so reading and encoding stay small."""
    from livegen.tokenizer.midi_file import MAX_REST_BEATS

    score = read_midi(_gap_file(tmp_path / "gap.mid", 0x0FFFFFFF))
    first, second = score.notes
    assert first.start_beat == 0.0
    assert MAX_REST_BEATS <= second.start_beat < MAX_REST_BEATS + 4 + 1
    assert (second.start_beat - 1) % 4 == 0x0FFFFFFF % 4  # whole bars removed: phase kept
    assert len(encode_notes(score.notes, CONFIG)) < 100


def test_a_rest_up_to_the_cap_is_kept(tmp_path: Path) -> None:
    score = read_midi(_gap_file(tmp_path / "rest.mid", 60 * 480, ticks_per_beat=480))
    assert [n.start_beat for n in score.notes] == [0.0, (60 * 480 + 1) / 480]


@pytest.mark.parametrize("command", ["tokens", "roundtrip"])
def test_commands_finish_quickly_on_the_huge_gap(command: str, tmp_path: Path) -> None:
    import subprocess
    import sys

    path = _gap_file(tmp_path / "gap.mid", 0x0FFFFFFF)
    result = subprocess.run(
        [sys.executable, "-m", "livegen", command, str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr


def test_a_pedal_never_lifted_rings_a_released_note_for_at_most_a_bar(tmp_path: Path) -> None:
    # 41 of POP909's songs press the pedal and never lift it: without a bound every note would
    # sound on for bars over every later chord.
    path = _save(
        tmp_path,
        "stuck_pedal.mid",
        [
            [
                mido.Message("control_change", control=64, value=127, time=0),
                mido.Message("note_on", note=60, velocity=80, time=0),
                mido.Message("note_off", note=60, time=480),  # released at beat 1
                mido.Message("note_on", note=67, velocity=80, time=480 * 15),  # beat 16
                mido.Message("note_off", note=67, time=480),
            ]
        ],
    )
    notes = read_midi(path).notes
    assert [(n.pitch, n.start_beat, n.end_beat) for n in notes] == [
        (60, 0.0, 1.0 + PEDAL_RING_BEATS),
        (67, 16.0, 17.0),
    ]
