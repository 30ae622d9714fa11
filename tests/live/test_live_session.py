"""The generator's logic on a manual clock with a tiny random model: modes, masks, re-planning.

`FakeDaemon` holds what the session's context lends it (clock, scheduler, control, queues) and
`drive` runs the session's own loop body (`advance`) with the clock stepped one tick at a time,
so every run is exact and repeatable.
"""

from __future__ import annotations

import queue
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from livegen.errors import ModelLoadError
from livegen.inference import engine as engine_module
from livegen.inference.engine import Engine
from livegen.live.clock import TICKS_PER_BEAT, ManualClock
from livegen.live.context import PlayerNote
from livegen.live.control import Control
from livegen.live.daemon import Daemon
from livegen.live.knobs import Knobs
from livegen.live.live_session import LiveSession
from livegen.live.scheduler import Scheduler
from livegen.tokenizer import decode_tokens


class FakeDaemon:
    def __init__(self, knobs: Knobs) -> None:
        self.clock = ManualClock(bpm=120)
        self.sent: list[list[int]] = []
        self.scheduler = Scheduler(self.sent.append, self.clock)
        self.control = Control(knobs)
        self.player_notes: queue.SimpleQueue[PlayerNote] = queue.SimpleQueue()
        self.stop_event = threading.Event()
        self.paused = False
        self.held_keys: set[tuple[int, int]] = set()
        self.clock.start()

    session_context = Daemon.session_context  # the same narrow view a real daemon lends

    def tick(self) -> float:
        position = self.clock.position_ticks()
        assert position is not None
        return position


def make_session(model: Path, knobs: Knobs, **kwargs: object) -> tuple[LiveSession, FakeDaemon]:
    daemon = FakeDaemon(knobs)
    session = LiveSession(Engine.load(model, overflow="sync"), seed=3, **kwargs)  # type: ignore[arg-type]
    session.attach(daemon.session_context())
    assert session.ready(knobs)
    return session, daemon


def drive(
    session: LiveSession,
    daemon: FakeDaemon | Daemon,
    until_tick: int,
    player: dict[int, list[tuple[int, int, int]]] | None = None,
    after_each: Callable[[], None] | None = None,
) -> None:
    """Run the loop to `until_tick`; `player` maps a tick to (channel, pitch, velocity) notes.

    `after_each` runs after every pass of the loop (e.g. the daemon's supervisor step)."""
    player = player or {}
    pending: list[PlayerNote] = []

    def now_tick() -> float:
        position = daemon.clock.position_ticks()
        assert position is not None
        return position

    while now_tick() < until_tick:
        tick = round(now_tick())
        for channel, pitch, velocity in player.pop(tick, []):
            key = (channel, pitch)
            (daemon.held_keys.add if velocity else daemon.held_keys.discard)(key)
            pending.append(PlayerNote(tick, daemon.clock.now_ns(), channel, pitch, velocity))
        knobs = daemon.control.knobs
        session.ready(knobs)
        if not session.advance(pending, knobs):
            daemon.clock.advance_ticks(1)  # type: ignore[attr-defined]
        daemon.scheduler.pump(daemon.clock.now_ns())
        if after_each is not None:
            after_each()


def note_ons(daemon: FakeDaemon) -> list[tuple[int, int, int]]:
    """(tick, channel, pitch) of every note-on the scheduler sent."""
    return [
        (s.tick, s.message[0] & 0x0F, s.message[1])
        for s in daemon.scheduler.sent_log
        if s.message[0] & 0xF0 == 0x90
    ]


def test_continue_plays_only_on_the_output_channel_and_never_late(tiny_model_dir: Path) -> None:
    session, daemon = make_session(tiny_model_dir, Knobs(mode="continue", output_channel=3))
    drive(session, daemon, 8 * TICKS_PER_BEAT)
    ons = note_ons(daemon)
    assert ons, "the model played nothing in eight beats"
    assert {channel for _, channel, _ in ons} == {3}
    assert daemon.scheduler.stats.late_notes == 0
    assert daemon.scheduler.stats.dropped_notes == 0


