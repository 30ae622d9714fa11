"""The generator thread's work: one token stream shared by the player and the model, in time.

The stream is the model's context. Player events are encoded into it as they arrive; the model
writes its own part after them, on the output channel only (a channel mask), a little ahead of
playback. Whatever the model has written beyond "now" is speculation: a checkpoint is kept at every
step boundary (engine position, decoder and encoder copies, open notes, logits), so a new player
note rolls the KV cache back to the last checkpoint at or before the note (O(1), no re-prefill),
drops the speculated notes from the scheduler, inserts the note and plans again.

Modes (modes.py decides *when* and *how far* to generate): call answers a finished phrase,
accompany plays along while the player plays, continue keeps going from a prompt. Within what the
mode asks for, the model writes only `write_ahead_ms` ahead of sending, the rest as time passes:
a player's note throws away everything written past it, and writing the whole 1.5-beat plan after
each one made 82% of the tokens wasted work and the daemon take 86% of a core (issue 13).
Model time is grid steps (the tokenizer's steps_per_beat); the clock's ticks map onto them from an
origin tick fixed when the stream starts.

Long because checkpoints, rollback, the token loop and the plan mirror all edit one stream state.
"""

from __future__ import annotations

import contextlib
import logging
import math
import queue
import time
from collections.abc import Collection, Set
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from livegen.errors import ConfigError
from livegen.inference.hold import HoldLimit
from livegen.live.clock import TICKS_PER_BEAT
from livegen.live.context import PlayerNote, SessionContext
from livegen.live.control import NoteView
from livegen.live.harmony import LiveHarmony
from livegen.live.knobs import Knobs
from livegen.live.modes import Plan, make_mode
from livegen.live.parts import Part, PartMix, part_channels, program_changes
from livegen.live.queues import drain
from livegen.live.realtime import DutyCycle
from livegen.live.scheduler import ScheduledNote
from livegen.music.keys import key_pitch_classes
from livegen.percentiles import summary
from livegen.tokenizer import (
    DecodedEvent,
    Grammar,
    NoteEvent,
    StreamingDecoder,
    StreamingEncoder,
    TokenizerConfig,
    Vocab,
)
from livegen.tokenizer.vocab import TokenKind

if TYPE_CHECKING:
    from livegen.inference.engine import Engine

log = logging.getLogger(__name__)

# knobs that change what the model writes or how it sounds (bpm and mode are handled elsewhere)
_REPLAN_KNOBS = (
    "temperature",
    "top_k",
    "top_p",
    "density",
    "velocity_scale",
    "transpose",
    "key_lock",
    "chords",
    "output_channel",
    "answer_bars",
)


@dataclass
class Checkpoint:
    """The stream at a step boundary: enough to roll back to it and go on."""

    step: int
    engine_position: int
    channel: int
    last_kind: int
    decoder: StreamingDecoder
    encoder: StreamingEncoder
    open_notes: dict[tuple[int, int], int]
    logits: np.ndarray


@dataclass
class PlannedNote:
    """A note the model wrote and the scheduler holds (clock ticks), not yet known to be played."""

    on_tick: int
    off_tick: int | None  # None until the model writes its note-off
    pitch: int  # as scheduled (transposed)
    channel: int
    view: NoteView | None = None  # built once the end is known


@dataclass(frozen=True)
class Band:
    """The parts as the model may write them now: built when the output channel or a part's
    mix changes, read for every token."""

    channels: dict[int, Part | None]  # channel -> part (None: the one part without parts)
    active: frozenset[int]  # channels not muted
    channel_ok: np.ndarray  # over the vocab: CHANNEL tokens that go to an active channel
    program_ok: dict[int, np.ndarray]  # channel -> PROGRAM tokens it may write (its own)
    program_token: dict[int, int]  # channel -> its PROGRAM token, for parts naming one
    density: dict[int, float]  # channel -> the part's density factor


