"""The live screen: knobs, meters and piano roll over a `Control`, polled on a timer.

The UI never blocks the daemon: it reads the control's snapshots (reference reads and a copy of
the roll deque) 25 times a second and writes only knob swaps, bindings and queued commands.
Other threads reach the UI through `post_message` (see `DaemonNotice`).
"""

from __future__ import annotations

import gc
import threading
from pathlib import Path
from typing import Any, ClassVar

from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Container
from textual.widgets import Footer

from livegen.errors import ConfigError, LivegenError
from livegen.live.control import Control, NoteView, Status
from livegen.tui.dialogs import PickScreen, PromptScreen
from livegen.tui.knobspec import KNOB_SPECS, SPECS_BY_NAME, format_value, parse_value, stepped
from livegen.tui.log_bridge import logs_to_app
from livegen.tui.messages import DaemonNotice, KnobNudged, KnobSelected
from livegen.tui.presets import (
    apply_preset,
    default_presets_dir,
    list_presets,
    load_preset,
    preset_path,
    save_preset,
)
from livegen.tui.widgets import KeyHelp, KnobPanel, MessageLine, Meters, PianoRoll

POLL_HZ = 25  # knobs, meters, messages
ROLL_HZ = 12  # the roll is the costly redraw; 12 frames/s still shows every 16th up to 180 bpm
WIDE_MIN_COLUMNS = 120  # from here on the panels stack on the left and the roll gets the rest


def copy_notes(control: Control) -> tuple[NoteView, ...]:
    """Played, sounding and planned notes in one tuple, copied without locking the daemon.

    Copying a deque another thread appends to can raise; the next poll simply tries again.
    """
    try:
        played = tuple(control.roll)
    except RuntimeError:
        return ()
    return played + tuple(control.sounding) + tuple(control.planned)


