"""Tokens -> timed MIDI events, one token at a time, tolerant of any token stream.

Every note gets an end: a NOTE_OFF, a re-strike of its key, the maximum note length
(`max_note_steps`, checked whenever time moves), EOS, or flush(). A NOTE_OFF at the step where its
note began is deferred one step, so notes last at least one step (as the encoder writes them).
Ill-formed streams never raise: a VELOCITY without NOTE_ON, a NOTE_ON not followed by VELOCITY
(dropped), a NOTE_OFF for a silent key, unknown ids, stray BOS/PAD/conditioning tokens are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable

from livegen.tokenizer.config import TokenizerConfig
from livegen.tokenizer.events import DecodedEvent, Note, bin_to_velocity
from livegen.tokenizer.vocab import TokenKind, Vocab

_SHIFT = int(TokenKind.TIME_SHIFT)
_ON = int(TokenKind.NOTE_ON)
_OFF = int(TokenKind.NOTE_OFF)
_VELOCITY = int(TokenKind.VELOCITY)
_CHANNEL = int(TokenKind.CHANNEL)
_PROGRAM = int(TokenKind.PROGRAM)
_BAR = int(TokenKind.BAR)
_EOS = int(TokenKind.EOS)


class StreamingDecoder:
    """Feed tokens one by one; get MIDI events the moment they are determined.

    A note-on is determined by its VELOCITY token; a note-off by NOTE_OFF, a re-strike, or time
    passing its deadline. Events come out in non-decreasing `step` order.
    """

    def __init__(self, config: TokenizerConfig | None = None, *, vocab: Vocab | None = None):
        self.config = config or TokenizerConfig()
        self.vocab = vocab or Vocab(self.config)
        self._kinds = self.vocab.kind_list
        self._args = self.vocab.arg_list
        self._size = self.vocab.size
        self._max_steps = self.config.max_note_steps
        self._velocities = [
            bin_to_velocity(b, self.config.velocity_bins) for b in range(self.config.velocity_bins)
        ]
        self.position_steps = 0
        self.bars = 0  # BAR tokens seen
        self.channel = 0
        self.programs: dict[int, int] = {}
        self._pending_pitch = -1  # NOTE_ON waiting for its VELOCITY
        # (channel, pitch) -> [start_step, deadline_step, program]
        self._held: dict[tuple[int, int], list] = {}
        self._next_deadline = 1 << 62

    def copy(self) -> StreamingDecoder:
        clone = object.__new__(StreamingDecoder)
        clone.__dict__.update(self.__dict__)
        clone.programs = dict(self.programs)
        clone._held = {key: list(note) for key, note in self._held.items()}
        return clone

    @property
    def sounding(self) -> list[tuple[int, int]]:
        """(channel, pitch) of the notes held now."""
        return sorted(self._held)

    def held_starts(self) -> dict[tuple[int, int], int]:
        """(channel, pitch) -> start step of the notes held now and not yet released (a
        NOTE_OFF at a note's own step leaves it sounding until the next step)."""
        return {key: note[0] for key, note in self._held.items() if note[1] != note[0] + 1}

    def held_ages_beats(self) -> list[float]:
        """How long each note held now has sounded, in beats (in `sounding`'s order)."""
        spb = self.config.steps_per_beat
        return [(self.position_steps - self._held[key][0]) / spb for key in self.sounding]

    def feed(self, token: int) -> list[DecodedEvent]:
        if not 0 <= token < self._size:
            self._pending_pitch = -1
            return []
        kind = self._kinds[token]
        arg = self._args[token]
        if kind == _VELOCITY:
            pitch = self._pending_pitch
            if pitch < 0:
                return []
            self._pending_pitch = -1
            return self._note_on(pitch, self._velocities[arg])
        self._pending_pitch = -1
        if kind == _SHIFT:
            target = self.position_steps + arg
            out = self._expire(target) if self._next_deadline <= target else []
            self.position_steps = target
            return out
        if kind == _ON:
            self._pending_pitch = arg
            return []
        if kind == _OFF:
            note = self._held.get((self.channel, arg))
            if note is None:
                return []
            if note[0] == self.position_steps:
                note[1] = self.position_steps + 1
                self._next_deadline = min(self._next_deadline, note[1])
                return []
            del self._held[(self.channel, arg)]
            return [DecodedEvent(self.position_steps, arg, 0, self.channel, note[2])]
        if kind == _CHANNEL:
            self.channel = arg
        elif kind == _PROGRAM:
            self.programs[self.channel] = arg
        elif kind == _BAR:
            self.bars += 1
        elif kind == _EOS:
            return self.flush()
        return []

    def feed_many(self, tokens: Iterable[int]) -> list[DecodedEvent]:
        out: list[DecodedEvent] = []
        for token in tokens:
            out.extend(self.feed(token))
        return out

    def _note_on(self, pitch: int, velocity: int) -> list[DecodedEvent]:
        channel, step = self.channel, self.position_steps
        program = self.programs.get(channel)
        key = (channel, pitch)
        held = self._held.get(key)
        out = []
        if held is not None:
            if held[0] == step:  # doubled note-on: keep the note begun here
                held[1] = step + self._max_steps
                return []
            out.append(DecodedEvent(step, pitch, 0, channel, held[2]))
        deadline = step + self._max_steps
        self._held[key] = [step, deadline, program]
        if deadline < self._next_deadline:
            self._next_deadline = deadline
        out.append(DecodedEvent(step, pitch, velocity, channel, program))
        return out

    def _expire(self, target: int) -> list[DecodedEvent]:
        """Close notes whose deadline is at or before `target`, at their deadlines, in order."""
        expired = sorted(
            (note[1], key[0], key[1], note[2])
            for key, note in self._held.items()
            if note[1] <= target
        )
        for _, channel, pitch, _ in expired:
            del self._held[(channel, pitch)]
        self._next_deadline = min((note[1] for note in self._held.values()), default=1 << 62)
        return [DecodedEvent(step, pitch, 0, ch, program) for step, ch, pitch, program in expired]

    def flush(self) -> list[DecodedEvent]:
        """Close every held note now (at least one step after its start): end of stream or stop.

        A note begun at the current step ends one step later, and the position moves there.
        """
        self._pending_pitch = -1
        out = sorted(
            (max(self.position_steps, note[0] + 1), key[0], key[1], note[2])
            for key, note in self._held.items()
        )
        self._held.clear()
        self._next_deadline = 1 << 62
        if out:  # time moves to the last end, so later events never go back in time
            self.position_steps = max(self.position_steps, out[-1][0])
        return [DecodedEvent(step, pitch, 0, ch, program) for step, ch, pitch, program in out]


def events_to_notes(events: Iterable[DecodedEvent], steps_per_beat: int) -> list[Note]:
    """Pair decoded events (well formed, as StreamingDecoder emits them) into notes in beats."""
    open_notes: dict[tuple[int, int], DecodedEvent] = {}
    notes: list[Note] = []
    for event in events:
        key = (event.channel, event.pitch)
        if event.velocity > 0:
            open_notes[key] = event
            continue
        start = open_notes.pop(key, None)
        if start is not None:
            notes.append(
                Note(
                    event.pitch,
                    start.step / steps_per_beat,
                    event.step / steps_per_beat,
                    start.velocity,
                    event.channel,
                    start.program,
                )
            )
    notes.sort(key=lambda n: (n.start_beat, n.channel, n.pitch))
    return notes


def decode_tokens(
    tokens: Iterable[int], config: TokenizerConfig | None = None, *, vocab: Vocab | None = None
) -> list[Note]:
    """Offline decoding: every note of the stream, closed by flush() at the end."""
    decoder = StreamingDecoder(config, vocab=vocab)
    events = decoder.feed_many(tokens)
    events.extend(decoder.flush())
    return events_to_notes(events, decoder.config.steps_per_beat)
