"""Re-struck keys: a note-on for a key that is still sounding re-triggers it, as a synth does.

The sounding note ends at the new onset and a new note starts there: when a file is read, when
a player's live events are encoded, and when tokens are decoded and written back to a file.
A key struck twice at the very tick (or grid step) its note began is one note: the first has
no length, so one voice per key sounds it once.
"""

from __future__ import annotations

import collections
from pathlib import Path

import mido
import pytest
from tokenizer_testdata import MIDI_DIR, midi_files, score_of

from livegen.tokenizer import (
    Note,
    NoteEvent,
    Score,
    StreamingDecoder,
    StreamingEncoder,
    TokenizerConfig,
    Vocab,
    beat_to_step,
    count_note_ons,
    decode_tokens,
    encode_events,
    encode_notes,
    events_to_notes,
    read_midi,
    round_trip_file,
    write_midi,
)
from livegen.tokenizer import roundtrip as roundtrip_module

CONFIG = TokenizerConfig()
VOCAB = Vocab(CONFIG)
SPB = CONFIG.steps_per_beat
FILES = midi_files()
# A band file with drums whose melodic parts strike keys that are still sounding (66 times, on
# channels 0, 1 and 4) and double keys at one tick (41 times).
BAND_WITH_RESTRIKES = MIDI_DIR / "band_mr_blue_sky.mid"


def _file(tmp: Path, *tracks: list[tuple[int, str, int, int]], tpb: int = 480) -> Path:
    """A type-1 file from (absolute tick, 'on'/'off', pitch, velocity) per track, channel 0."""
    midi = mido.MidiFile(type=1, ticks_per_beat=tpb)
    for events in tracks:
        track, last = mido.MidiTrack(), 0
        for tick, kind, pitch, velocity in events:
            kind = "note_on" if kind == "on" else "note_off"
            track.append(mido.Message(kind, note=pitch, velocity=velocity, time=tick - last))
            last = tick
        midi.tracks.append(track)
    path = tmp / "made.mid"
    midi.save(path)
    return path


def _raw_notes(path: Path) -> list[tuple[int, int, int, int, int]]:
    """Every note message of the file as (tick, order, channel, pitch, velocity) in time order,
    velocity 0 for a note-off: what a player's keyboard would send, read with mido alone."""
    midi = mido.MidiFile(path)
    out = []
    for track in midi.tracks:
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type in ("note_on", "note_off"):
                velocity = msg.velocity if msg.type == "note_on" else 0
                out.append((tick, len(out), msg.channel, msg.note, velocity))
    return sorted(out)


def _restrikes(path: Path) -> list[tuple[int, int, int]]:
    """(channel, pitch, tick) of each note-on for a key sounding since an earlier tick, with no
    note-off in between: the synth's view, across the file's tracks."""
    sounding: dict[tuple[int, int], int] = {}
    found = []
    for tick, _, channel, pitch, velocity in _raw_notes(path):
        key = (channel, pitch)
        if velocity:
            if sounding.get(key, tick) < tick:
                found.append((channel, pitch, tick))
            sounding[key] = tick
        else:
            sounding.pop(key, None)
    return found


# ---- reading files ------------------------------------------------------------------------


def test_a_key_struck_again_while_sounding_ends_the_note_and_starts_a_new_one(
    tmp_path: Path,
) -> None:
    """A repeated-note figure with no note-offs in between stays three notes, not one long one."""
    path = _file(
        tmp_path,
        [(0, "on", 60, 100), (240, "on", 60, 90), (480, "on", 60, 80), (720, "off", 60, 0)],
    )
    notes = read_midi(path).notes
    assert [(n.start_beat, n.end_beat, n.velocity) for n in notes] == [
        (0.0, 0.5, 100),
        (0.5, 1.0, 90),
        (1.0, 1.5, 80),
    ]


def test_a_key_struck_again_in_another_track_of_its_channel_re_triggers_too(
    tmp_path: Path,
) -> None:
    path = _file(tmp_path, [(0, "on", 60, 100), (960, "off", 60, 0)], [(240, "on", 60, 90)])
    notes = read_midi(path).notes
    assert [(n.start_beat, n.end_beat, n.velocity) for n in notes] == [
        (0.0, 0.5, 100),
        (0.5, 2.0, 90),  # track 2 never releases it: it closes at the file's last tick
    ]


