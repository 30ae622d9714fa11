"""The live daemon: wires ports, clock, scheduler, performer and control into fixed thread roles.

Threads: rtmidi's callback only stamps and enqueues; the input thread (raised priority) parses,
feeds the MIDI-clock follower and hands player notes to the performer; the generator thread
(lowered priority) runs inference; the scheduler thread (raised priority) owns the output port.
The main thread supervises: drains UI commands, watches ports, publishes status, keeps the piano
roll and the recording (real-time too, lowest of all: it holds the GIL the JACK callback needs).
Every way out (quit, SIGINT, SIGTERM, an internal error) goes through `shutdown`, which ends
every sounding note and sends CC123 on every channel used.

Long because it is the one place that owns every thread's start, priority and shutdown order:
split, the all-notes-off guarantee would depend on several modules agreeing on that order. The
parts that need no thread ownership (ports, realtime priorities, the clock, the scheduler, the
performer, parts and harmony) already live in modules of their own."""

from __future__ import annotations

import json
import logging
import queue
import sys
import threading
import time
from collections.abc import Callable

from livegen.files import write_atomic
from livegen.live import ports as midi_ports
from livegen.live import realtime
from livegen.live.clock import TICKS_PER_BEAT, Clock, InternalClock, MidiClockFollower
from livegen.live.context import Performer, PlayerNote, SessionContext
from livegen.live.control import Control, NoteView, PartMix
from livegen.live.echo import EchoFilter
from livegen.live.midi_in import MidiByteParser
from livegen.live.parts import describe, parse_parts, part_channels
from livegen.live.ports import InputItem, PortPair
from livegen.live.queues import drain
from livegen.live.recorder import MODEL, PLAYER, Recorder
from livegen.live.scheduler import Scheduler
from livegen.live.serve_config import ServeConfig
from livegen.live.vary_move import VaryMove
from livegen.music.midi import (
    ALL_NOTES_OFF,
    ALL_SOUND_OFF,
    NOTE_OFF,
    NOTE_ON,
    SYSTEM,
    ControlIn,
    NoteIn,
    classify,
    is_note,
    is_note_on,
)
from livegen.percentiles import summary

log = logging.getLogger(__name__)

SWITCH_INTERVAL_S = 0.0005  # the GIL changes hands at least this often (default 5 ms is too long)
SUPERVISE_PERIOD_S = 0.05
PORT_CHECK_PERIOD_S = 0.5
# A key held this long with no other note or controller from the player stops counting as held:
# its note-off was lost (a flood, a cable pulled mid-note), and a held key keeps call mode from
# ever answering. Longer than any real sustained note a player waits on.
HELD_KEY_LIMIT_S = 8.0


