"""The live `vary` move: the player's last bar(s) come back varied, from the next bar line on.

Triggered by the TUI's `v`, a controller (`[vary] cc`, a press = a value crossing 64 upwards) or
the daemon's `vary` command; the daemon's supervisor thread calls `VaryMove.request`. Why there
and not on a thread of its own: a vary is one short call (~2 ms for the VAE, ~10 ms for DDIM at
10 steps on one core) on a thread that only polls every 50 ms, never the thread that sends.

What is varied, in ticks of the clock's timeline:
- the source: the `bars` whole bars that end on the bar line nearest the trigger (a bar counts
  once half of it is played, so a press just after a bar line varies the bar just finished);
  notes still held are taken as ending at the trigger; a note up to a 32nd early counts in the
  bar it anticipates (placed on its first beat);
- the notes are condensed rows (livegen/variation/notes.py) from the source's first bar line. A
  model varies windows of exactly N notes: M < N notes are looped (the span repeated, as a
  looper would) to fill the window, more than N make several windows, and only the first M
  varied rows are kept. With `keep_rhythm` (the default) their onsets and lengths are put back
  to the player's: same feel, different notes. Otherwise varied notes past the span's end are
  dropped, longer ones cut at it;
- they go to the scheduler shifted by whole bars, so the variation starts on the first bar line
  still ahead once the model is done, on `[vary] channel` (or the output_channel knob), marked
  `fixed`: the performer's re-plans do not cancel them; panic, pause, a transport stop and
  shutdown still end them (the scheduler's silence).
The input thread only appends to `PlayerHistory`; it never waits on the model.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from livegen.errors import LivegenError, ModelLoadError
from livegen.live.clock import TICKS_PER_BEAT, Clock
from livegen.live.control import Control
from livegen.live.scheduler import ScheduledNote, Scheduler
from livegen.live.serve_config import VaryConfig
from livegen.tokenizer import Note
from livegen.variation.model import VariationModel
from livegen.variation.notes import GAP, notes_to_rows, rows_to_notes
from livegen.variation.vary import vary_rows

PRESS = 64  # a controller value at or above this is a pressed button / pedal
HISTORY_NOTES = 1024  # the player's notes kept for varying (many bars of dense playing)
LEAD_TICKS = TICKS_PER_BEAT // 8  # a variation starts at least this far ahead of now
# A note played up to a 32nd early belongs to the bar it anticipates (a player's downbeat is
# often early, and the clock follower's estimate of it jitters by a millisecond or two)
EARLY_TICKS = TICKS_PER_BEAT // 8


@dataclass(frozen=True)
class HeardNote:
    """One of the player's notes on the clock's timeline (off_tick None while held)."""

    on_tick: float
    off_tick: float | None
    pitch: int
    velocity: int
    channel: int


class PlayerHistory:
    """The player's recent notes; written by the input thread, read by the supervisor.

    deque.append is atomic in CPython and readers copy it, so neither side takes a lock.
    """

    def __init__(self, size: int = HISTORY_NOTES) -> None:
        self.finished: collections.deque[HeardNote] = collections.deque(maxlen=size)
        self._held: dict[tuple[int, int], HeardNote] = {}

    def hear(self, tick: float, channel: int, pitch: int, velocity: int) -> None:
        """A note-on (velocity > 0) or note-off at `tick` (negative: no clock yet, ignored)."""
        key = (channel, pitch)
        started = self._held.pop(key, None)
        if started is not None:
            self.finished.append(HeardNote(started.on_tick, tick, pitch, started.velocity, channel))
        if velocity and tick >= 0:
            self._held[key] = HeardNote(tick, None, pitch, velocity, channel)

    def notes_in(self, start_tick: float, end_tick: float, now_tick: float) -> list[Note]:
        """Notes starting in [start, end), as beats; a held one ends at `now_tick`."""
        try:
            heard = list(self.finished) + list(self._held.values())
        except RuntimeError:  # the held dict changed while copied: take the finished ones
            heard = list(self.finished)
        notes = []
        for n in heard:
            if start_tick <= n.on_tick < end_tick:
                off = now_tick if n.off_tick is None else n.off_tick
                notes.append(
                    Note(
                        n.pitch,
                        n.on_tick / TICKS_PER_BEAT,
                        max(off, n.on_tick) / TICKS_PER_BEAT,
                        n.velocity,
                        n.channel,
                    )
                )
        return sorted(notes, key=lambda n: (n.start_beat, n.pitch))


def source_span(now_tick: float, bar_ticks: int, bars: int) -> tuple[int, int]:
    """[start, end) ticks of the `bars` bars ending on the bar line nearest `now_tick`."""
    end = max(round(now_tick / bar_ticks), 1) * bar_ticks
    return max(end - bars * bar_ticks, 0), end


def first_start(span_end: int, now_tick: float, bar_ticks: int) -> int:
    """The bar line the variation starts on: the span's end if still ahead, else the next one."""
    if span_end >= now_tick + LEAD_TICKS:
        return span_end
    return math.ceil((now_tick + LEAD_TICKS) / bar_ticks) * bar_ticks


def looped_rows(notes: list[Note], span_start_beat: float, span_beats: float, window: int):
    """(W, window, 4) rows of `notes` repeated span after span until W whole windows are full."""
    count = len(notes)
    n_windows = math.ceil(count / window)
    looped: list[Note] = []
    for lap in range(math.ceil(n_windows * window / count)):
        shift = lap * span_beats
        looped.extend(
            Note(n.pitch, n.start_beat + shift, n.end_beat + shift, n.velocity, n.channel)
            for n in notes
        )
    rows = notes_to_rows(looped[: n_windows * window], span_start_beat)
    return rows.reshape(n_windows, window, 4)