class LivegenApp(App[None]):
    """The TUI; build it with `make_app` so the CLI and the tests get the same app."""

    TITLE = "livegen"
    ENABLE_COMMAND_PALETTE = False  # its ^p entry would push `q quit` off an 80-column footer
    CSS = """
    #body { layout: vertical; height: 1fr; }
    #panel { layout: horizontal; height: auto; }
    #knobs { width: 44; }
    #meters { width: 1fr; height: 100%; }
    #roll { width: 1fr; }
    #keys { display: none; }
    #body.-wide #keys { display: block; width: 100%; }
    #body.-wide { layout: horizontal; }
    #body.-wide #panel { layout: vertical; width: 56; height: 1fr; }
    #body.-wide #knobs { width: 100%; }
    #body.-wide #meters { width: 100%; height: auto; }
    """
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("up", "select(-1)", "knob", key_display="↑↓"),
        Binding("down", "select(1)", "knob", show=False),
        Binding("left", "nudge(-1)", "adjust", key_display="←→"),
        Binding("right", "nudge(1)", "adjust", show=False),
        Binding("shift+left,pagedown", "nudge(-1, True)", "coarse", show=False),
        Binding("shift+right,pageup", "nudge(1, True)", "coarse", show=False),
        Binding("enter", "edit", "type", key_display="⏎"),
        Binding("l", "learn", "learn"),
        Binding("u", "unlearn", "unbind", show=False),
        Binding("p", "panic", "panic"),
        # not in the footer: an 80-column footer is full (the wide layout's key list shows it)
        Binding("v", "vary", "vary", show=False),
        *(Binding(str(n), f"toggle_part({n})", f"part {n}", show=False) for n in range(1, 9)),
        Binding("space", "pause", "pause", key_display="␣"),
        Binding("r", "record", "rec"),
        Binding("s", "save_preset", "save"),
        Binding("o", "load_preset", "load"),
        Binding("q", "quit_livegen", "quit"),
        Binding("ctrl+c", "quit_livegen", "quit", show=False, priority=True),
    ]

    def __init__(
        self,
        control: Control,
        *,
        presets_dir: str | Path | None = None,
        stopped: threading.Event | None = None,
        beats_per_bar: int = 4,
        freeze_gc: bool = False,
    ) -> None:
        super().__init__()
        self.freeze_gc = freeze_gc
        self.control = control
        self.presets_dir = Path(presets_dir) if presets_dir else default_presets_dir()
        self.stopped = stopped
        self.beats_per_bar = beats_per_bar
        self.selected = KNOB_SPECS[0].name
        self.paused = control.status.paused
        self.recording = control.status.recording
        self._quit_sent = False
        self._shown: tuple[Any, ...] = ()
        self._last_status: Status | None = None
        self._learning: str | None = None

    # ---- layout and polling -------------------------------------------------------------
    def compose(self) -> ComposeResult:
        # Kept as attributes: the poll timer must not depend on a query while screens change.
        self.knob_panel = KnobPanel(id="knobs")
        self.meters = Meters(id="meters")
        self.roll = PianoRoll(id="roll", beats_per_bar=self.beats_per_bar)
        self.message_line = MessageLine(id="message")
        self.body = Container(id="body")
        with self.body:
            with Container(id="panel"):
                yield self.knob_panel
                yield self.meters
                yield KeyHelp(id="keys")
            yield self.roll
        yield self.message_line
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._apply_width(self.size.width)
        self.poll()
        self.poll_roll()
        self.set_interval(1 / POLL_HZ, self.poll)
        self.set_interval(1 / ROLL_HZ, self.poll_roll)
        self.say("↑↓ pick a knob, ←→ turn it (shift: coarse), ⏎ type a value, l: MIDI learn")
        if self.freeze_gc:
            self.call_after_refresh(_freeze_heap)

    def on_resize(self, event: events.Resize) -> None:
        self._apply_width(event.size.width)

    def _apply_width(self, columns: int) -> None:
        self.body.set_class(columns >= WIDE_MIN_COLUMNS, "-wide")

    def poll(self) -> None:
        """Read the control's current snapshots and redraw what changed; never blocks."""
        control = self.control
        knobs = control.knobs
        bindings = dict(control.cc_bindings)
        learn_target = control.learn_target
        shown = (knobs, bindings, learn_target, self.selected)
        if shown != self._shown:
            self._shown = shown
            self.knob_panel.sync(knobs, bindings, learn_target, self.selected)
        if self._learning is not None and learn_target is None:
            bound = [cc for cc, knob in bindings.items() if knob == self._learning]
            if bound:
                self.say(f"{SPECS_BY_NAME[self._learning].label} bound to CC{bound[0]}")
            self._learning = None
        status = control.status
        if status is not self._last_status:
            self._on_status(status)
        if self.stopped is not None and not self._quit_sent and self.stopped.is_set():
            # The daemon stopped by itself (error, SIGTERM): leave so `serve` can report why.
            self.action_quit_livegen()

    def poll_roll(self) -> None:
        """Copy the note views for the piano roll (it redraws only if something moved)."""
        self.roll.show(copy_notes(self.control), self.control.status.position_beats)

    def _on_status(self, status: Status) -> None:
        previous = self._last_status
        self._last_status = status
        self.meters.show(status)
        if previous is None or status.paused != previous.paused:
            self.paused = status.paused
        if previous is None or status.recording != previous.recording:
            self.recording = status.recording
        if status.message and (previous is None or status.message != previous.message):
            self.say(status.message, error=not status.port_ok)

    def say(self, text: str, *, error: bool = False) -> None:
        self.message_line.say(text, error=error)

    def on_daemon_notice(self, message: DaemonNotice) -> None:
        self.say(message.text, error=message.error)

    # ---- knobs --------------------------------------------------------------------------
    def apply(self, changes: dict[str, Any]) -> bool:
        """Swap in a knob change; a rejected value leaves the knobs as they were and says why."""
        try:
            knobs = self.control.set(**changes)
        except ConfigError as err:
            self.say(f"rejected: {err}", error=True)
            return False
        name = next(iter(changes))
        self.say(f"{SPECS_BY_NAME[name].label} = {format_value(name, getattr(knobs, name))}")
        self.poll()
        return True

    def action_select(self, delta: int) -> None:
        names = [spec.name for spec in KNOB_SPECS]
        self.selected = names[(names.index(self.selected) + delta) % len(names)]
        self.poll()

    def action_nudge(self, steps: int, coarse: bool = False) -> None:
        self.apply(stepped(self.control.knobs, self.selected, steps, coarse=coarse))

    def on_knob_selected(self, message: KnobSelected) -> None:
        self.selected = message.name
        self.poll()

    def on_knob_nudged(self, message: KnobNudged) -> None:
        self.selected = message.name
        self.action_nudge(message.steps)

    def action_edit(self) -> None:
        name = self.selected
        spec = SPECS_BY_NAME[name]
        current = getattr(self.control.knobs, name)
        shown = str(current + 1) if name == "output_channel" else str(current)
        hint = " (1-16)" if name == "output_channel" else ""

        def done(text: str | None) -> None:
            if text is None:
                return
            try:
                value = parse_value(name, text)
            except ConfigError as err:
                self.say(f"rejected: {err}", error=True)
                return
            self.apply({name: value})

        self.push_screen(PromptScreen(f"{spec.label}{hint}:", shown), done)

    # ---- MIDI learn ---------------------------------------------------------------------
    def action_learn(self) -> None:
        name = self.selected
        label = SPECS_BY_NAME[name].label
        if self.control.learn_target == name:
            self.control.learn(None)
            self._learning = None
            self.say(f"MIDI learn for {label} cancelled")
            self.poll()
            return
        try:
            self.control.learn(name)
        except ConfigError as err:
            self.say(str(err), error=True)
            return
        self._learning = name
        self.say(f"MIDI learn: move a controller to bind {label} (l again cancels)")
        self.poll()

    def action_unlearn(self) -> None:
        name = self.selected
        self.control.cc_bindings = {
            cc: knob for cc, knob in self.control.cc_bindings.items() if knob != name
        }
        self.say(f"{SPECS_BY_NAME[name].label}: controller binding removed")
        self.poll()

    # ---- commands -----------------------------------------------------------------------
    def action_panic(self) -> None:
        self.control.send("panic")
        self.say("panic: all notes off")

    def action_vary(self) -> None:
        """The daemon answers with the outcome (bar, notes) or why not on the message line."""
        self.control.send("vary")
        self.say("vary: your last bar comes back varied on the next bar line")

    def action_toggle_part(self, number: int) -> None:
        """Mute or unmute the band's part `number` (counted from 1, as the status lists them)."""
        roles = list(self.control.part_mix)
        if not 1 <= number <= len(roles):
            self.say(f"no part {number}: the band has {len(roles)} (--set parts=...)")
            return
        role = roles[number - 1]
        muted = not self.control.part_mix[role].muted
        self.control.set_part(role, muted=muted)
        self.say(f"{role} {'muted' if muted else 'plays again'}")

    def action_pause(self) -> None:
        self.paused = not self.paused
        self.control.send("pause" if self.paused else "resume")
        self.say("generation paused" if self.paused else "generation resumed")

    def action_record(self) -> None:
        self.recording = not self.recording
        self.control.send("record_on" if self.recording else "record_off")
        self.say("recording" if self.recording else "recording stopped")

    def action_quit_livegen(self) -> None:
        self.send_quit()
        self.exit()

    def send_quit(self) -> None:
        """Ask the daemon for a clean shutdown (note-offs, ports closed) exactly once."""
        if not self._quit_sent:
            self._quit_sent = True
            self.control.send("quit")

    # ---- presets ------------------------------------------------------------------------
    def action_save_preset(self) -> None:
        def done(name: str | None) -> None:
            if name:
                self.save_preset_as(name)

        self.push_screen(
            PromptScreen(f"save knobs and CC bindings to {self.presets_dir}/<name>.toml", "live"),
            done,
        )

    def save_preset_as(self, name: str) -> Path | None:
        try:
            path = save_preset(
                preset_path(self.presets_dir, name), self.control.knobs, self.control.cc_bindings
            )
        except (LivegenError, OSError) as err:
            self.say(f"preset not saved: {err}", error=True)
            return None
        self.say(f"preset saved: {path}")
        return path

    def action_load_preset(self) -> None:
        names = list_presets(self.presets_dir)
        if not names:
            self.say(f"no presets in {self.presets_dir}", error=True)
            return

        def done(name: str | None) -> None:
            if name:
                self.load_preset_named(name)

        self.push_screen(PickScreen(f"load a preset from {self.presets_dir}", names), done)

    def load_preset_named(self, name: str) -> bool:
        try:
            apply_preset(self.control, load_preset(preset_path(self.presets_dir, name)))
        except LivegenError as err:
            self.say(f"preset not loaded: {err}", error=True)
            return False
        self.say(f"preset loaded: {name}")
        self.poll()
        return True


