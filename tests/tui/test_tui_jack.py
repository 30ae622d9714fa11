"""End to end: the TUI drives the real daemon (tiny ONNX model) over JACK MIDI ports.

A "keyboard" client plays notes and turns a controller into the daemon's input; a "listener"
client records what the daemon sends. The TUI is driven by Pilot as a musician would.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import threading
import time

import pytest
import rtmidi
from tui_helpers import drain, screen_text

from livegen.live.ports import find_port

pytestmark = [pytest.mark.jack, pytest.mark.slow]

CONTROL_CHANGE = 0xB0
NOTE_ON, NOTE_OFF = 0x90, 0x80
ALL_NOTES_OFF = 123


async def wait_for(pilot, predicate, timeout_s: float = 5.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        if predicate():
            return True
        await pilot.pause(0.05)
    return predicate()


def stuck_notes(messages: list[list[int]]) -> set[tuple[int, int]]:
    """(channel, pitch) still on at the end: no note-off and no all-notes-off after the note-on."""
    sounding: set[tuple[int, int]] = set()
    for message in messages:
        kind, channel = message[0] & 0xF0, message[0] & 0x0F
        if kind == NOTE_ON and message[2] > 0:
            sounding.add((channel, message[1]))
        elif kind == NOTE_OFF or (kind == NOTE_ON and message[2] == 0):
            sounding.discard((channel, message[1]))
        elif kind == CONTROL_CHANGE and message[1] == ALL_NOTES_OFF:
            sounding = {note for note in sounding if note[0] != channel}
    return sounding


def test_the_tui_drives_the_daemon_over_jack(jack_server, tiny_model, drive):
    from livegen.live.serve_run import ServeOptions, build_daemon

    options = ServeOptions(
        backend="jack",
        virtual="lgtui",
        model=str(tiny_model()),
        clock="internal",
        bpm=150.0,
        headless=True,
        overrides=("timing.realtime_priority=false",),
    )
    daemon = build_daemon(options)
    control = daemon.control
    keys = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name="lgkeys")
    listener = rtmidi.MidiIn(rtapi=rtmidi.API_UNIX_JACK, name="lglisten")
    heard: list[list[int]] = []
    listener.set_callback(lambda event, _: heard.append(event[0]))
    worker = threading.Thread(target=daemon.run, name="livegen-supervisor", daemon=True)
    worker.start()
    try:
        keys.open_port(find_port(keys.get_ports(), "lgtui:in", "output"))
        out_name = next(n for n in listener.get_ports() if n.startswith("lgtui") and "out" in n)
        listener.open_port(listener.get_ports().index(out_name))

        async def scenario(app, pilot):
            assert await wait_for(pilot, lambda: control.status.running)
            # MIDI learn through the daemon's input thread: press l, turn a real controller.
            await pilot.press("l")
            keys.send_message([CONTROL_CHANGE, 21, 127])
            assert await wait_for(pilot, lambda: control.cc_bindings.get(21) == "temperature")
            assert await wait_for(pilot, lambda: "temperature bound to CC21" in screen_text(app))
            keys.send_message([CONTROL_CHANGE, 21, 0])
            assert await wait_for(pilot, lambda: control.knobs.temperature == 0.1)
            assert await wait_for(pilot, lambda: "0.10" in screen_text(app))
            await pilot.press("right")
            assert control.knobs.temperature == 0.15
            # The player's notes reach the piano roll.
            for pitch in (60, 64, 67):
                keys.send_message([NOTE_ON, pitch, 90])
                await pilot.pause(0.15)
                keys.send_message([NOTE_OFF, pitch, 0])
            assert await wait_for(
                pilot,
                lambda: {60, 64, 67} <= {n.pitch for n in app.roll.notes if n.source == "player"},
            )
            assert any("█" in line for line in app.roll.plain_lines())
            # Pause and resume reach the daemon and come back in its status.
            await pilot.press("space")
            assert await wait_for(pilot, lambda: control.status.paused)
            assert await wait_for(pilot, lambda: "⏸ paused" in screen_text(app))
            await pilot.press("space")
            assert await wait_for(pilot, lambda: not control.status.paused)
            keys.send_message([NOTE_ON, 72, 90])  # held while we panic and quit
            await pilot.pause(0.3)
            await pilot.press("p")
            await pilot.pause(0.2)
            await pilot.press("q")

        app = drive(control, scenario, stopped=daemon.stop_event)
        worker.join(10)
        assert not worker.is_alive(), "the daemon did not stop after q"
        assert app.return_code == 0 and daemon.exit_code == 0 and daemon.error is None
        assert drain(control) == []  # the daemon took every command, quit included
        keys.send_message([NOTE_OFF, 72, 0])
        assert stuck_notes(heard) == set()
    finally:
        daemon.request_stop()
        worker.join(10)
        keys.delete()
        listener.delete()


def test_livegen_serve_in_a_terminal_opens_the_tui_and_q_restores_the_terminal(
    jack_server, tiny_model
):
    """`livegen serve` on a (pseudo) terminal shows the TUI; `q` ends it and restores the tty."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    command = [sys.executable, "-m", "livegen", "serve", "--virtual", "lgpty", "--backend", "jack"]
    command += ["--model", str(tiny_model()), "--set", "timing.realtime_priority=false"]
    env = {**jack_server.env, "TERM": "xterm-256color"}
    process = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    screen = bytearray()

    def read_until(predicate, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not predicate():
            if select.select([master], [], [], 0.1)[0]:
                try:
                    screen.extend(os.read(master, 65536))
                except OSError:  # the child closed the terminal
                    break
        return predicate()

    try:
        assert read_until(lambda: b"Piano roll" in screen and b"Knobs" in screen, 30), bytes(
            screen[-2000:]
        )
        os.write(master, b"q")
        # Keep reading while it exits: a full pty buffer would block the child's last writes.
        read_until(lambda: process.poll() is not None, 15)
        assert process.wait(timeout=1) == 0
        read_until(lambda: False, 0.3)
        rest = bytes(screen[screen.rfind(b"\x1b[?1049l") :])
        assert rest.startswith(b"\x1b[?1049l")  # left the alternate screen
        assert b"\x1b[?25h" in rest  # cursor shown again
        assert b"\x1b[?1000l" in rest  # mouse reporting off
        assert b"Traceback" not in screen
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)