@pytest.mark.parametrize(
    "tracks",
    [
        [[(0, "on", 60, 100), (0, "on", 60, 90), (240, "off", 60, 0), (480, "off", 60, 0)]],
        [[(0, "on", 60, 100), (0, "off", 60, 0), (0, "on", 60, 90), (240, "off", 60, 0)]],
        [[(0, "on", 60, 100), (240, "off", 60, 0)], [(0, "on", 60, 90), (120, "off", 60, 0)]],
    ],
    ids=["doubled-note-on", "on-off-on", "two-tracks-in-unison"],
)
def test_a_key_struck_twice_at_one_tick_is_one_note_with_the_first_velocity(
    tmp_path: Path, tracks
) -> None:
    """The first strike has no length, so it makes no sound of its own; the first velocity is
    kept because live, its VELOCITY token is already written when the second strike comes."""
    path = _file(tmp_path, *tracks)
    notes = read_midi(path).notes
    assert [(n.start_beat, n.end_beat, n.velocity) for n in notes] == [(0.0, 0.5, 100)]
    assert count_note_ons(path).total == 2
    assert count_note_ons(path).same_tick == 1


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_every_onset_of_a_file_starts_a_read_note(path: Path) -> None:
    """One note per key and tick struck: only repeats at the same tick fold into one."""
    onsets = collections.Counter(
        (channel, pitch, tick) for tick, _, channel, pitch, velocity in _raw_notes(path) if velocity
    )
    score = score_of(path)
    starts = {(n.channel, n.pitch, round(n.start_beat * score.ticks_per_beat)) for n in score.notes}
    assert starts == set(onsets)
    assert len(score.notes) == len(onsets)
    count = count_note_ons(path)
    assert (count.total, count.same_tick) == (onsets.total(), onsets.total() - len(onsets))


def test_a_band_files_restrikes_each_end_the_sounding_note_there() -> None:
    restrikes = _restrikes(BAND_WITH_RESTRIKES)
    assert len(restrikes) >= 50, "the file is here to exercise re-strikes"
    assert {channel for channel, _, _ in restrikes} - {9}, "re-strikes on melodic channels"
    score = score_of(BAND_WITH_RESTRIKES)
    tpb = score.ticks_per_beat
    by_key: dict[tuple[int, int], list[Note]] = collections.defaultdict(list)
    for note in score.notes:
        by_key[(note.channel, note.pitch)].append(note)
    for channel, pitch, tick in restrikes:
        notes = by_key[(channel, pitch)]
        [new] = [n for n in notes if round(n.start_beat * tpb) == tick]
        earlier = notes[notes.index(new) - 1]
        assert round(earlier.end_beat * tpb) == tick, (channel, pitch, tick)


# ---- the live path: a player's events through the streaming encoder ------------------------


def test_a_player_re_striking_a_held_key_sends_note_off_then_note_on() -> None:
    encoder = StreamingEncoder(CONFIG, vocab=VOCAB)
    tokens = encoder.encode(NoteEvent(0.0, 60, 100)) + encoder.encode(NoteEvent(0.5, 60, 90))
    names = [VOCAB.name(t) for t in tokens]
    assert names == [
        "BAR",
        "NOTE_ON_60",
        "VELOCITY_12",
        "TIME_SHIFT_12",
        "NOTE_OFF_60",  # the held note ends where the key is struck again
        "NOTE_ON_60",
        "VELOCITY_11",
    ]
    assert encoder.sounding == [(0, 60)]
    tokens += encoder.encode(NoteEvent(1.0, 60, 0))
    notes = decode_tokens(tokens, CONFIG, vocab=VOCAB)
    assert [(n.start_beat, n.end_beat) for n in notes] == [(0.0, 0.5), (0.5, 1.0)]


def test_a_player_striking_a_key_twice_in_one_step_plays_one_note() -> None:
    encoder = StreamingEncoder(CONFIG, vocab=VOCAB)
    tokens = encoder.encode(NoteEvent(0.0, 60, 100)) + encoder.encode(NoteEvent(0.01, 60, 90))
    assert [VOCAB.name(t) for t in tokens] == ["BAR", "NOTE_ON_60", "VELOCITY_12"]


