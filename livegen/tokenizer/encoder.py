"""Note events -> tokens: the streaming encoder (one event at a time) and the offline encoders.

Both write through one `_Writer` (time shifts, bar lines, channel and program state) and follow
one set of pairing rules, so that a time-ordered event stream encodes to the same ids either way:

- Times are rounded to the nearest grid step; an event earlier than the stream's position (late
  live input) is moved up to it, because tokens already emitted cannot be revised.
- A note-on for a key (channel, pitch) that is already sounding closes it first (NOTE_OFF then
  NOTE_ON); a second note-on at the very step where that note began is merged into it.
- A note-off at the step its note began is deferred one step: notes last at least one step.
- A note held for `max_note_steps` is closed there ("forced" off); later note-offs are no-ops.
- Within one step: forced note-offs first (by channel, pitch), then the step's events in canonical
  order (channel, pitch, note-off before note-on). Sorting by channel first keeps CHANNEL tokens
  few; off-before-on for the same key keeps a re-struck note from closing its successor.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from livegen.tokenizer.config import TokenizerConfig
from livegen.tokenizer.events import Note, NoteEvent, beat_to_step, velocity_to_bin
from livegen.tokenizer.vocab import N_CHANNELS, N_PITCHES, N_PROGRAMS, TokenKind, Vocab

# (beat, beats_per_bar) pairs: where a meter starts and how many quarter-note beats its bars hold.
TimeSignatures = Sequence[tuple[float, float]]


class _BarLines:
    """Upcoming bar lines, in steps, from a meter map; a meter change starts a new bar."""

    __slots__ = ("_changes", "_index", "_length", "next_step")

    def __init__(
        self, beats_per_bar: float, time_signatures: TimeSignatures | None, steps_per_beat: int
    ) -> None:
        changes: dict[int, int] = {0: max(1, round(beats_per_bar * steps_per_beat))}
        for beat, bpb in sorted(time_signatures or (), key=lambda c: c[0]):
            changes[beat_to_step(beat, steps_per_beat)] = max(1, round(bpb * steps_per_beat))
        self._changes = sorted(changes.items())
        self.next_step, self._length = self._changes[0]
        self._index = 1

    def pop(self) -> None:
        """The bar line at next_step was written; move on to the following one."""
        following = self.next_step + self._length
        if self._index < len(self._changes) and self._changes[self._index][0] <= following:
            self.next_step, self._length = self._changes[self._index]
            self._index += 1
        else:
            self.next_step = following

    def set_beats_per_bar(self, beats_per_bar: float, steps_per_beat: int) -> None:
        """Live meter change: bars after the next bar line get the new length."""
        self._length = max(1, round(beats_per_bar * steps_per_beat))


class _Writer:
    """Writes tokens for a moving position: shifts, bars, channel and program switches, notes."""

    __slots__ = (
        "_bar",
        "_channel_base",
        "_max_shift",
        "_off_base",
        "_on_base",
        "_program_base",
        "_shift_base",
        "_velocity_base",
        "bars",
        "bins",
        "channel",
        "position",
        "programs",
    )

    def __init__(
        self, vocab: Vocab, beats_per_bar: float, time_signatures: TimeSignatures | None
    ) -> None:
        cfg = vocab.config
        self.position = 0
        self.channel = 0  # the decoder also starts on channel 0, so piano solos need no CHANNEL
        self.programs: dict[int, int] = {}
        self.bins = cfg.velocity_bins
        self.bars = (
            _BarLines(beats_per_bar, time_signatures, cfg.steps_per_beat) if cfg.use_bars else None
        )
        self._bar = vocab.bar
        self._max_shift = cfg.max_shift_steps
        self._shift_base = vocab.offsets[TokenKind.TIME_SHIFT] - 1
        self._on_base = vocab.offsets[TokenKind.NOTE_ON]
        self._off_base = vocab.offsets[TokenKind.NOTE_OFF]
        self._velocity_base = vocab.offsets[TokenKind.VELOCITY]
        self._channel_base = vocab.offsets[TokenKind.CHANNEL]
        self._program_base = vocab.offsets[TokenKind.PROGRAM]

    def copy(self) -> _Writer:
        clone = object.__new__(_Writer)
        for name in _Writer.__slots__:
            setattr(clone, name, getattr(self, name))
        clone.programs = dict(self.programs)
        if self.bars is not None:
            bars = object.__new__(_BarLines)
            bars._changes, bars._index = self.bars._changes, self.bars._index
            bars._length, bars.next_step = self.bars._length, self.bars.next_step
            clone.bars = bars
        return clone

    def move(self, target: int, out: list[int]) -> None:
        """Advance to step `target`, writing every bar line on the way (including one at target)."""
        position = self.position
        bars = self.bars
        if bars is not None:
            while bars.next_step <= target:
                self._shift(bars.next_step - position, out)
                position = bars.next_step
                out.append(self._bar)
                bars.pop()
        self._shift(target - position, out)
        self.position = target

    def _shift(self, steps: int, out: list[int]) -> None:
        while steps > self._max_shift:
            out.append(self._shift_base + self._max_shift)
            steps -= self._max_shift
        if steps > 0:
            out.append(self._shift_base + steps)

    def note_off(self, channel: int, pitch: int, out: list[int]) -> None:
        if channel != self.channel:
            out.append(self._channel_base + channel)
            self.channel = channel
        out.append(self._off_base + pitch)

    def note_on(
        self, channel: int, pitch: int, velocity: int, program: int | None, out: list[int]
    ) -> None:
        if channel != self.channel:
            out.append(self._channel_base + channel)
            self.channel = channel
        if program is not None and self.programs.get(channel) != program:
            out.append(self._program_base + program)
            self.programs[channel] = program
        out.append(self._on_base + pitch)
        out.append(self._velocity_base + velocity_to_bin(velocity, self.bins))


def _check_event(pitch: int, channel: int, program: int | None) -> None:
    if not 0 <= pitch < N_PITCHES:
        raise ValueError(f"pitch {pitch} out of range 0..{N_PITCHES - 1}")
    if not 0 <= channel < N_CHANNELS:
        raise ValueError(f"channel {channel} out of range 0..{N_CHANNELS - 1}")
    if program is not None and not 0 <= program < N_PROGRAMS:
        raise ValueError(f"program {program} out of range 0..{N_PROGRAMS - 1}")


class StreamingEncoder:
    """Encodes note events one at a time, as a live player sends them.

    `encode(event)` returns the ids for that event (time shifts and bars up to it included);
    `advance_to(beat)` writes the time up to a beat when nothing is played (so the model hears the
    silence). Events must come in time order; a late one is moved up to the current position.
    """

    def __init__(
        self,
        config: TokenizerConfig | None = None,
        beats_per_bar: float = 4.0,
        *,
        time_signatures: TimeSignatures | None = None,
        vocab: Vocab | None = None,
    ) -> None:
        self.config = config or TokenizerConfig()
        self.vocab = vocab or Vocab(self.config)
        self._spb = self.config.steps_per_beat
        self._max_steps = self.config.max_note_steps
        self._writer = _Writer(self.vocab, beats_per_bar, time_signatures)
        self._open: dict[tuple[int, int], list[int]] = {}  # key -> [start_step, deadline_step]

    @property
    def position_steps(self) -> int:
        return self._writer.position

    @property
    def sounding(self) -> list[tuple[int, int]]:
        """(channel, pitch) of the notes the encoder considers held."""
        return sorted(self._open)

    def copy(self) -> StreamingEncoder:
        clone = object.__new__(StreamingEncoder)
        clone.config, clone.vocab = self.config, self.vocab
        clone._spb, clone._max_steps = self._spb, self._max_steps
        clone._writer = self._writer.copy()
        clone._open = {key: list(note) for key, note in self._open.items()}
        return clone

    @property
    def channel(self) -> int:
        """The channel the stream is on: an event on another one writes a CHANNEL token first."""
        return self._writer.channel

    def sync_channel(self, channel: int) -> None:
        """The stream is now on `channel` because another writer (a live model) switched to it.

        A live stream interleaves this encoder's tokens with tokens it did not write; when those
        include a CHANNEL token, tell the encoder so the next event on that channel writes no
        redundant CHANNEL token and an event on any other channel writes the switch back.
        """
        if not 0 <= channel < N_CHANNELS:
            raise ValueError(f"channel {channel} out of range 0..{N_CHANNELS - 1}")
        self._writer.channel = channel

    def set_beats_per_bar(self, beats_per_bar: float) -> None:
        """A live meter change, effective after the next bar line."""
        if self._writer.bars is not None:
            self._writer.bars.set_beats_per_bar(beats_per_bar, self._spb)

    def encode(self, event: NoteEvent) -> list[int]:
        _check_event(event.pitch, event.channel, event.program)
        out: list[int] = []
        writer = self._writer
        step = beat_to_step(event.beat, self._spb)
        if step < writer.position:
            step = writer.position
        self._advance(step, out)
        key = (event.channel, event.pitch)
        note = self._open.get(key)
        if event.velocity > 0:
            if note is not None:
                if note[0] == step:  # a doubled note-on: merge into the note begun here
                    note[1] = step + self._max_steps
                    return out
                writer.note_off(event.channel, event.pitch, out)
            writer.note_on(event.channel, event.pitch, event.velocity, event.program, out)
            self._open[key] = [step, step + self._max_steps]
        elif note is not None:
            if note[0] == step:  # zero length: close one step later
                note[1] = step + 1
            else:
                writer.note_off(event.channel, event.pitch, out)
                del self._open[key]
        return out

    def advance_to(self, beat: float) -> list[int]:
        out: list[int] = []
        step = beat_to_step(beat, self._spb)
        self._advance(max(step, self._writer.position), out)
        return out

    def _advance(self, target: int, out: list[int]) -> None:
        open_notes = self._open
        writer = self._writer
        while open_notes:
            deadline = min(note[1] for note in open_notes.values())
            if deadline > target:
                break
            writer.move(deadline, out)
            for key in sorted(k for k, note in open_notes.items() if note[1] == deadline):
                writer.note_off(key[0], key[1], out)
                del open_notes[key]
        writer.move(target, out)


@dataclass(frozen=True, slots=True)
class QuantizedNote:
    """A note on the grid, as the tokens will carry it. `forced`: its end is a forced note-off."""

    start: int
    end: int | None  # None: still held at the end of an event stream
    channel: int
    pitch: int
    velocity: int
    program: int | None
    forced: bool = False


def normalize_notes(notes: Iterable[Note], config: TokenizerConfig) -> list[QuantizedNote]:
    """Notes on the grid with the encoder's rules: what decode_tokens(encode_notes(...)) returns.

    Per key: rounding to the grid; notes starting on the same step merge (first velocity, latest
    end); at least one step long; at most max_note_steps (a forced end); a note still sounding
    when the same key is struck again ends there.
    """
    spb, max_steps = config.steps_per_beat, config.max_note_steps
    by_key: dict[tuple[int, int], list[tuple[int, int, int, Note]]] = {}
    for index, note in enumerate(notes):
        _check_event(note.pitch, note.channel, note.program)
        start = beat_to_step(note.start_beat, spb)
        end = beat_to_step(note.end_beat, spb)
        by_key.setdefault((note.channel, note.pitch), []).append((start, index, end, note))
    result: list[QuantizedNote] = []
    for (channel, pitch), items in by_key.items():
        items.sort(key=lambda item: (item[0], item[1]))
        merged: list[list] = []
        for start, _, end, note in items:
            if merged and merged[-1][0] == start:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end, note])
        for i, (start, end, note) in enumerate(merged):
            forced = False
            end = max(end, start + 1)
            if end - start >= max_steps:
                end, forced = start + max_steps, True
            if i + 1 < len(merged) and end > merged[i + 1][0]:
                end, forced = merged[i + 1][0], False
            result.append(
                QuantizedNote(start, end, channel, pitch, note.velocity, note.program, forced)
            )
    return result


def note_events(notes: Iterable[Note], config: TokenizerConfig) -> list[NoteEvent]:
    """The time-ordered event stream a live performance of `notes` would send, canonical within
    each grid step. Feeding it to a StreamingEncoder gives exactly encode_notes(notes)."""
    spb = config.steps_per_beat
    keyed = []
    for q in normalize_notes(notes, config):
        keyed.append(((q.start, q.channel, q.pitch, 1), q.start, q, q.velocity))
        keyed.append(((q.end, q.channel, q.pitch, 0), q.end, q, 0))
    keyed.sort(key=lambda item: item[0])
    return [
        NoteEvent(step / spb, q.pitch, velocity, q.channel, q.program)
        for _, step, q, velocity in keyed
    ]


def _write_canonical(
    qnotes: Iterable[QuantizedNote],
    writer: _Writer,
    end_step: int | None,
    time_marks: Iterable[int] = (),
    conditioning: Iterable[tuple[int, int]] = (),
) -> list[int]:
    # A time mark moves the position like an event that changes no note (a stray note-off); a
    # conditioning token is written at its step after the BAR / shift there, before its events.
    items: list[tuple[tuple[int, int, int, int, int], QuantizedNote | None]] = [
        ((step, -1, 0, 0, 0), None) for step in time_marks
    ]
    items.extend(
        ((step, -2, order, token, 0), None) for order, (step, token) in enumerate(conditioning)
    )
    for q in qnotes:
        items.append(((q.start, 1, q.channel, q.pitch, 1), q))
        if q.end is not None:
            items.append(((q.end, 0 if q.forced else 1, q.channel, q.pitch, 0), q))
    items.sort(key=lambda item: item[0])
    out: list[int] = []
    for (step, rank, channel, pitch, is_on), q in items:
        writer.move(step, out)
        if q is None:
            if rank == -2:
                out.append(pitch)  # the conditioning token rides in the pitch slot of the key
            continue
        if is_on:
            writer.note_on(channel, pitch, q.velocity, q.program, out)
        else:
            writer.note_off(channel, pitch, out)
    if end_step is not None:
        writer.move(max(end_step, writer.position), out)
    return out


def encode_notes(
    notes: Iterable[Note],
    config: TokenizerConfig | None = None,
    *,
    beats_per_bar: float = 4.0,
    time_signatures: TimeSignatures | None = None,
    bos: bool = False,
    eos: bool = False,
    vocab: Vocab | None = None,
    conditioning: Iterable[tuple[int, int]] = (),
) -> list[int]:
    """Offline encoding of whole notes (e.g. a MIDI file) in canonical order.

    `conditioning`: (step, token) pairs, e.g. KEY and CHORD tokens, each written at its grid step
    right after that step's BAR or time shift and before its notes; pairs at one step keep their
    order. The stream runs on to the last one even if the notes end before it.
    """
    config = config or TokenizerConfig()
    vocab = vocab or Vocab(config)
    writer = _Writer(vocab, beats_per_bar, time_signatures)
    body = _write_canonical(normalize_notes(notes, config), writer, None, conditioning=conditioning)
    return ([vocab.bos] if bos else []) + body + ([vocab.eos] if eos else [])


def pair_events(
    events: Iterable[NoteEvent], config: TokenizerConfig, end_step: int | None = None
) -> list[QuantizedNote]:
    """Pair a time-ordered event stream into grid notes with the streaming encoder's rules.

    Notes still held after the last event (and not closed by max length before `end_step`) have
    end None. Written note-by-note, independently of StreamingEncoder, so tests can compare them.
    """
    spb, max_steps = config.steps_per_beat, config.max_note_steps
    open_notes: dict[tuple[int, int], list] = {}  # key -> [start, deadline, event]
    done: list[QuantizedNote] = []

    def close_expired(step: int) -> None:
        for key, (start, deadline, ev) in list(open_notes.items()):
            if deadline <= step:
                done.append(QuantizedNote(start, deadline, *key, ev.velocity, ev.program, True))
                del open_notes[key]

    position = 0
    for event in events:
        _check_event(event.pitch, event.channel, event.program)
        position = max(position, beat_to_step(event.beat, spb))
        close_expired(position)
        key = (event.channel, event.pitch)
        held = open_notes.get(key)
        if event.velocity > 0:
            if held is not None and held[0] == position:
                held[1] = position + max_steps
                continue
            if held is not None:
                ev = held[2]
                done.append(QuantizedNote(held[0], position, *key, ev.velocity, ev.program))
            open_notes[key] = [position, position + max_steps, event]
        elif held is not None:
            if held[0] == position:
                held[1] = position + 1
            else:
                ev = held[2]
                done.append(QuantizedNote(held[0], position, *key, ev.velocity, ev.program))
                del open_notes[key]
    close_expired(max(position, end_step or 0))
    for key, (start, _, ev) in open_notes.items():
        done.append(QuantizedNote(start, None, *key, ev.velocity, ev.program))
    return done


def encode_events(
    events: Iterable[NoteEvent],
    config: TokenizerConfig | None = None,
    *,
    beats_per_bar: float = 4.0,
    time_signatures: TimeSignatures | None = None,
    end_beat: float | None = None,
    vocab: Vocab | None = None,
) -> list[int]:
    """Offline encoding of a time-ordered event stream; equals StreamingEncoder.encode on each
    event (plus advance_to(end_beat)) when events sharing a step come in canonical order."""
    config = config or TokenizerConfig()
    vocab = vocab or Vocab(config)
    events = list(events)
    spb = config.steps_per_beat
    end_step = None if end_beat is None else beat_to_step(end_beat, spb)
    marks = sorted({beat_to_step(e.beat, spb) for e in events})
    if end_step is not None and marks:
        end_step = max(end_step, marks[-1])
    writer = _Writer(vocab, beats_per_bar, time_signatures)
    out = _write_canonical(pair_events(events, config, end_step), writer, end_step, marks)
    return out