def test_everything_is_planned_ahead_of_playback(tiny_model_dir: Path) -> None:
    session, daemon = make_session(tiny_model_dir, Knobs(mode="continue", output_channel=0))
    drive(session, daemon, 4 * TICKS_PER_BEAT)
    # written up to the write limit (`write_ahead_ms` past what the scheduler sends next; the
    # rest of the mode's 1.5-beat plan as time passes), so nothing due is left unwritten
    now_step = session.now_step()
    assert now_step is not None
    assert session.step >= session.write_limit(now_step) > now_step


def test_a_player_note_rolls_back_and_is_in_the_models_context(tiny_model_dir: Path) -> None:
    session, daemon = make_session(tiny_model_dir, Knobs(mode="accompany", output_channel=1))
    drive(session, daemon, 2 * TICKS_PER_BEAT, {24: [(0, 60, 100)]})
    assert session.stats_.replans == 0  # nothing was planned before the first note
    drive(session, daemon, 4 * TICKS_PER_BEAT, {72: [(0, 64, 90)], 90: [(0, 64, 0)]})
    assert session.stats_.replans >= 1
    history = [session.vocab.name(t) for t in session.engine.history()[0]]
    assert "NOTE_ON_60" in history and "NOTE_ON_64" in history and "NOTE_OFF_64" in history


def test_rollback_then_insert_equals_feeding_the_same_tokens_fresh(tiny_model_dir: Path) -> None:
    session, daemon = make_session(tiny_model_dir, Knobs(mode="accompany", output_channel=1))
    drive(session, daemon, 3 * TICKS_PER_BEAT, {12: [(0, 60, 100)], 60: [(0, 62, 100)]})
    history = session.engine.history()[0].tolist()
    fresh = Engine.load(tiny_model_dir, overflow="sync")
    expected = fresh.prefill(history)
    assert np.allclose(session.logits, expected, atol=1e-4)


def test_player_on_the_output_channel_is_moved_to_another_part() -> None:
    assert LiveSession.player_channel(1, 1) == 2
    assert LiveSession.player_channel(0, 1) == 0
    assert LiveSession.player_channel(1, {1, 2, 9}) == 3  # off every part's channel


def test_call_answers_after_the_phrase_from_the_next_bar(tiny_model_dir: Path) -> None:
    knobs = Knobs(mode="call", output_channel=0, answer_bars=2)
    session, daemon = make_session(tiny_model_dir, knobs, call_silence_beats=1.0)
    phrase = {0: [(0, 60, 100)], 12: [(0, 60, 0), (0, 62, 100)], 30: [(0, 62, 0)]}
    drive(session, daemon, 14 * TICKS_PER_BEAT, phrase)
    ons = note_ons(daemon)
    bar = 4 * TICKS_PER_BEAT
    assert ons, "no answer"
    # the phrase ended at tick 30 (+1 beat of silence): the answer fills bars 2 and 3 only
    assert min(t for t, _, _ in ons) >= bar
    assert max(t for t, _, _ in ons) < 3 * bar
    offs = [s for s in daemon.scheduler.sent_log if s.message[0] & 0xF0 == 0x80]
    assert len(offs) == len(ons)
    assert max(s.tick for s in offs) <= 3 * bar


def test_call_stops_answering_when_the_player_comes_back(tiny_model_dir: Path) -> None:
    knobs = Knobs(mode="call", output_channel=0, answer_bars=4)
    session, daemon = make_session(tiny_model_dir, knobs, call_silence_beats=1.0)
    drive(session, daemon, 5 * TICKS_PER_BEAT, {0: [(0, 60, 100)], 6: [(0, 60, 0)]})
    comeback = 5 * TICKS_PER_BEAT + 1
    drive(session, daemon, 12 * TICKS_PER_BEAT, {comeback: [(0, 67, 100)]})
    assert all(t <= comeback for t, _, _ in note_ons(daemon))
    assert daemon.scheduler.sounding() == []  # the answer's notes ended at the comeback


def test_knob_changes_apply_to_the_next_notes(tiny_model_dir: Path) -> None:
    session, daemon = make_session(tiny_model_dir, Knobs(mode="continue", output_channel=2))
    drive(session, daemon, 4 * TICKS_PER_BEAT)
    daemon.control.set(output_channel=5, transpose=12)
    changed_at = round(daemon.tick())
    drive(session, daemon, 10 * TICKS_PER_BEAT)
    later = [(t, c) for t, c, _ in note_ons(daemon) if t > changed_at]
    assert later and {c for _, c in later} == {5}