@dataclass
class SessionStats:
    tokens: int = 0
    replans: int = 0
    rollback_tokens: int = 0
    # tokens written at or behind now: time no note can start in any more (after a rollback, or
    # when the generator fell behind its write-ahead); what a late note would have been
    catch_up_tokens: int = 0
    replan_ms: list[float] = field(default_factory=list)  # rollback + insert, on this thread
    note_to_ready_ms: list[float] = field(default_factory=list)  # player note in -> re-planned


class LiveSession:
    """Runs on the generator thread: reads player notes and knobs, writes notes to the scheduler."""

    def __init__(
        self,
        engine: Engine,
        *,
        beats_per_bar: int = 4,
        seed: int = 0,
        prompt: list[NoteEvent] | None = None,
        lookahead_beats: float = 1.5,
        max_note_beats: float = 4.0,
        call_silence_beats: float = 1.0,
        call_end_on_bar_line: bool = True,
        call_answer_start: str = "bar",
        write_ahead_ms: float = 50.0,
        plan_margin_ms: float = 4.0,
        parts: tuple[Part, ...] = (),
    ) -> None:
        from livegen.inference.sampler import Sampler

        self.engine = engine
        self.config = TokenizerConfig.from_dict(engine.tokenizer_config)
        self.vocab = Vocab(self.config)
        self.spb = self.config.steps_per_beat
        self.ticks_per_step = TICKS_PER_BEAT / self.spb
        self.beats_per_bar = beats_per_bar
        self.bar_steps = beats_per_bar * self.spb
        self.sampler = Sampler(seed)
        # the model folder's calibration of the density knob ([live] density in model.toml)
        self.model_density = engine.info.live_density
        self.prompt = prompt or []
        self.lookahead_steps = round(lookahead_beats * self.spb)
        self.write_ahead_ns = round(write_ahead_ms * 1e6)
        self.plan_margin_ns = round(plan_margin_ms * 1e6)
        self.parts = parts
        self._band_key: tuple[int, dict[str, PartMix]] | None = None
        self._band: Band | None = None
        self.max_note_ticks = round(max_note_beats * TICKS_PER_BEAT)
        # The scheduler ends a note of ours that is still sounding after max_note_beats; the
        # stream writes its release there too, so the model hears what the synth plays (before,
        # the note went on sounding in its context until it thought to end it).
        self._hold = HoldLimit(self.vocab, max_note_beats)
        self.call_options = (call_silence_beats, call_end_on_bar_line, call_answer_start)
        self.stats_ = SessionStats()
        self._kinds = np.asarray(self.vocab.kinds)
        self._args = np.asarray(self.vocab.args)
        self._kind_list = self.vocab.kind_list
        self._arg_list = self.vocab.arg_list
        self._reset_requested = True
        self._key_cache: tuple[str, int, np.ndarray | None] = ("", 0, None)
        self._static_mask = self._make_static_mask()
        self._grammar = Grammar(self.vocab)
        self.harmony = LiveHarmony(self.vocab, self.spb, self.bar_steps)  # the chords knob
        kinds = self._kinds
        self._is_channel = kinds == TokenKind.CHANNEL
        self._is_note_off = kinds == TokenKind.NOTE_OFF
        self._is_note_on = kinds == TokenKind.NOTE_ON
        self._starts_note = self._is_channel | self._is_note_on | (kinds == TokenKind.PROGRAM)
        self.mode_name = ""
        self._next_key = 0
        self._knobs_seen: Knobs | None = None
        self._restarts = 0
        self._planned: dict[int, PlannedNote] = {}  # scheduler key -> note (generator thread)
        self._plan_built: tuple[int, int] | None = None  # (now step, stream step) of the views
        # The plan for the piano roll: rebuilt by this thread, read by the daemon's (reference
        # swap, no lock). It may still hold notes that just started; the reader filters by time.
        self.planned_views: tuple[NoteView, ...] = ()

    # ---- called from other threads ---------------------------------------------------------
    def reset_plan(self) -> None:
        self._reset_requested = True
        self.planned_views = ()  # the restart clears the rest on the generator thread

    def planned(self) -> tuple[NoteView, ...]:
        """Notes written and scheduled ahead of playback, in beats on the clock's timeline."""
        return self.planned_views

    def stats(self) -> dict[str, float]:
        engine_stats = self.engine.stats
        return {
            "ms_per_token": engine_stats.ms_per_token,
            "tokens_per_s": engine_stats.tokens_per_s,
            "context_fill": engine_stats.context_fill,
        }

    def report(self) -> dict[str, object]:
        engine_stats = self.engine.stats
        return {
            "tokens": self.stats_.tokens,
            "replans": self.stats_.replans,
            "rollback_tokens": self.stats_.rollback_tokens,
            "catch_up_tokens": self.stats_.catch_up_tokens,
            "ms_per_token_p50": engine_stats.ms_per_token,
            "ms_per_token_p99": engine_stats.p99_ms,
            "replan_ms": summary(self.stats_.replan_ms),
            "note_to_ready_ms": summary(self.stats_.note_to_ready_ms),
            "chords": self.harmony.fed(),  # the CHORD tokens in the model's context at the end
        }

    # ---- the generator loop ----------------------------------------------------------------
    def run(self, context: SessionContext) -> None:
        self.attach(context)
        pending: list[PlayerNote] = []
        duty = DutyCycle()
        try:
            while not context.stop_event.is_set():
                restarts = self._restarts
                if not self.ready(context.control.knobs):
                    self._wait(pending, 0.01)
                    continue
                if self._restarts != restarts:
                    pending.clear()  # notes from before a transport start belong to no timeline
                self._drain(pending)
                if self.advance(pending, context.control.knobs):
                    duty.work()
                else:
                    duty.idle()
                    self._wait(pending, self._idle_s())
        finally:
            # the engine's slide worker may be inside onnxruntime: joined here, on the thread
            # that drives the engine, so no native thread is still running when the process
            # exits ("terminate called without an active exception")
            self.engine.close()

    def attach(self, context: SessionContext) -> None:
        self.context = context
        self.scheduler = context.scheduler

    @property
    def held_keys(self) -> Set[tuple[int, int]]:
        """The player's keys held now (modes ask whether the player is still playing)."""
        return self.context.held_keys

    def ready(self, knobs: Knobs) -> bool:
        """(Re)start the stream when asked to or when the mode changed; False while stopped."""
        if self._reset_requested or knobs.mode != self.mode_name:
            if self.context.clock.timeline is None:
                return False
            self._restart(knobs)
        return True

    def advance(self, pending: list[PlayerNote], knobs: Knobs) -> bool:
        """Take in the player's notes, then write one token if the plan wants one."""
        now_step = self.now_step()
        if now_step is None:
            return False
        if knobs is not self._knobs_seen:
            self._on_knobs(knobs, now_step)
        self.band(knobs)
        if pending:
            self.mode.on_player(self, pending, now_step, knobs)
            pending.clear()
        plan = self.mode.plan(self, now_step, knobs)
        if (
            self.context.paused()
            or plan is None
            or self.step >= plan.until_step
            or self.step >= self.write_limit(now_step)
        ):
            self._publish_plan(now_step)
            return False
        self.generate_one(knobs, plan)
        self._publish_plan(now_step)
        return True

    def _idle_s(self) -> float:
        """How long the loop may wait for a player note when it has nothing to write: until the
        next step, when the write limit moves on (a wake-up every 4 ms was 3.5 per step at 180
        BPM), at most 20 ms so a knob is seen soon; at least 1 ms."""
        line = self.context.clock.timeline
        if line is None or not hasattr(self, "origin_tick"):
            return 0.004
        now_ns = self.context.clock.now_ns()
        next_step = math.floor((line.ns_to_tick(now_ns) - self.origin_tick) / self.ticks_per_step)
        wait_ns = line.tick_to_ns(self.tick_of_step(next_step + 1)) - now_ns
        return min(0.02, max(0.001, wait_ns / 1e9))

    def _drain(self, pending: list[PlayerNote]) -> None:
        pending.extend(drain(self.context.player_notes))

    def _wait(self, pending: list[PlayerNote], timeout_s: float) -> None:
        with contextlib.suppress(queue.Empty):
            pending.append(self.context.player_notes.get(timeout=timeout_s))

    # ---- time ------------------------------------------------------------------------------
    def now_step(self) -> int | None:
        """The current step on the stream's timeline (None while the transport is stopped)."""
        line = self.context.clock.timeline
        if line is None:
            return None
        tick = line.ns_to_tick(self.context.clock.now_ns())
        return math.floor((tick - self.origin_tick) / self.ticks_per_step)

    def write_limit(self, now_step: int) -> int:
        """The step the model writes up to now: `write_ahead_ms` past what the scheduler sends
        next (it sends `lead_ns` early), at the clock's tempo, and always past the first step a
        note written now can still start on: short of it, the stream waited on steps already
        too close to play on and lost their notes (bench/replan_sim.py, stop 24: at 25 ms 14 %
        of the tokens were written there, 6 % at 50 ms)."""
        first = self.first_playable_step(now_step)
        line = self.context.clock.timeline
        if line is None:
            return first + 1
        ns_per_step = line.ns_per_tick * self.ticks_per_step
        ahead_ns = self.write_ahead_ns + self.scheduler.lead_ns
        return max(now_step + math.ceil(ahead_ns / ns_per_step), first + 1)

    def first_playable_step(self, now_step: int) -> int:
        """The first step a note written now can still start on in time: past now, and due no
        sooner than the scheduler hands it over (`lead_ns` + `early_ns`) plus `plan_margin_ns`
        to write its tokens. A re-plan near a step's end otherwise wrote notes for the next
        step that were already due: measured, all of the live bench's late onsets."""
        line = self.context.clock.timeline
        if line is None:
            return now_step + 1
        scheduler = self.scheduler
        ready_ns = (
            self.context.clock.now_ns()
            + scheduler.lead_ns
            + scheduler.early_ns
            + self.plan_margin_ns
        )
        ready_step = math.ceil((line.ns_to_tick(ready_ns) - self.origin_tick) / self.ticks_per_step)
        return max(now_step + 1, ready_step)

    def step_of_tick(self, tick: float) -> int:
        return max(0, round((tick - self.origin_tick) / self.ticks_per_step))

    def tick_of_step(self, step: int) -> int:
        return self.origin_tick + round(step * self.ticks_per_step)

    # ---- the stream ------------------------------------------------------------------------
    def _restart(self, knobs: Knobs) -> None:
        """A fresh stream: conditioning tokens (+ prompt), origin at the next whole tick."""
        self._reset_requested = False
        self._restarts += 1
        self.mode_name = knobs.mode
        self.mode = make_mode(knobs.mode, self)
        self.scheduler.cancel_from(-(10**12), channel=None)
        for message in program_changes(self.band(knobs).channels):
            self.scheduler.send_now(message)  # each part's instrument, before its first note
        self._planned.clear()
        self._plan_built = None
        self.planned_views = ()
        self.engine.reset()
        self.encoder = StreamingEncoder(self.config, float(self.beats_per_bar), vocab=self.vocab)
        self.decoder = StreamingDecoder(self.config)
        self.channel = 0
        self.last_kind = int(TokenKind.BOS)
        self.open_notes: dict[tuple[int, int], int] = {}
        self.checkpoints: list[Checkpoint] = []
        self.harmony.reset()
        self.harmony.set_knob(knobs.chords)
        tokens = [self.vocab.bos, self.vocab.mode(knobs.mode)]
        prompt_steps = 0
        if self.prompt and knobs.mode == "continue":
            for event in self.prompt:
                tokens.extend(self.encoder.encode(event))
            prompt_steps = self.encoder.position_steps
        self.logits = self._feed(tokens)
        line = self.context.clock.timeline
        now_tick = line.ns_to_tick(self.context.clock.now_ns()) if line is not None else 0.0
        # a bar line of the stream falls on a bar line of the clock
        bar_ticks = self.beats_per_bar * TICKS_PER_BEAT
        if prompt_steps:
            start = math.ceil((now_tick + TICKS_PER_BEAT / 2) / TICKS_PER_BEAT) * TICKS_PER_BEAT
            self.origin_tick = start - round(prompt_steps * self.ticks_per_step)
        else:
            self.origin_tick = max(0, math.floor(now_tick / bar_ticks) * bar_ticks)
        self._checkpoint()
        log.info("stream started: mode %s, origin tick %d", knobs.mode, self.origin_tick)

    @property
    def step(self) -> int:
        return self.decoder.position_steps

    def _feed(self, tokens: list[int]) -> np.ndarray:
        """Feed tokens the model did not choose (player, conditioning, time); keep trackers."""
        tokens = self.harmony.insert(tokens, self.step)  # CHORD after its bar line or beat
        if not tokens:
            return self.logits
        logits = self.engine.prefill(tokens) if len(tokens) > 1 else self.engine.step(tokens[0])
        for token in tokens:
            self.decoder.feed(token)  # the player's notes are not played back: events dropped
            self._track(token)
        return logits

    def _track(self, token: int) -> None:
        kind = self._kind_list[token]
        if kind == TokenKind.CHANNEL:
            self.channel = self._arg_list[token]
        self.last_kind = kind

    def _checkpoint(self) -> None:
        self.checkpoints.append(
            Checkpoint(
                self.step,
                self.engine.position,
                self.channel,
                self.last_kind,
                self.decoder.copy(),
                self.encoder.copy(),
                dict(self.open_notes),
                self.logits.copy(),
            )
        )

    def rollback_to(self, step: int) -> int:
        """Go back to the newest checkpoint at or before `step`; returns its step."""
        index = len(self.checkpoints) - 1
        while index > 0 and self.checkpoints[index].step > step:
            index -= 1
        point = self.checkpoints[index]
        del self.checkpoints[index + 1 :]
        self.stats_.rollback_tokens += self.engine.position - point.engine_position
        self.engine.rollback(point.engine_position)
        self.decoder = point.decoder.copy()
        self.encoder = point.encoder.copy()
        self.channel = point.channel
        self.last_kind = point.last_kind
        self.open_notes = dict(point.open_notes)
        self.logits = point.logits.copy()
        self.harmony.rollback(point.step)
        # the scheduler drops what was planned after the checkpoint (notes already on still end)
        from_tick = self.tick_of_step(point.step) + 1
        self.scheduler.cancel_from(from_tick, channel=None)
        self._drop_planned(from_tick, None)
        return point.step

    def cut(self, tick: int, channel: int) -> None:
        """Stop the part on `channel` at `tick`: planned notes from there go, held ones end."""
        self.scheduler.cut(tick, channel)
        self._drop_planned(tick, channel)
        for key, note in self._planned.items():
            if note.channel == channel and (note.off_tick is None or note.off_tick > tick):
                self._end_planned(key, tick)

    def forget_before(self, step: int) -> None:
        """Checkpoints older than the newest one at or before `step` can no longer be needed."""
        keep_from = 0
        for index, point in enumerate(self.checkpoints):
            if point.step <= step:
                keep_from = index
        if keep_from:
            del self.checkpoints[:keep_from]

    def insert_player(self, notes: list[PlayerNote], output_channel: int) -> None:
        """Encode the player's notes into the stream at their steps (rolling back if needed)."""
        started = time.perf_counter()
        first_step = min(self.step_of_tick(n.tick) for n in notes)
        if first_step < self.step:
            self.rollback_to(first_step)
            self.stats_.replans += 1
        tokens: list[int] = []
        self.encoder.sync_channel(self.channel)  # the model may have switched channel
        band = self._band.channels if self._band is not None else (output_channel,)
        for note in notes:  # the followed chord hears every note, wherever the stream is
            self.harmony.note_player(
                note.channel, note.pitch, note.velocity, self.step_of_tick(note.tick)
            )
        for note in sorted(notes, key=lambda n: n.tick):
            channel = self.player_channel(note.channel, band)
            beat = self.step_of_tick(note.tick) / self.spb
            tokens.extend(self.encoder.encode(NoteEvent(beat, note.pitch, note.velocity, channel)))
        self.logits = self._feed(tokens)
        self._checkpoint()  # a later rollback must keep these notes
        self.stats_.replan_ms.append((time.perf_counter() - started) * 1e3)
        arrived_ns = min(n.t_ns for n in notes)
        self.stats_.note_to_ready_ms.append((time.monotonic_ns() - arrived_ns) / 1e6)

    @staticmethod
    def player_channel(channel: int, band: int | Collection[int]) -> int:
        """The player's channel in the stream; never one of the model's (the output channel, or
        every part's): the next free one above it."""
        taken = {band} if isinstance(band, int) else set(band)
        while channel in taken and len(taken) < 16:
            channel = (channel + 1) % 16
        return channel

    def advance_to_step(self, step: int) -> None:
        """Write time (silence) up to `step` without the model."""
        if step <= self.step:
            return
        self.encoder.sync_channel(self.channel)
        self.logits = self._feed(self.encoder.advance_to(step / self.spb))
        self._checkpoint()

    def close_open_notes(self, end_step: int) -> None:
        """End the model's held notes at `end_step` (an answer is over), in the stream as well."""
        tokens: list[int] = []
        self.encoder.sync_channel(self.channel)
        for (channel, pitch), key in sorted(self.open_notes.items()):
            self.scheduler.end(key, self.tick_of_step(end_step))
            self._end_planned(key, self.tick_of_step(end_step))
            tokens.extend(self.encoder.encode(NoteEvent(end_step / self.spb, pitch, 0, channel)))
        self.open_notes.clear()
        self.logits = self._feed(tokens)
        self._checkpoint()

    # ---- one model token -------------------------------------------------------------------
    def _on_knobs(self, knobs: Knobs, now_step: int) -> None:
        """A knob moved: what is planned beyond now was made with the old one; plan it again."""
        before, self._knobs_seen = self._knobs_seen, knobs
        self.harmony.set_knob(knobs.chords)
        if before is None or self.step <= now_step:
            return
        if any(getattr(before, name) != getattr(knobs, name) for name in _REPLAN_KNOBS):
            self.rollback_to(now_step)
            self.stats_.replans += 1

    def generate_one(self, knobs: Knobs, plan: Plan) -> None:
        now_step = self.now_step() or 0
        band = self._band or self.band(knobs)  # advance() built it for this pass
        mask = self._mask(knobs, plan, now_step)
        logits = self.logits
        density = knobs.density * band.density.get(self.channel, 1.0) * self.model_density
        if density != 1.0:
            logits = logits.copy()
            bias = math.log(density) if density > 0 else -np.inf
            logits[self._is_note_on] += np.float32(bias)
        logits = self.harmony.lean(logits, self.step, self.channel)
        token = self.sampler.sample(logits, knobs, mask)
        if self.channel not in band.active and self._starts_note[token]:
            # the model wants to play in a part that is not its own: steer it into one of its
            # own, the one it likes best there (channel mask)
            token = self.sampler.sample(self.logits, knobs, band.channel_ok)
        # a time shift reaching a note's cap is cut there, with the release (inference/hold)
        for written in self._hold.split(token, self.decoder, band.active, self.bar_steps):
            self._write(written, knobs, now_step)
        self.forget_before(now_step)

    def _write(self, token: int, knobs: Knobs, now_step: int) -> None:
        """Feed a token the model wrote (or the hold cap wrote for it) and play its events."""
        if self._kind_list[token] == TokenKind.TIME_SHIFT:
            self._checkpoint()  # the state after every event at this step
        self.logits = self.engine.step(token)
        self.stats_.tokens += 1
        self.stats_.catch_up_tokens += self.step <= now_step
        events = self.decoder.feed(token)
        self._track(token)
        for event in events:
            self._play(event, knobs)
        harmony = self.harmony.due(self.step, token)  # a bar line or beat reached: its chord
        if harmony:
            self.logits = self._feed(harmony)
        if self._kind_list[token] == TokenKind.TIME_SHIFT:
            # the encoder writes the player's notes next: it must know where the model's time is
            self.encoder.sync_channel(self.channel)
            self.encoder.advance_to(self.step / self.spb)

    def _play(self, event: DecodedEvent, knobs: Knobs) -> None:
        """Shadow-encode the model's event (keeps the encoder in step) and schedule it."""
        self.encoder.sync_channel(event.channel)
        self.encoder.encode(
            NoteEvent(event.step / self.spb, event.pitch, event.velocity, event.channel)
        )
        self.encoder.sync_channel(self.channel)
        key_id = (event.channel, event.pitch)
        tick = self.tick_of_step(event.step)
        if event.velocity > 0:
            pitch = min(127, max(0, event.pitch + knobs.transpose))
            velocity = max(1, min(127, round(event.velocity * knobs.velocity_scale)))
            self._next_key += 1
            self.open_notes[key_id] = self._next_key
            self.scheduler.add(
                ScheduledNote(tick, tick + self.max_note_ticks, pitch, velocity, event.channel),
                key=self._next_key,
            )
            self._planned[self._next_key] = PlannedNote(tick, None, pitch, event.channel)
            self._plan_built = None
        else:
            key = self.open_notes.pop(key_id, None)
            if key is not None:
                self.scheduler.end(key, tick)
                self._end_planned(key, tick)

    # ---- the plan, for the piano roll ------------------------------------------------------
    # Kept here, beside the scheduler calls it mirrors, so the scheduler's send loop does no
    # extra work: each change costs a dict update; the views are rebuilt once per loop pass.
    def _end_planned(self, key: int, tick: int) -> None:
        note = self._planned.get(key)
        if note is not None:
            note.off_tick = max(tick, note.on_tick + 1)  # as the scheduler clamps it
            note.view = None
            self._plan_built = None

    def _drop_planned(self, from_tick: int, channel: int | None) -> None:
        """Mirror of the scheduler's cancel: notes starting at or after `from_tick` go."""
        gone = [
            key
            for key, note in self._planned.items()
            if note.on_tick >= from_tick and (channel is None or note.channel == channel)
        ]
        for key in gone:
            del self._planned[key]
        if gone:
            self._plan_built = None

    def _publish_plan(self, now_step: int) -> None:
        """Rebuild `planned_views` when the plan, now or the written position moved.

        Notes that started before the current step are forgotten. A note whose note-off is not
        written yet is drawn up to where the model has written so far (it lasts at least that).
        """
        built = (now_step, self.step)
        if built == self._plan_built:
            return
        self._plan_built = built
        now_tick = self.tick_of_step(now_step)
        past = [key for key, note in self._planned.items() if note.on_tick < now_tick]
        for key in past:
            del self._planned[key]
        written = self.tick_of_step(self.step)
        views = []
        for note in self._planned.values():
            view = note.view
            if view is None:
                end = note.off_tick
                if end is None:
                    end = min(max(written, note.on_tick + 1), note.on_tick + self.max_note_ticks)
                view = NoteView(
                    note.pitch,
                    note.on_tick / TICKS_PER_BEAT,
                    end / TICKS_PER_BEAT,
                    "planned",
                    note.channel,
                )
                if note.off_tick is not None:
                    note.view = view
            views.append(view)
        self.planned_views = tuple(views)

    # ---- masks -----------------------------------------------------------------------------
    def _make_static_mask(self) -> np.ndarray:
        """Tokens a live stream never samples: padding, start/end, conditioning."""
        allowed = np.ones(self.vocab.size, dtype=bool)
        for kind in (TokenKind.PAD, TokenKind.BOS, TokenKind.EOS, TokenKind.MODE):
            allowed[self._kinds == kind] = False
        for kind in (TokenKind.KEY, TokenKind.STYLE):
            allowed[self._kinds == kind] = False
        return allowed

    def _mask(self, knobs: Knobs, plan: Plan, now_step: int) -> np.ndarray:
        grammar = self._static_mask & self._grammar_mask()
        mask = grammar.copy()
        band = self._band or self.band(knobs)
        # no note may start before it can go out in time (first_playable_step) or after the
        # plan's end
        notes_ok = (
            plan.notes
            and self.first_playable_step(now_step) <= self.step < plan.until_step
            and bool(band.active)
        )
        if not notes_ok:
            mask &= ~self._starts_note
        elif self.channel in band.active:
            mask &= ~self._is_channel | band.channel_ok  # stay in the model's own parts
            mask &= band.program_ok[self.channel]  # each part keeps its instrument
            program = band.program_token.get(self.channel)
            if (
                program is not None
                and self.last_kind == TokenKind.CHANNEL
                and self.decoder.programs.get(self.channel) != self._arg_list[program]
            ):
                # a part's first note names its instrument, so the model knows what it plays
                only = np.zeros_like(mask)
                only[program] = True
                mask &= only
        else:
            mask &= ~self._is_note_off  # the player's notes are the player's to end
        key_mask = self._key_mask(knobs)
        if key_mask is not None:
            mask &= key_mask
        mask = self.harmony.restrict(mask, self.step)
        mask = self._hold.restrict(mask, self.decoder, band.active)  # our parts' notes only
        if not mask.any():  # never stuck: fall back to what the grammar allows
            mask = grammar if grammar.any() else self._kinds == TokenKind.TIME_SHIFT
        return mask

    def band(self, knobs: Knobs) -> Band:
        """The parts' channels, masks and mix for these knobs (rebuilt only when they change)."""
        mix = self.context.control.part_mix
        key = (knobs.output_channel, mix)
        if (
            self._band is not None
            and (seen := self._band_key)
            and seen[0] == key[0]
            and seen[1] is mix
        ):
            return self._band
        channels = part_channels(self.parts, knobs.output_channel)
        mixes = {
            channel: mix.get(part.role, PartMix()) if part is not None else PartMix()
            for channel, part in channels.items()
        }
        active = frozenset(c for c, m in mixes.items() if not m.muted)
        is_program = self._kinds == TokenKind.PROGRAM
        program_ok: dict[int, np.ndarray] = {}
        program_token: dict[int, int] = {}
        for channel, part in channels.items():
            allowed = ~is_program
            if part is None:
                allowed = np.ones_like(is_program)  # one part, as before: any instrument
            elif part.program is not None:
                token = self.vocab.program(part.program - 1)
                program_token[channel] = token
                allowed = allowed.copy()
                allowed[token] = True
            program_ok[channel] = allowed
        previous = self._band
        self._band_key, self._band = (
            key,
            Band(
                channels=channels,
                active=active,
                channel_ok=self._is_channel & np.isin(self._args, list(active)),
                program_ok=program_ok,
                program_token=program_token,
                density={c: m.density for c, m in mixes.items()},
            ),
        )
        if previous is not None and hasattr(self, "origin_tick"):
            self._on_band(previous, self._band)
        return self._band

    def _on_band(self, before: Band, after: Band) -> None:
        """A part muted or its density turned: what is written past now is re-planned, and a
        part that went quiet stops now."""
        now_step = self.now_step()
        if now_step is None:
            return
        if self.step > now_step:
            self.rollback_to(now_step)
            self.stats_.replans += 1
        now_tick = self.tick_of_step(now_step)
        for channel in before.active - after.active:
            self.cut(now_tick, channel)

    def _grammar_mask(self) -> np.ndarray:
        return self._grammar.table[self.last_kind]

    def _key_mask(self, knobs: Knobs) -> np.ndarray | None:
        text, transpose, cached = self._key_cache
        if text == knobs.key_lock and transpose == knobs.transpose:
            return cached
        try:
            pitch_classes = key_pitch_classes(knobs.key_lock)
        except ConfigError as err:
            log.warning("%s; key lock off", err)
            pitch_classes = None
        mask = None
        if pitch_classes is not None:
            on = self._kinds == TokenKind.NOTE_ON
            in_key = np.isin((self._args + knobs.transpose) % 12, list(pitch_classes))
            mask = ~on | in_key
        self._key_cache = (knobs.key_lock, knobs.transpose, mask)
        return mask
