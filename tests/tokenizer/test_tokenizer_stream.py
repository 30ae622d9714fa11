"""Streaming encoder and decoder: equal to offline encoding, and every note gets an end."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livegen.tokenizer import (
    DecodedEvent,
    Grammar,
    Note,
    NoteEvent,
    StreamingDecoder,
    StreamingEncoder,
    TokenizerConfig,
    Vocab,
    beat_to_step,
    decode_tokens,
    encode_events,
    encode_notes,
    note_events,
)

CONFIG = TokenizerConfig(max_note_beats=8.0)  # short, so the forced-end path is exercised often
VOCAB = Vocab(CONFIG)
GRAMMAR = Grammar(VOCAB)
SPB = CONFIG.steps_per_beat

# Few pitches and channels, so re-strikes, doubled notes and part switches are common.
beats = st.one_of(
    st.integers(0, 40 * 4).map(lambda q: q / 4),  # on the beat grid
    st.integers(0, 40 * 48).map(lambda q: q / 48),  # between grid steps (ties round up)
    st.floats(0, 40, allow_nan=False),
)
durations = st.one_of(
    st.sampled_from([0.0, 0.004, 0.25, 1.0, 7.99, 8.0, 12.0]),
    st.floats(0, 12, allow_nan=False),
)
notes_strategy = st.lists(
    st.builds(
        lambda pitch, start, length, velocity, channel, program: Note(
            pitch, start, start + length, velocity, channel, program
        ),
        st.integers(60, 63),
        beats,
        durations,
        st.integers(1, 127),
        st.sampled_from([0, 1, 9]),
        st.sampled_from([None, 0, 40]),
    ),
    max_size=40,
)
raw_events = st.lists(
    st.builds(
        NoteEvent,
        beats,
        st.integers(60, 62),
        st.one_of(st.just(0), st.integers(1, 127)),
        st.sampled_from([0, 1]),
    ),
    max_size=50,
)


def stream(events: list[NoteEvent], end_beat: float | None = None, **kwargs) -> list[int]:
    encoder = StreamingEncoder(CONFIG, vocab=VOCAB, **kwargs)
    out: list[int] = []
    for event in events:
        out.extend(encoder.encode(event))
    if end_beat is not None:
        out.extend(encoder.advance_to(end_beat))
    return out


def canonical(events: list[NoteEvent]) -> list[NoteEvent]:
    """Time order, and within one grid step: channel, pitch, note-off before note-on."""
    return sorted(
        events, key=lambda e: (beat_to_step(e.beat, SPB), e.channel, e.pitch, e.velocity > 0)
    )


@settings(max_examples=300, deadline=None)
@given(notes_strategy, st.sampled_from([3.0, 4.0, 2.5]))
def test_streaming_a_pieces_events_equals_offline_encoding_of_its_notes(notes, beats_per_bar):
    offline = encode_notes(notes, CONFIG, beats_per_bar=beats_per_bar, vocab=VOCAB)
    assert stream(note_events(notes, CONFIG), beats_per_bar=beats_per_bar) == offline
    assert GRAMMAR.is_valid(offline)


@settings(max_examples=300, deadline=None)
@given(raw_events, st.floats(0, 60, allow_nan=False))
def test_streaming_raw_events_equals_offline_encoding_of_the_same_events(events, end_beat):
    """Stray note-offs, re-strikes, doubled and zero-length notes, notes never released."""
    events = canonical(events)
    streamed = stream(events, end_beat)
    assert streamed == encode_events(events, CONFIG, end_beat=end_beat, vocab=VOCAB)
    assert GRAMMAR.is_valid(streamed)


@settings(max_examples=200, deadline=None)
@given(raw_events, st.randoms(use_true_random=False))
def test_any_arrival_order_within_a_step_decodes_to_the_same_notes(events, rng):
    """Live input in one grid step comes in any order; the notes heard must not depend on it."""
    events = canonical(events)
    shuffled: list[NoteEvent] = []
    i = 0
    while i < len(events):
        step = beat_to_step(events[i].beat, SPB)
        group = [e for e in events[i:] if beat_to_step(e.beat, SPB) == step]
        rng.shuffle(group)
        shuffled.extend(group)
        i += len(group)
    offline = encode_events(shuffled, CONFIG, vocab=VOCAB)
    assert decode_tokens(stream(shuffled), CONFIG) == decode_tokens(offline, CONFIG)


def check_every_note_ends(events: list[DecodedEvent]) -> None:
    sounding: dict[tuple[int, int], int] = {}
    last_step = 0
    for event in events:
        assert event.step >= last_step, "events must come in time order"
        last_step = event.step
        key = (event.channel, event.pitch)
        if event.velocity > 0:
            assert key not in sounding, "a key is struck again only after its note-off"
            sounding[key] = event.step
        else:
            start = sounding.pop(key)
            assert 1 <= event.step - start <= CONFIG.max_note_steps
    assert not sounding, f"notes without an end: {sounding}"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(-3, VOCAB.size + 3), max_size=300))
def test_decoder_closes_every_note_of_any_token_stream(tokens):
    decoder = StreamingDecoder(CONFIG, vocab=VOCAB)
    events = decoder.feed_many(tokens) + decoder.flush()
    check_every_note_ends(events)
    assert decoder.sounding == []


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(list(VOCAB.ids_of_kind(VOCAB.kind(VOCAB.note_on(0))))[58:64])
        | st.sampled_from(
            [
                VOCAB.velocity(3),
                VOCAB.note_off(60),
                VOCAB.note_off(61),
                VOCAB.shift(1),
                VOCAB.shift(96),
                VOCAB.channel(1),
                VOCAB.channel(0),
                VOCAB.eos,
            ]
        ),
        max_size=400,
    )
)
def test_decoder_closes_notes_in_dense_note_streams(tokens):
    """Mostly note tokens: re-strikes, deferred offs, max-length ends and EOS all happen."""
    decoder = StreamingDecoder(CONFIG, vocab=VOCAB)
    check_every_note_ends(decoder.feed_many(tokens) + decoder.flush())


def names(tokens: list[int]) -> list[str]:
    return [VOCAB.name(t) for t in tokens]


def test_a_held_note_is_encoded_before_its_release() -> None:
    encoder = StreamingEncoder(CONFIG, vocab=VOCAB)
    assert names(encoder.encode(NoteEvent(0.0, 60, 100))) == ["BAR", "NOTE_ON_60", "VELOCITY_12"]
    assert names(encoder.encode(NoteEvent(1.5, 60, 0))) == ["TIME_SHIFT_36", "NOTE_OFF_60"]


def test_long_gaps_use_several_shifts_and_bars_split_them() -> None:
    encoder = StreamingEncoder(TokenizerConfig(), beats_per_bar=4.0)
    tokens = encoder.encode(NoteEvent(9.0, 60, 100))
    assert names(tokens)[:-2] == [
        "BAR", "TIME_SHIFT_96", "BAR", "TIME_SHIFT_96", "BAR", "TIME_SHIFT_24",
    ]  # fmt: skip
    assert encoder.position_steps == 9 * 24


def test_time_signature_changes_move_bar_lines() -> None:
    # 3/4 from beat 0, 6/8 (3 beats) at beat 6, 2/4 at beat 7 (mid-bar: starts a new bar)
    notes = [Note(60, 10.0, 10.5, 80)]
    tokens = encode_notes(notes, TokenizerConfig(), time_signatures=[(0, 3.0), (6, 3.0), (7, 2.0)])
    bars = bar_beats(tokens)
    assert bars == [0.0, 3.0, 6.0, 7.0, 9.0]


def test_zero_length_note_lasts_one_step() -> None:
    encoder = StreamingEncoder(CONFIG, vocab=VOCAB)
    tokens = encoder.encode(NoteEvent(1.0, 60, 90)) + encoder.encode(NoteEvent(1.001, 60, 0))
    tokens += encoder.advance_to(2.0)
    notes = decode_tokens(tokens, CONFIG)
    assert [(n.start_beat * SPB, n.end_beat * SPB) for n in notes] == [(24, 25)]


def test_restrike_on_one_channel_closes_the_earlier_note() -> None:
    events = [NoteEvent(0, 60, 90), NoteEvent(1, 60, 70), NoteEvent(2, 60, 0), NoteEvent(3, 60, 0)]
    notes = decode_tokens(stream(events), CONFIG)
    assert [(n.start_beat, n.end_beat, n.velocity) for n in notes] == [
        (0.0, 1.0, 92),
        (1.0, 2.0, 68),
    ]


def test_same_pitch_on_two_channels_are_two_notes() -> None:
    events = [NoteEvent(0, 60, 90, 0), NoteEvent(0, 60, 90, 9), NoteEvent(1, 60, 0, 0)]
    notes = decode_tokens(stream(events), CONFIG)
    assert [(n.channel, n.start_beat, n.end_beat) for n in notes] == [(0, 0.0, 1.0), (9, 0.0, 1.0)]


def test_note_held_past_the_maximum_is_closed_at_the_maximum() -> None:
    encoder = StreamingEncoder(CONFIG, vocab=VOCAB)
    tokens = encoder.encode(NoteEvent(0, 60, 90)) + encoder.advance_to(20.0)
    assert encoder.sounding == []
    assert names(tokens).count("NOTE_OFF_60") == 1
    decoder = StreamingDecoder(CONFIG)
    events = decoder.feed_many(names_to_ids(["NOTE_ON_60", "VELOCITY_9", "TIME_SHIFT_96"] * 1))
    events += decoder.feed_many([VOCAB.shift(96), VOCAB.shift(96)])
    assert [(e.step, e.velocity) for e in events] == [(0, 76), (CONFIG.max_note_steps, 0)]


def names_to_ids(token_names: list[str]) -> list[int]:
    return [VOCAB.id_of(n) for n in token_names]


def test_late_events_are_moved_up_to_the_current_position() -> None:
    encoder = StreamingEncoder(CONFIG, vocab=VOCAB)
    encoder.advance_to(2.0)
    assert names(encoder.encode(NoteEvent(1.0, 64, 64))) == ["NOTE_ON_64", "VELOCITY_7"]
    assert encoder.position_steps == 48


def test_decoder_reports_a_note_on_only_once_its_velocity_arrives() -> None:
    decoder = StreamingDecoder(CONFIG)
    assert decoder.feed(VOCAB.note_on(60)) == []
    [event] = decoder.feed(VOCAB.velocity(15))
    assert (event.step, event.pitch, event.velocity, event.channel) == (0, 60, 124, 0)


def test_decoder_tolerates_ill_formed_tokens() -> None:
    decoder = StreamingDecoder(CONFIG)
    ill = ["VELOCITY_3", "NOTE_OFF_61", "NOTE_ON_60", "TIME_SHIFT_4", "BOS", "PAD", "KEY_C"]
    assert decoder.feed_many(names_to_ids(ill)) == []
    assert decoder.feed(-1) == [] and decoder.feed(VOCAB.size) == []
    assert decoder.position_steps == 4


def test_programs_and_channels_reach_decoded_events() -> None:
    events = [NoteEvent(0, 36, 100, 9), NoteEvent(0, 60, 80, 2, 33), NoteEvent(1, 60, 0, 2, 33)]
    tokens = stream(events)
    assert "PROGRAM_33" in names(tokens) and "CHANNEL_9" in names(tokens)
    notes = decode_tokens(tokens, CONFIG)
    assert {(n.channel, n.pitch, n.program) for n in notes} == {(9, 36, None), (2, 60, 33)}


def test_copies_are_independent() -> None:
    encoder = StreamingEncoder(CONFIG, vocab=VOCAB)
    encoder.encode(NoteEvent(0, 60, 90))
    fork = encoder.copy()
    assert encoder.encode(NoteEvent(1, 60, 0)) == fork.encode(NoteEvent(1, 60, 0))
    fork.encode(NoteEvent(2, 62, 90))
    assert encoder.sounding == [] and fork.sounding == [(0, 62)]

    decoder = StreamingDecoder(CONFIG)
    decoder.feed_many([VOCAB.note_on(60), VOCAB.velocity(4)])
    other = decoder.copy()
    other.feed_many([VOCAB.shift(5), VOCAB.note_off(60)])
    assert decoder.sounding == [(0, 60)] and decoder.position_steps == 0
    assert other.sounding == [] and other.position_steps == 5


def bar_beats(tokens: list[int]) -> list[float]:
    position, bars = 0, []
    for name in names(tokens):
        if name.startswith("TIME_SHIFT_"):
            position += int(name.rsplit("_", 1)[1])
        elif name == "BAR":
            bars.append(position / SPB)
    return bars


def test_a_live_meter_change_takes_effect_after_the_next_bar_line() -> None:
    encoder = StreamingEncoder(CONFIG, beats_per_bar=4.0, vocab=VOCAB)
    tokens = encoder.advance_to(1.0)
    encoder.set_beats_per_bar(3.0)
    tokens += encoder.advance_to(12.0)
    assert bar_beats(tokens) == [0.0, 4.0, 7.0, 10.0]


def test_offline_encoding_can_frame_the_piece_with_bos_and_eos() -> None:
    tokens = encode_notes([Note(60, 0, 1, 64)], CONFIG, bos=True, eos=True, vocab=VOCAB)
    assert names(tokens)[:2] == ["BOS", "BAR"] and names(tokens)[-1] == "EOS"
    assert GRAMMAR.is_valid(tokens)


def test_a_stream_shared_with_another_writer_stays_on_the_right_channels() -> None:
    # A live stream: the encoder writes the player's part (channel 0) and a model writes its own
    # part (channel 3) in between. Told about the model's switch, the encoder switches back.
    encoder = StreamingEncoder(CONFIG, vocab=VOCAB)
    tokens = encoder.encode(NoteEvent(0, 60, 90, 0))
    tokens += names_to_ids(["CHANNEL_3", "NOTE_ON_72", "VELOCITY_9"])
    encoder.sync_channel(3)
    assert encoder.channel == 3
    fork = encoder.copy()
    tokens += encoder.encode(NoteEvent(1, 60, 0, 0))
    assert names(tokens)[-2:] == ["CHANNEL_0", "NOTE_OFF_60"]
    tokens += names_to_ids(["CHANNEL_3", "NOTE_OFF_72"])
    encoder.sync_channel(3)
    notes = decode_tokens(tokens, CONFIG)
    assert sorted((n.channel, n.pitch, n.end_beat) for n in notes) == [(0, 60, 1.0), (3, 72, 1.0)]
    # the copy kept the synced channel of its own: an event on channel 3 needs no switch
    assert fork.channel == 3 and "CHANNEL_3" not in names(fork.encode(NoteEvent(1, 64, 80, 3)))


def test_syncing_to_a_channel_out_of_range_is_refused() -> None:
    encoder = StreamingEncoder(CONFIG, vocab=VOCAB)
    with pytest.raises(ValueError, match="channel 16"):
        encoder.sync_channel(16)