def test_a_knob_change_re_plans_what_was_planned_beyond_now(tiny_model_dir: Path) -> None:
    session, daemon = make_session(tiny_model_dir, Knobs(mode="continue", output_channel=2))
    drive(session, daemon, 4 * TICKS_PER_BEAT)
    now_step = session.now_step()
    assert now_step is not None and session.step > now_step  # a plan reaches beyond now
    daemon.control.set(transpose=7)
    replans, undone = session.stats_.replans, session.stats_.rollback_tokens
    session.advance([], daemon.control.knobs)
    assert session.stats_.replans == replans + 1
    assert session.stats_.rollback_tokens > undone  # the old plan beyond now was rolled back


def test_continue_goes_on_from_a_prompt(tiny_model_dir: Path) -> None:
    from livegen.tokenizer import NoteEvent

    prompt = [NoteEvent(0.0, 60, 90), NoteEvent(1.0, 60, 0), NoteEvent(1.0, 64, 90)]
    prompt.append(NoteEvent(2.0, 64, 0))
    knobs = Knobs(mode="continue", output_channel=0)
    session, daemon = make_session(tiny_model_dir, knobs, prompt=prompt)
    history = [session.vocab.name(t) for t in session.engine.history()[0]]
    assert history[:2] == ["BOS", "MODE_continue"]
    assert "NOTE_ON_60" in history and "NOTE_OFF_64" in history
    # the prompt is context, not played: the stream's "now" is where the prompt ends
    assert session.now_step() is not None and session.now_step() < session.step
    start = daemon.tick()
    drive(session, daemon, 6 * TICKS_PER_BEAT)
    assert all(t > start for t, _, _ in note_ons(daemon))


# ---- the plan on the piano roll -----------------------------------------------------------------
def make_daemon_session(model: Path, knobs: Knobs) -> tuple[LiveSession, Daemon]:
    """A real daemon (fake ports, manual clock, no threads) driving a real session."""
    from livegen.live.serve_config import load_serve_config

    from .test_daemon import FakePorts

    config = load_serve_config(None, ["timing.realtime_priority=false", "timing.latency_ms=5"])
    clock = ManualClock(bpm=120)
    daemon = Daemon(config, Control(knobs), FakePorts(), clock, queue.SimpleQueue())  # type: ignore[arg-type]
    # written a beat ahead, so the random model's plan has notes for the piano roll to show
    session = LiveSession(Engine.load(model, overflow="sync"), seed=3, write_ahead_ms=500)
    daemon.performer = session
    session.attach(daemon.session_context())
    clock.start()
    assert session.ready(knobs)
    return session, daemon


def now_beat(daemon: Daemon) -> float:
    position = daemon.clock.position_ticks()
    assert position is not None
    return position / TICKS_PER_BEAT


def unsent(daemon: Daemon) -> set[tuple[float, int, int]]:
    """(beat, pitch, channel) of the notes the scheduler holds whose note-on has not gone out."""
    scheduler = daemon.scheduler
    lead = scheduler.lead_ns
    line = daemon.clock.timeline
    assert line is not None
    sent_tick = line.ns_to_tick(daemon.clock.now_ns() + lead)
    return {
        (note.on_tick / TICKS_PER_BEAT, note.pitch, note.channel)
        for note_id, note in scheduler._notes.items()
        if note_id not in scheduler._started and note.on_tick > sent_tick
    }


def shown(daemon: Daemon) -> set[tuple[float, int, int]]:
    return {(v.start_beat, v.pitch, v.channel) for v in daemon.control.planned}


def test_the_plan_shows_exactly_the_scheduled_notes_not_yet_played(tiny_model_dir: Path) -> None:
    # (the random model plays only sparsely on other channels with this seed)
    knobs = Knobs(mode="continue", output_channel=0, transpose=5)
    session, daemon = make_daemon_session(tiny_model_dir, knobs)
    ever_planned: set[tuple[float, int, int]] = set()
    checks = 0

    def supervise() -> None:
        nonlocal checks
        daemon.supervise()
        views = daemon.control.planned
        assert all(v.source == "planned" and v.start_beat > now_beat(daemon) for v in views)
        assert all(v.end_beat is not None and v.end_beat > v.start_beat for v in views)
        assert shown(daemon) == unsent(daemon)  # transposed pitches, as they will sound
        ever_planned.update(shown(daemon))
        checks += bool(views)

    drive(session, daemon, 8 * TICKS_PER_BEAT, after_each=supervise)
    assert checks > 0, "nothing was ever shown as planned"
    played = {
        (s.tick / TICKS_PER_BEAT, s.message[1], s.message[0] & 0x0F)
        for s in daemon.scheduler.sent_log
        if s.message[0] & 0xF0 == 0x90
    }
    assert played, "the model played nothing"
    assert played <= ever_planned  # every note was on the roll before it sounded
    assert not played & shown(daemon)  # and left the plan once played