class Daemon:
    def __init__(
        self,
        config: ServeConfig,
        control: Control,
        ports: PortPair,
        clock: Clock,
        inbox: queue.SimpleQueue[InputItem],
        *,
        performer: Performer | None = None,
        recorder: Recorder | None = None,
        stats_path: str | None = None,
        vary: VaryMove | None = None,
    ) -> None:
        self.config = config
        self.control = control
        self.ports = ports
        self.clock = clock
        self.inbox = inbox
        self.performer = performer
        self.recorder = recorder
        self.stats_path = stats_path
        # without a model the move still answers `v` and its controller, saying how to get one
        self.vary = vary or VaryMove(config.vary, beats_per_bar=config.beats_per_bar)
        self.echoes = EchoFilter()
        self.parts = parse_parts(config.parts)
        control.part_mix = {part.role: PartMix() for part in self.parts} | control.part_mix
        self.scheduler = Scheduler(
            self._send,
            clock,
            late_ns=int(config.timing.late_ms * 1e6),
            drop_ns=int(config.timing.drop_ms * 1e6),
            lead_ns=int(config.timing.latency_ms * 1e6),
            early_ns=midi_ports.output_ahead_ns(ports),
        )
        self.player_notes: queue.SimpleQueue[PlayerNote] = queue.SimpleQueue()
        self.stop_event = threading.Event()
        self.paused = False
        self.exit_code = 0
        self.error: str | None = None
        self.held_keys: set[tuple[int, int]] = set()  # player's (channel, pitch) held now
        self.last_player_tick: float | None = None
        self.held_released = 0  # keys let go by CC 123/120 or HELD_KEY_LIMIT_S, not a note-off
        self._last_input_ns = 0  # the player's last note or controller
        self.messages_in = 0
        self.priority_note = ""
        self._supervisor_priority = 0  # SCHED_FIFO while supervising; 0: as started
        self._parser = MidiByteParser()
        self._threads: list[threading.Thread] = []
        self._sounding_views: dict[tuple[str, int, int], NoteView] = {}
        self._sounding_dirty = False
        control.cc_bindings = dict(config.cc) | control.cc_bindings
        clock.add_listener(self._on_transport)

    # ---- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        raised: list[tuple[bool, str]] = []
        jack = midi_ports.jack_priority(self.ports)
        priorities = realtime.priorities_below(jack)

        def raise_midi() -> None:
            if self.config.timing.realtime_priority:
                raised.append(realtime.raise_thread_priority(priorities.midi))

        def inference() -> None:
            realtime.inference_thread_priority(priorities.inference)

        if self.config.timing.realtime_priority:  # this thread supervises: see realtime.py
            self._supervisor_priority = priorities.supervisor
        self.scheduler.start(priority=raise_midi)
        self._spawn("livegen-input", self._input_loop, raise_midi)
        # the C JACK callback's reader hands input to the input thread: at the same priority
        midi_ports.run_in_jack_reader(self.ports, raise_midi)
        if self.performer is not None:
            rt_ok = self.config.timing.realtime_priority
            self._spawn("livegen-generator", self._generator_loop, inference if rt_ok else None)
        if isinstance(self.clock, InternalClock):
            self.clock.set_bpm(self.control.knobs.bpm)
            self.clock.start(lead_ns=int(self.config.timing.start_lead_ms * 1e6))
        deadline = time.monotonic() + 1.0
        while (
            len(raised) < 2 and time.monotonic() < deadline and self.config.timing.realtime_priority
        ):
            time.sleep(0.005)
        if self.config.timing.realtime_priority:
            failed = [why for ok, why in raised if not ok]
            hint = realtime.PRIORITY_HINT
            self.priority_note = (
                hint.format(why=failed[0]) if failed else (raised[0][1] if raised else "")
            )
            if failed:
                log.warning(self.priority_note)
            else:
                log.info("MIDI threads at raised priority: %s", self.priority_note)
        in_name, out_name = self.ports.names
        log.info(
            "serving: in %r, out %r (%s), clock %s, mode %s",
            in_name,
            out_name,
            self.ports.backend,
            self.clock.source,
            self.control.knobs.mode,
        )

    def _spawn(
        self, name: str, target: Callable[[], None], setup: Callable[[], None] | None
    ) -> None:
        def body() -> None:
            if setup is not None:
                setup()
            try:
                target()
            except Exception as err:
                log.exception("%s thread failed", name)
                self.fail(f"internal error in {name}: {err}")

        thread = threading.Thread(target=body, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def fail(self, message: str) -> None:
        """An internal error: remember it and stop (shutdown still silences everything)."""
        self.error = self.error or message
        self.exit_code = 1
        self.stop_event.set()
        self.control.wake.set()

    def request_stop(self, *_: object) -> None:
        """Signal handlers call this: it only sets events."""
        self.stop_event.set()
        self.control.wake.set()

    def run(self, *, on_tick: Callable[[], None] | None = None) -> int:
        """Start, supervise until stopped, shut down; returns the exit code."""
        try:
            self.start()
            with realtime.real_time_while(self._supervisor_priority):
                self._supervise_until_stopped(on_tick)
        except Exception as err:
            log.exception("daemon failed")
            self.fail(f"internal error: {err}")
        finally:
            self.shutdown()
        return self.exit_code

    def _supervise_until_stopped(self, on_tick: Callable[[], None] | None) -> None:
        next_port_check = 0.0
        wake = self.control.wake
        while not self.stop_event.is_set():
            wake.wait(SUPERVISE_PERIOD_S)  # every period, or at once when a command comes
            wake.clear()
            if self.stop_event.is_set():
                break
            self.supervise()
            now = time.monotonic()
            if now >= next_port_check:
                next_port_check = now + PORT_CHECK_PERIOD_S
                self._check_ports()
            if on_tick is not None:
                on_tick()

    def shutdown(self) -> None:
        """Silence everything, stop threads, flush the recording, close the ports."""
        self.stop_event.set()
        self.scheduler.close()
        for thread in self._threads:
            thread.join(timeout=2.0)
        self._drain_sent()
        if self.recorder is not None and self.recorder.enabled:
            try:
                path = self.recorder.write()
            except OSError as err:
                self.fail(f"could not write the recording {self.recorder.path}: {err}")
            else:
                if path is None:
                    log.info("no notes recorded; %s left as it was", self.recorder.path)
                else:
                    log.info("recorded %d notes to %s", self.recorder.note_count, path)
        # give the backend a moment to deliver the last note-offs before the port goes away
        time.sleep(0.05)
        self.ports.close()
        if self.stats_path:
            write_atomic(self.stats_path, json.dumps(self.timing_report(), indent=1))

    def timing_report(self) -> dict[str, object]:
        """Scheduling and re-planning numbers for `livegen bench --live`."""
        lateness_ms = [
            (s.sent_ns - s.deadline_ns) / 1e6
            for s in list(self.scheduler.sent_log)
            if s.deadline_ns and is_note_on(s.message)
        ]
        stats = self.scheduler.stats
        report: dict[str, object] = {
            "notes_sent": stats.notes_sent,
            "late_notes": stats.late_notes,
            "dropped_notes": stats.dropped_notes,
            "send_errors": stats.send_errors,
            "messages_in": self.messages_in,
            "held_released": self.held_released,
            **midi_ports.input_counters(self.ports),
            "echoes_dropped": self.echoes.dropped,
            "clock_ticks_lost": getattr(self.clock, "ticks_lost", 0),
            "send_lateness_ms": summary(lateness_ms),
            "priority": self.priority_note,
        }
        if self.performer is not None:
            report.update(self.performer.report())
        return report

    def _send(self, data: list[int], *due_ns: int) -> None:
        """The scheduler's sender: the port (due time: jack_ports), remembering it (echo.py)."""
        self.ports.output.send(data, *due_ns)
        self.echoes.sent(tuple(data), time.monotonic_ns())

    # ---- input thread -------------------------------------------------------------------
    def _input_loop(self) -> None:
        follower = self.clock if isinstance(self.clock, MidiClockFollower) else None
        missed_seen = midi_ports.missed_cycles(self.ports)
        while not self.stop_event.is_set():
            try:
                t_ns, data = self.inbox.get(timeout=0.1)
            except queue.Empty:
                self.echoes.forget_old(time.monotonic_ns())
                self._expire_held(time.monotonic_ns())
                continue
            self._expire_held(t_ns)
            for message in self._parser.feed(data):
                self.messages_in += 1
                if message[0] >= SYSTEM:
                    if follower is not None:
                        missed, missed_seen = missed_seen, midi_ports.missed_cycles(self.ports)
                        follower.feed(message, t_ns, input_lost=missed_seen != missed)
                    continue
                self._on_channel_message(message, t_ns)

    def _on_channel_message(self, message: tuple[int, ...], t_ns: int) -> None:
        if self.echoes.is_echo(message, t_ns):
            if self.echoes.dropped == 1:
                log.warning(
                    "the daemon's own notes come back on its input (one bus for both "
                    "directions, or out wired to in): they are dropped, not taken as yours"
                )
            return
        event = classify(message)
        if event is not None:
            self._last_input_ns = t_ns
        if isinstance(event, ControlIn):
            if event.control in (ALL_NOTES_OFF, ALL_SOUND_OFF):
                self._release_held(t_ns, event.channel)
            if self.vary.is_press(event.control, event.value):
                # varied on the supervisor thread, not this one, from the bar(s) before the press
                self.control.send("vary", at_ns=t_ns)
                return
            try:
                self.control.handle_cc(event.control, event.value)
            except Exception as err:  # a knob out of range from a CC must not stop the input
                log.warning("controller %d: %s", event.control, err)
            return
        if not isinstance(event, NoteIn):
            return
        if self.config.input_channel >= 0 and event.channel != self.config.input_channel:
            return
        self._player_note(event.channel, event.pitch, event.velocity, t_ns, message)

    def _player_note(
        self, channel: int, pitch: int, velocity: int, t_ns: int, message: tuple[int, ...]
    ) -> None:
        line = self.clock.timeline
        tick = line.ns_to_tick(t_ns) if line is not None else -1.0
        key = (channel, pitch)
        if velocity:
            self.held_keys.add(key)
        else:
            self.held_keys.discard(key)
        self.last_player_tick = tick
        self.vary.history.hear(tick, channel, pitch, velocity)
        if self.recorder is not None:
            self.recorder.add(PLAYER, tick, message)
        self._view("player", channel, pitch, velocity, tick)
        self.player_notes.put(PlayerNote(tick, t_ns, channel, pitch, velocity))

    def _release_held(self, t_ns: int, channel: int | None) -> None:
        """Let go of held keys (on `channel`, or all) as if their note-offs had come now."""
        for held_channel, pitch in sorted(self.held_keys):
            if channel is None or held_channel == channel:
                self.held_released += 1
                self._player_note(held_channel, pitch, 0, t_ns, (NOTE_OFF | held_channel, pitch, 0))

    def _expire_held(self, now_ns: int) -> None:
        if not self.held_keys or now_ns - self._last_input_ns < HELD_KEY_LIMIT_S * 1e9:
            return
        log.warning(
            "%d key(s) held for %.0f s with no other input: no longer counted as held "
            "(a lost note-off?)",
            len(self.held_keys),
            HELD_KEY_LIMIT_S,
        )
        self._release_held(now_ns, None)

    # ---- generator thread ---------------------------------------------------------------
    def _generator_loop(self) -> None:
        assert self.performer is not None
        self.performer.run(self.session_context())

    def session_context(self) -> SessionContext:
        """The narrow view of this daemon that the generator gets."""
        return SessionContext(
            stop_event=self.stop_event,
            control=self.control,
            player_notes=self.player_notes,
            clock=self.clock,
            scheduler=self.scheduler,
            paused=lambda: self.paused,
            held_keys=self.held_keys,
        )

    # ---- supervisor (main thread) -------------------------------------------------------
    def supervise(self) -> None:
        self._drain_commands()
        knobs = self.control.knobs
        internal = isinstance(self.clock, InternalClock) and self.clock.running
        if internal and abs(self.clock.last_bpm - knobs.bpm) > 1e-6:
            self.clock.set_bpm(knobs.bpm)  # type: ignore[attr-defined]
        self._drain_sent()
        if self.recorder is not None and self.recorder.enabled:
            try:
                self.recorder.flush()
            except OSError as err:  # the end of the session tries again and reports it
                log.warning("could not save the recording so far: %s", err)
        self._publish()

    def _drain_commands(self) -> None:
        for command in drain(self.control.commands):
            name = command.name
            if name == "panic":
                self.scheduler.silence()
                if self.performer is not None:
                    self.performer.reset_plan()
            elif name == "pause":
                self.paused = True
                self.scheduler.silence()
            elif name == "resume":
                self.paused = False
                if self.performer is not None:
                    self.performer.reset_plan()
            elif name in ("record_on", "record_off"):
                if self.recorder is None and name == "record_on":
                    stamp = time.strftime("%Y%m%d-%H%M%S")
                    try:
                        self.recorder = Recorder(f"livegen-{stamp}.mid", self.config.beats_per_bar)
                    except OSError as err:
                        log.error("cannot record: %s", err)
                if self.recorder is not None:
                    self.recorder.enabled = name == "record_on"
            elif name == "vary":  # its one-line outcome goes to the log and the TUI
                outcome = self.vary.request(
                    self.clock, self.scheduler, self.control, self.paused, command.args.get("at_ns")
                )
                log.info(outcome.message)
                self.control.publish(message=outcome.message)
            elif name == "quit":
                self.stop_event.set()
            else:
                log.warning("unknown command %r", name)

    def _drain_sent(self) -> None:
        for sent in drain(self.scheduler.observed):
            message = sent.message
            tick = float(sent.tick)
            if sent.tick < 0:  # a panic/silence message: place it where it went out
                line = self.clock.timeline
                tick = line.ns_to_tick(sent.sent_ns) if line is not None else -1.0
            if self.recorder is not None:
                self.recorder.add(MODEL, tick, message)
            if is_note(message):
                velocity = message[2] if message[0] & 0xF0 == NOTE_ON else 0
                self._view("model", message[0] & 0x0F, message[1], velocity, tick)

    def _view(self, source: str, channel: int, pitch: int, velocity: int, tick: float) -> None:
        """Keep the TUI's piano roll: finished notes go to `roll`, held ones to `sounding`."""
        key = (source, channel, pitch)
        beat = tick / TICKS_PER_BEAT
        previous = self._sounding_views.pop(key, None)
        if previous is not None:
            self.control.roll.append(
                NoteView(
                    pitch, previous.start_beat, max(beat, previous.start_beat), source, channel
                )  # type: ignore[arg-type]
            )
        if velocity:
            self._sounding_views[key] = NoteView(pitch, beat, None, source, channel)  # type: ignore[arg-type]
        # the tuple is rebuilt by `_publish`: per note, with hundreds held, it cost the input
        # thread O(held) under a flood
        self._sounding_dirty = True

    def _check_ports(self) -> None:
        gone = self.ports.server_gone()
        if gone is not None:  # nothing comes back without a new server: stop, non-zero exit
            self.fail(f"{gone}; start it again, then livegen")
            return
        ok = self.ports.check()
        if ok != self.control.status.port_ok:
            self.control.publish(port_ok=ok, message="" if ok else "MIDI port vanished; waiting")

    def _publish(self) -> None:
        line = self.clock.timeline
        position = line.ns_to_tick(self.clock.now_ns()) if line is not None else None
        fields: dict[str, object] = {
            "clock_source": self.clock.source,
            "running": self.clock.running,
            "bpm": line.bpm if line is not None else self.clock.last_bpm,
            "late_notes": self.scheduler.stats.late_notes,
            "dropped_notes": self.scheduler.stats.dropped_notes,
            "in_port": self.ports.names[0],
            "out_port": self.ports.names[1],
            "paused": self.paused,
            "recording": self.recorder is not None and self.recorder.enabled,
            "held_keys": len(self.held_keys),
            "latency_ms": self.config.timing.latency_ms,
            "parts": describe(
                part_channels(self.parts, self.control.knobs.output_channel),
                self.control.part_mix,
            ),
        }
        if position is not None and position >= 0:
            beats = position / TICKS_PER_BEAT
            per_bar = self.config.beats_per_bar
            fields.update(
                position_beats=beats, bar=int(beats // per_bar) + 1, beat=int(beats % per_bar) + 1
            )
        if self.performer is not None:
            fields.update(self.performer.stats())
        self._publish_planned()
        if self._sounding_dirty:
            self._sounding_dirty = False
            self.control.sounding = tuple(self._sounding_views.values())
        if self.recorder is not None and line is not None:
            self.recorder.tempo(max(0.0, position or 0.0), line.bpm)
        self.control.publish(**fields)

    def _publish_planned(self) -> None:
        """The piano roll's planned notes: what the performer scheduled and is not sent yet.

        Built here on the main thread, from the performer's snapshot (a reference read), so the
        scheduler's send loop does none of it. A note-on goes out `lead_ns` before its tick, so
        notes at or before the tick of now + lead count as sent (they show as sounding instead).
        """
        line = self.clock.timeline
        if self.performer is None or line is None or self.paused:
            self.control.planned = ()
            return
        sent_beat = line.ns_to_tick(self.clock.now_ns() + self.scheduler.lead_ns) / TICKS_PER_BEAT
        self.control.planned = tuple(
            view for view in self.performer.planned() if view.start_beat > sent_beat
        )

    def _on_transport(self, event: str) -> None:
        if self.performer is not None:
            self.performer.reset_plan()