def test_streaming_a_band_files_raw_events_keeps_every_onset_and_equals_offline() -> None:
    """The file's note messages as a player would send them, re-strikes and all: every key and
    grid step struck starts a decoded note, and the live encoding equals the offline one."""
    raw = _raw_notes(BAND_WITH_RESTRIKES)
    tpb = mido.MidiFile(BAND_WITH_RESTRIKES).ticks_per_beat
    events = [NoteEvent(tick / tpb, pitch, vel, channel) for tick, _, channel, pitch, vel in raw]
    # Live notes within one grid step arrive in any order; the offline encoder's is canonical.
    events.sort(key=lambda e: (beat_to_step(e.beat, SPB), e.channel, e.pitch, e.velocity > 0))
    encoder = StreamingEncoder(CONFIG, vocab=VOCAB)
    streamed = [token for event in events for token in encoder.encode(event)]
    assert streamed == encode_events(events, CONFIG, vocab=VOCAB)
    decoded = decode_tokens(streamed, CONFIG, vocab=VOCAB)
    struck = {(e.channel, e.pitch, beat_to_step(e.beat, SPB)) for e in events if e.velocity}
    assert {(n.channel, n.pitch, round(n.start_beat * SPB)) for n in decoded} == struck


# ---- decoding and writing -------------------------------------------------------------------


def test_a_decoded_re_strike_ends_the_note_before_starting_the_new_one(tmp_path: Path) -> None:
    """NOTE_ON for a key already held (no NOTE_OFF in the stream): a note-off comes first, so the
    written file re-triggers instead of holding two overlapping notes of one key."""
    names = ["NOTE_ON_60", "VELOCITY_12", "TIME_SHIFT_12", "NOTE_ON_60", "VELOCITY_11"]
    decoder = StreamingDecoder(CONFIG, vocab=VOCAB)
    events = decoder.feed_many([VOCAB.id_of(n) for n in names]) + decoder.flush()
    assert [(e.step, e.velocity > 0) for e in events] == [
        (0, True),
        (12, False),
        (12, True),
        (13, False),
    ]
    path = write_midi(events_to_notes(events, SPB), tmp_path / "decoded.mid")
    messages = [(tick, pitch, velocity > 0) for tick, _, _, pitch, velocity in _raw_notes(path)]
    assert messages == [(0, 60, True), (240, 60, False), (240, 60, True), (260, 60, False)]


def test_a_band_file_round_trips_through_a_written_file_with_its_restrikes(tmp_path: Path) -> None:
    score = score_of(BAND_WITH_RESTRIKES)
    tokens = encode_notes(score.notes, CONFIG, time_signatures=score.meter(), vocab=VOCAB)
    path = write_midi(decode_tokens(tokens, CONFIG, vocab=VOCAB), tmp_path / "out.mid")
    assert _restrikes(path) == [], "written notes of one key never overlap"
    written = {(n.channel, n.pitch, round(n.start_beat * SPB)) for n in read_midi(path).notes}
    grid = {(n.channel, n.pitch, beat_to_step(n.start_beat, SPB)) for n in score.notes}
    assert written == grid


# ---- counting: `livegen roundtrip` counts the file's own note-ons -------------------------


def test_round_trip_of_a_file_counts_its_note_on_messages() -> None:
    result = round_trip_file(BAND_WITH_RESTRIKES, CONFIG)
    raw_ons = sum(1 for *_, velocity in _raw_notes(BAND_WITH_RESTRIKES) if velocity)
    assert result.note_ons == raw_ons == 4308
    assert result.same_tick == 41
    assert result.kept + result.merged + result.dropped == result.note_ons
    assert result.dropped == 0
    assert result.kept_fraction == result.kept / raw_ons


def test_a_note_the_reader_loses_shows_as_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    """A reader that folds each re-strike into the sounding note (the loss the count must not
    hide): the notes it loses are dropped, though every note it did read survives the grid."""

    def folding_reader(path: Path) -> Score:
        score = read_midi(path)
        sounding: dict[tuple[int, int], list] = {}
        notes: list[list] = []
        for n in score.notes:
            held = sounding.get((n.channel, n.pitch))
            if held is not None and held[2] == n.start_beat:
                held[2] = n.end_beat  # the re-strike is lost; the note sounds on through it
                continue
            sounding[(n.channel, n.pitch)] = note = [n.pitch, n.start_beat, n.end_beat]
            notes.append([*note, n.velocity, n.channel, n.program])
        return Score([Note(*n) for n in notes], score.ticks_per_beat, score.tempos)

    honest = round_trip_file(BAND_WITH_RESTRIKES, CONFIG)
    monkeypatch.setattr(roundtrip_module, "read_midi", folding_reader)
    lossy = round_trip_file(BAND_WITH_RESTRIKES, CONFIG)
    lost = len(honest.score.notes) - len(lossy.score.notes)
    assert lost >= 50
    assert lossy.report.kept_fraction == 1.0, "counted after the loss, nothing seems lost"
    assert lossy.note_ons == honest.note_ons
    assert lossy.dropped == lost, "counted against the file, every lost note shows"