def drive_until_planned(session: LiveSession, daemon: Daemon, beats: int) -> bool:
    """Drive tick by tick until the daemon shows a plan (False if none within `beats`)."""
    position = daemon.clock.position_ticks()
    assert position is not None
    for tick in range(round(position) + 1, round(position) + beats * TICKS_PER_BEAT):
        drive(session, daemon, tick, after_each=daemon.supervise)
        if daemon.control.planned:
            return True
    return False


def test_a_player_note_drops_the_plan_after_it_and_panic_clears_it(tiny_model_dir: Path) -> None:
    session, daemon = make_daemon_session(tiny_model_dir, Knobs(mode="accompany", output_channel=0))
    drive(session, daemon, TICKS_PER_BEAT, {0: [(1, 60, 100)]}, after_each=daemon.supervise)
    assert drive_until_planned(session, daemon, 8), "accompany planned nothing ahead"
    tick = round(now_beat(daemon) * TICKS_PER_BEAT)
    note = PlayerNote(tick, daemon.clock.now_ns(), 1, 64, 90)
    replans = session.stats_.replans
    session.advance([note], daemon.control.knobs)  # rolls back to now, then writes one token
    daemon.scheduler.pump(daemon.clock.now_ns())
    daemon.supervise()
    assert session.stats_.replans == replans + 1
    assert daemon.control.planned == ()  # everything planned after the note was dropped
    assert unsent(daemon) == set()
    assert drive_until_planned(session, daemon, 8), "nothing planned again after the re-plan"
    daemon.control.send("panic")
    daemon.supervise()
    assert daemon.control.planned == ()
    assert drive_until_planned(session, daemon, 8), "nothing planned after the panic"
    daemon.clock.stop()
    daemon.supervise()
    assert daemon.control.planned == ()


def _two_bar_call(release: int = 22) -> dict[int, list[tuple[int, int, int]]]:
    """Beats 1..8 of bars 2-3 (one note a beat), each released `release` ticks later."""
    phrase: dict[int, list[tuple[int, int, int]]] = {}
    for beat in range(8):
        on = 4 * TICKS_PER_BEAT + beat * TICKS_PER_BEAT
        pitch = 60 + (0, 2, 4, 5, 7, 5, 4, 2)[beat]
        phrase.setdefault(on, []).append((0, pitch, 100))
        phrase.setdefault(on + release, []).append((0, pitch, 0))
    return phrase


def test_call_answers_on_the_bar_line_where_a_phrase_of_whole_bars_ends(
    tiny_model_dir: Path,
) -> None:
    """Released just before the bar line of bar 4: the answer starts on that downbeat."""
    # density 4: the tiny random model's one-bar answer has notes whatever its draws (at 1, one
    # seed in four wrote a single long rest)
    knobs = Knobs(mode="call", output_channel=0, answer_bars=1, density=4.0)
    session, daemon = make_session(tiny_model_dir, knobs, call_silence_beats=1.0)
    bar = 4 * TICKS_PER_BEAT
    drive(session, daemon, 5 * bar, _two_bar_call())
    ons = note_ons(daemon)
    assert ons, "no answer"
    last_release = 11 * TICKS_PER_BEAT + 22
    assert session.mode.answer_end == session.step_of_tick(4 * bar)  # bar 4 only
    assert min(t for t, _, _ in ons) >= 3 * bar  # on the downbeat of bar 4, not before
    assert min(t for t, _, _ in ons) <= last_release + bar