def varied_notes(
    model: VariationModel,
    notes: list[Note],
    span: tuple[int, int],
    config: VaryConfig,
    seed: int | None = None,
) -> list[Note]:
    """The variation of `notes` (beats on the timeline), inside the same span."""
    start_beat, end_beat = span[0] / TICKS_PER_BEAT, span[1] / TICKS_PER_BEAT
    rows = looped_rows(notes, start_beat, end_beat - start_beat, model.window)
    varied = vary_rows(
        model, rows, config.method or None, config.strength, config.steps, seed
    ).reshape(-1, 4)[: len(notes)]
    if config.keep_rhythm:
        varied[:, GAP:] = rows.reshape(-1, 4)[: len(notes), GAP:]
    kept = []
    for note in rows_to_notes(varied, start_beat, notes):
        if note.start_beat < end_beat:
            end = min(note.end_beat, end_beat)
            kept.append(Note(note.pitch, note.start_beat, end, note.velocity, note.channel))
    return kept


@dataclass(frozen=True)
class VaryOutcome:
    """What a vary did, in one line for the TUI and the log; `notes` = 0 when nothing played."""

    message: str
    notes: int = 0
    start_tick: int = -1


class VaryMove:
    """The daemon's vary action: a model (or None, then every request says how to get one)."""

    def __init__(
        self,
        config: VaryConfig,
        model: VariationModel | None = None,
        *,
        beats_per_bar: int = 4,
        seed: int = 0,
    ) -> None:
        self.config = config
        self.model = model
        self.bar_ticks = beats_per_bar * TICKS_PER_BEAT
        self.history = PlayerHistory()
        self._seed = np.random.SeedSequence(seed)
        self._cc_pressed = False

    @classmethod
    def load(cls, model_path: str, config: VaryConfig, **kwargs) -> VaryMove:
        """With the folder `model_path` opened ("" = no model); ModelLoadError if it is not one."""
        if not model_path:
            return cls(config, None, **kwargs)
        try:
            model = VariationModel.load(model_path)
        except LivegenError:
            raise
        except Exception as err:  # anything else a broken folder raises inside onnxruntime
            raise ModelLoadError(f"vary_model {model_path!r} cannot be loaded: {err}") from err
        return cls(config, model, **kwargs)

    def is_press(self, control: int, value: int) -> bool:
        """Input thread: whether this controller message presses the vary button (its own CC,
        crossing PRESS upwards; a button's release or a pedal held down does not repeat it)."""
        if control != self.config.cc:
            return False
        was, self._cc_pressed = self._cc_pressed, value >= PRESS
        return self._cc_pressed and not was

    def request(
        self,
        clock: Clock,
        scheduler: Scheduler,
        control: Control,
        paused: bool,
        pressed_ns: int | None = None,
    ) -> VaryOutcome:
        """The daemon's `vary` command: play, on `[vary] channel` or the output_channel knob.

        `pressed_ns` (monotonic): when the controller was pressed; the bars varied are those
        before the press, not before the moment this thread got to it (None: now)."""
        line = clock.timeline
        if line is None or not clock.running:
            return VaryOutcome("vary: the clock is not running")
        if paused:
            return VaryOutcome("vary: generation is paused; resume first")
        channel = self.config.channel
        return self.play(
            lambda: (clock.timeline or line).ns_to_tick(clock.now_ns()),
            scheduler,
            control.knobs.output_channel if channel < 0 else channel,
            None if pressed_ns is None else line.ns_to_tick(pressed_ns),
        )

    def play(
        self,
        now_tick: Callable[[], float],
        scheduler: Scheduler,
        channel: int,
        trigger_tick: float | None = None,
    ) -> VaryOutcome:
        """Vary the last bar(s) before `trigger_tick` (None: now) and schedule them (see the
        module docstring)."""
        if self.model is None:
            return VaryOutcome(
                "vary: no variation model; set vary_model to an exported vae/ddpm folder "
                "(livegen export of a vae or ddpm checkpoint), e.g. --set vary_model=models/vae"
            )
        if trigger_tick is None:
            trigger_tick = now_tick()
        span = source_span(trigger_tick, self.bar_ticks, self.config.bars)
        notes = self.history.notes_in(span[0] - EARLY_TICKS, span[1] - EARLY_TICKS, trigger_tick)
        first_beat = span[0] / TICKS_PER_BEAT
        notes = [  # the early ones on the first beat; the others keep their place in the bar
            Note(n.pitch, first_beat, max(n.end_beat, first_beat), n.velocity, n.channel)
            if n.start_beat < first_beat
            else n
            for n in notes
        ]
        bars = f"{self.config.bars} bar{'s' if self.config.bars > 1 else ''}"
        if not notes:
            return VaryOutcome(f"vary: nothing played in the last {bars} to vary")
        seed = int(self._seed.spawn(1)[0].generate_state(1)[0])
        varied = varied_notes(self.model, notes, span, self.config, seed)
        start = first_start(span[1], now_tick(), self.bar_ticks)
        shift = start - span[0]
        for note in varied:
            on = round(note.start_beat * TICKS_PER_BEAT) + shift
            off = max(round(note.end_beat * TICKS_PER_BEAT) + shift, on + 1)
            scheduler.add(ScheduledNote(on, off, note.pitch, note.velocity, channel, fixed=True))
        bar = start // self.bar_ticks + 1
        return VaryOutcome(
            f"vary: {len(varied)} notes of the last {bars} come back varied from bar {bar}",
            len(varied),
            start,
        )
