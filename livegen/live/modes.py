"""When and how far the model writes: call (answer a phrase), accompany, continue.

A mode sees the player's notes (`on_player`) and, before every token, says how far ahead the
model's part should be written (`plan`); the session does the writing. Steps are the stream's
grid steps. Modes know the session only through `Stream`, the small protocol it implements
(livegen.live.live_session.LiveSession), so neither module imports the other's class.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass
from typing import Protocol

from livegen.live.context import PlayerNote
from livegen.live.knobs import Knobs


@dataclass(frozen=True)
class Plan:
    until_step: int  # write the model's part up to this step
    notes: bool = True  # whether new notes may start (False: only time and note-offs)


class Stream(Protocol):
    """What a mode reads of and asks of the generator's token stream."""

    spb: int  # grid steps per beat
    bar_steps: int
    lookahead_steps: int
    call_options: tuple[float, bool, str]  # silence beats, end on bar line, answer start

    @property
    def step(self) -> int: ...  # the stream's written position

    @property
    def held_keys(self) -> Set[tuple[int, int]]: ...

    def step_of_tick(self, tick: float) -> int: ...

    def tick_of_step(self, step: int) -> int: ...

    def insert_player(self, notes: list[PlayerNote], output_channel: int) -> None: ...

    def advance_to_step(self, step: int) -> None: ...

    def rollback_to(self, step: int) -> int: ...

    def cut(self, tick: int, channel: int) -> None: ...

    def close_open_notes(self, end_step: int) -> None: ...


class Mode(Protocol):
    def on_player(
        self, session: Stream, notes: list[PlayerNote], now_step: int, knobs: Knobs
    ) -> None: ...

    def plan(self, session: Stream, now_step: int, knobs: Knobs) -> Plan | None: ...


class Accompany:
    """Play along while the player plays: always `lookahead` written ahead, re-planned per note."""

    def __init__(self, session: Stream) -> None:
        self.last_player_step: int | None = None

    def on_player(
        self, session: Stream, notes: list[PlayerNote], now_step: int, knobs: Knobs
    ) -> None:
        session.insert_player(notes, knobs.output_channel)
        self.last_player_step = max(session.step_of_tick(n.tick) for n in notes)

    def plan(self, session: Stream, now_step: int, knobs: Knobs) -> Plan | None:
        playing = bool(session.held_keys) or (
            self.last_player_step is not None
            and now_step - self.last_player_step <= session.bar_steps
        )
        if not playing:
            return None
        if session.step < now_step - session.spb:
            session.advance_to_step(now_step)  # idle for a while: the silence is not re-planned
        return Plan(now_step + session.lookahead_steps)


class Continue(Accompany):
    """Keep going from the prompt (and whatever the player adds) until stopped."""

    def plan(self, session: Stream, now_step: int, knobs: Knobs) -> Plan | None:
        if session.step < now_step - session.spb:
            session.advance_to_step(now_step)
        return Plan(now_step + session.lookahead_steps)


class Call:
    """Call and response: listen to a phrase, answer for N bars from the next bar (or beat).

    A phrase that began on a bar line and has lasted at least `answer_bars` bars (the length being
    traded) is over at the bar line where no key is held: decided `decide_steps` (a quarter beat)
    before it, the answer starts ON that bar line, as a musician trading bars would (no silence to
    wait out). Should the player go on, the answer stops where the player came in. (Without the
    length rule, a call released before every beat ended at its first bar line: measured through
    JACK, the answer's first note went out on bar 3 of a two-bar call.) Otherwise a phrase is over
    after `silence_beats` of silence, or at a bar line crossed with half a beat of silence; the
    answer then starts at the next bar (or beat).
    """

    def __init__(self, session: Stream) -> None:
        silence_beats, self.end_on_bar_line, self.answer_start = session.call_options
        self.silence_steps = max(1, round(silence_beats * session.spb))
        self.decide_steps = max(1, session.spb // 4)
        self.answering = False
        self.answer_end = 0
        self.phrase_notes = 0
        self.phrase_start = 0  # step of the phrase's first note
        self.last_event_step = 0

    def on_player(
        self, session: Stream, notes: list[PlayerNote], now_step: int, knobs: Knobs
    ) -> None:
        first = min(session.step_of_tick(n.tick) for n in notes)
        if self.answering and any(n.velocity for n in notes):
            # the player starts again: the answer stops where the player came in
            session.cut(session.tick_of_step(first), knobs.output_channel)
            session.rollback_to(first)
            session.close_open_notes(max(first, session.step))
            self.answering = False
        session.insert_player(notes, knobs.output_channel)
        starts = [session.step_of_tick(n.tick) for n in notes if n.velocity]
        if starts and not self.phrase_notes:
            self.phrase_start = min(starts)
        self.phrase_notes += len(starts)
        self.last_event_step = max(session.step_of_tick(n.tick) for n in notes)

    def plan(self, session: Stream, now_step: int, knobs: Knobs) -> Plan | None:
        if self.answering:
            if session.step >= self.answer_end:
                session.close_open_notes(self.answer_end)
                self.answering = False
                return None
            return Plan(self.answer_end)
        if not self.phrase_notes or session.held_keys:
            return None
        silence = now_step - self.last_event_step
        bar = session.bar_steps
        if self._ends_at_bar_line(session, now_step, knobs.answer_bars):
            start = -(-now_step // bar) * bar
        else:
            crossed_bar = now_step // bar > self.last_event_step // bar
            over = silence >= self.silence_steps or (
                self.end_on_bar_line and crossed_bar and silence >= session.spb // 2
            )
            if not over:
                return None
            unit = bar if self.answer_start == "bar" else session.spb
            earliest = now_step + max(1, session.spb // 4)  # time to write the first notes
            start = -(-earliest // unit) * unit
        session.advance_to_step(start)
        self.answer_end = start + knobs.answer_bars * bar
        self.answering = True
        self.phrase_notes = 0
        return Plan(self.answer_end)

    def _ends_at_bar_line(self, session: Stream, now_step: int, answer_bars: int) -> bool:
        """No key held (the caller checked) a little before the bar line that closes a phrase
        of `answer_bars` or more whole bars: one that began within half a beat of a bar line."""
        if not (self.end_on_bar_line and self.answer_start == "bar"):
            return False
        bar = session.bar_steps
        bar_line = -(-now_step // bar) * bar  # the one ahead, or now when on it
        if bar_line - now_step > self.decide_steps or self.last_event_step > bar_line:
            return False
        phrase_bar = round(self.phrase_start / bar) * bar
        whole_bars = abs(self.phrase_start - phrase_bar) <= session.spb // 2
        return whole_bars and bar_line - phrase_bar >= answer_bars * bar


MODES = {"call": Call, "accompany": Accompany, "continue": Continue}


def make_mode(name: str, session: Stream) -> Mode:
    return MODES[name](session)