def test_trading_twos_a_call_is_not_over_at_its_first_bar_line(tiny_model_dir: Path) -> None:
    """answer_bars = 2: the bar line after one bar of a two-bar call is no place to answer (the
    player's next note would land on the answer's first); the one after two bars is."""
    knobs = Knobs(mode="call", output_channel=0, answer_bars=2)
    session, daemon = make_session(tiny_model_dir, knobs, call_silence_beats=1.0)
    bar = 4 * TICKS_PER_BEAT
    drive(session, daemon, 2 * bar + TICKS_PER_BEAT // 2, _two_bar_call())
    assert session.mode.answer_end == 0, "answered at the bar line inside the call"
    drive(session, daemon, 3 * bar + 1, _two_bar_call())
    assert session.mode.answer_end == session.step_of_tick(5 * bar)  # bars 4-5


def test_call_answer_start_beat_still_waits_for_silence(tiny_model_dir: Path) -> None:
    knobs = Knobs(mode="call", output_channel=0, answer_bars=1)
    session, daemon = make_session(
        tiny_model_dir, knobs, call_silence_beats=1.0, call_answer_start="beat"
    )
    bar = 4 * TICKS_PER_BEAT
    drive(session, daemon, 4 * bar, _two_bar_call())
    start = session.mode.answer_end - session.bar_steps
    # over after half a beat of silence past the bar line, then from the next beat
    assert session.step_of_tick(3 * bar + TICKS_PER_BEAT // 2) < start
    assert start % session.spb == 0 and start <= session.step_of_tick(3 * bar + TICKS_PER_BEAT)


def test_call_holds_its_answer_while_the_player_goes_on_past_the_bar_line(
    tiny_model_dir: Path,
) -> None:
    """A key held across the bar line: no answer there. Playing on just after a released bar
    line: the answer stops where the player came in, and comes after the longer phrase."""
    knobs = Knobs(mode="call", output_channel=0, answer_bars=1, density=4.0)  # notes, any draw
    session, daemon = make_session(tiny_model_dir, knobs, call_silence_beats=1.0)
    bar = 4 * TICKS_PER_BEAT
    phrase = _two_bar_call()
    held = _two_bar_call(release=36)  # the last note held over the bar line
    phrase[11 * TICKS_PER_BEAT + 22] = []
    phrase[11 * TICKS_PER_BEAT + 36] = held[11 * TICKS_PER_BEAT + 36]
    comeback = 3 * bar + 2
    phrase[comeback] = [(0, 72, 100)]
    phrase[comeback + 60] = [(0, 72, 0)]  # released 2.6 beats into bar 4
    drive(session, daemon, 6 * bar, phrase)
    ons = note_ons(daemon)
    assert not [t for t, _, _ in ons if 3 * bar <= t < 4 * bar], "answered during bar 4"
    assert ons and min(t for t, _, _ in ons) >= 4 * bar  # after the longer phrase


def test_the_generator_joins_the_engines_slide_worker_when_it_stops(
    tiny_model, monkeypatch
) -> None:
    """The daemon's generator thread ends with no engine worker left inside onnxruntime, so the
    process never exits with a native thread mid-run ("terminate called ...")."""
    prefill = engine_module._Slide._run

    def slow_prefill(self, window) -> None:
        time.sleep(0.5)  # a window prefill still running when the session stops
        prefill(self, window)

    monkeypatch.setattr(engine_module._Slide, "_run", slow_prefill)
    engine = Engine.load(tiny_model("rope", context=64), overflow="background")
    engine.prefill(np.arange(4, 4 + 50))  # past context - margin (48): a slide starts
    slide = engine._slide
    assert slide is not None and slide.thread.is_alive()
    session = LiveSession(engine, seed=3)
    daemon = FakeDaemon(Knobs(mode="continue"))
    daemon.stop_event.set()  # stop asked: the loop ends at once
    session.run(daemon.session_context())
    assert not slide.thread.is_alive()


def test_no_note_is_written_due_sooner_than_it_can_go_out(tiny_model_dir: Path) -> None:
    """After each player note the model re-plans from its step; a note it writes for a step due
    within the hand-off window plus the planning margin would go out late (the live bench's
    late onsets were all such notes), so none is written there."""
    margin_ms = 30.0  # at 120 BPM a step (one tick here) is 20.8 ms: none on the next one
    session, daemon = make_session(
        tiny_model_dir, Knobs(mode="accompany", output_channel=1, density=4.0),
        plan_margin_ms=margin_ms, write_ahead_ms=200.0,
    )  # fmt: skip
    daemon.scheduler.early_ns = 2_000_000
    written: list[tuple[int, int]] = []  # (ns until the note is due, tick) when it was written
    add = daemon.scheduler.add

    def recording_add(note, key=None) -> None:  # type: ignore[no-untyped-def]
        line = daemon.clock.timeline
        assert line is not None
        written.append((line.tick_to_ns(note.on_tick) - daemon.clock.now_ns(), note.on_tick))
        add(note, key)

    daemon.scheduler.add = recording_add  # type: ignore[method-assign]
    player = {
        tick: [(0, 60 + tick % 12, 100)] for tick in range(TICKS_PER_BEAT, 8 * TICKS_PER_BEAT, 5)
    }
    drive(session, daemon, 8 * TICKS_PER_BEAT, player)
    assert session.stats_.replans > 10
    assert len(written) > 20, "the model played too little to tell"
    soonest_ms = min(ahead for ahead, _ in written) / 1e6
    assert soonest_ms >= margin_ms + 2.0


def test_however_short_the_write_ahead_the_model_idles_only_past_the_first_playable_step(
    tiny_model_dir: Path,
) -> None:
    """The write-ahead always reaches past the first step a note can still go out on: without
    that floor a short one left the generator waiting on steps too close to play on, and their
    notes were never written (bench/replan_sim.py: 14% of the tokens at 25 ms, 17% fewer notes)."""
    session, daemon = make_session(
        tiny_model_dir, Knobs(mode="continue", output_channel=0),
        plan_margin_ms=30.0, write_ahead_ms=10.0,  # a step here is 20.8 ms: the margin is two
    )  # fmt: skip
    idle_on_unplayable = idle = 0
    while daemon.tick() < 6 * TICKS_PER_BEAT:
        knobs = daemon.control.knobs
        session.ready(knobs)
        if not session.advance([], knobs):
            now_step = session.now_step()
            assert now_step is not None
            idle += 1
            idle_on_unplayable += session.step < session.first_playable_step(now_step)
            daemon.clock.advance_ticks(1)
        daemon.scheduler.pump(daemon.clock.now_ns())
    assert idle > 50
    assert idle_on_unplayable == 0
    assert note_ons(daemon), "the model played nothing"


def test_a_note_held_to_max_note_beats_is_released_in_the_stream_the_model_reads(
    tiny_model_dir: Path,
) -> None:
    def longest_stream_note(max_note_beats: float) -> float:
        knobs = Knobs(mode="continue", output_channel=3)
        session, daemon = make_session(tiny_model_dir, knobs, max_note_beats=max_note_beats)
        drive(session, daemon, 8 * TICKS_PER_BEAT)
        notes = decode_tokens(session.engine.history()[0].tolist(), session.config)
        return max(n.end_beat - n.start_beat for n in notes if n.channel == 3)

    # the scheduler always ended such a note on time; the model's context now says so too
    assert longest_stream_note(32.0) > 1.0  # a random model forgets its notes
    assert longest_stream_note(1.0) <= 1.0


def _with_live_density(model: Path, folder: Path, density: float) -> Path:
    shutil.copytree(model, folder)
    with (folder / "model.toml").open("a") as toml:
        toml.write(f"\n[live]\ndensity = {density}\n")
    return folder


def test_a_models_live_density_scales_the_density_knob(tiny_model_dir: Path, tmp_path) -> None:
    """model.toml [live] density multiplies the knob: 4 x 0.25 plays what 1 x 1 plays."""

    def ons(model: Path, knob: float) -> list[tuple[int, int, int]]:
        session, daemon = make_session(
            model, Knobs(mode="continue", output_channel=3, density=knob)
        )
        drive(session, daemon, 12 * TICKS_PER_BEAT)
        return note_ons(daemon)

    quiet = _with_live_density(tiny_model_dir, tmp_path / "quiet", 0.25)
    busy = _with_live_density(tiny_model_dir, tmp_path / "busy", 4.0)
    assert ons(quiet, 4.0) == ons(tiny_model_dir, 1.0)
    assert len(ons(busy, 1.0)) > len(ons(tiny_model_dir, 1.0))
    with pytest.raises(ModelLoadError, match=r"\[live\] density"):
        Engine.load(_with_live_density(tiny_model_dir, tmp_path / "bad", 0.0))