def _freeze_heap() -> None:
    """Move everything alive now (model, UI widgets) out of the cyclic GC's reach.

    A full collection stops every thread, the MIDI ones included; with the UI's objects in the
    heap it took 60-70 ms here, after the freeze 2-5 ms (bench/tui_overhead.py).
    """
    gc.collect()
    gc.freeze()


def make_app(
    control: Control,
    *,
    presets_dir: str | Path | None = None,
    stopped: threading.Event | None = None,
    beats_per_bar: int = 4,
    freeze_gc: bool = False,
) -> LivegenApp:
    """The one factory for the TUI, used by `livegen serve` and by the tests.

    `stopped` (optional, the daemon's stop event) lets the UI leave when the daemon stops by
    itself; `beats_per_bar` is the session's bar length; everything else goes through `control`.
    """
    return LivegenApp(
        control,
        presets_dir=presets_dir,
        stopped=stopped,
        beats_per_bar=beats_per_bar,
        freeze_gc=freeze_gc,
    )


def run_tui(
    control: Control,
    stopped: threading.Event | None = None,
    *,
    beats_per_bar: int = 4,
    presets_dir: str | Path | None = None,
) -> None:
    """Run the TUI in this (main) thread until the user quits; the daemon always gets `quit`.

    The terminal is restored by Textual on every exit path, including an exception in the UI.
    """
    app = make_app(
        control,
        presets_dir=presets_dir,
        stopped=stopped,
        beats_per_bar=beats_per_bar,
        freeze_gc=True,
    )
    try:
        with logs_to_app(app):
            app.run()
    finally:
        app.send_quit()
