"""MIDI ports through python-rtmidi: list, open by name, create virtual ports, notice vanishing.

Inputs only timestamp and enqueue in their callback (rtmidi calls it on its own thread). Ports are
chosen by exact name, else by a unique substring; anything else is a PortError listing the ports.
With JACK, `--virtual NAME` makes ONE native JACK client NAME with ports `in` and `out`, and named
ports are wired to that client's too (livegen.live.jack_client_ports); only without
JACK-Client/libjack does it fall back to rtmidi, where every object is its own JACK client and the
ports come out as NAME:in and NAME-01:out.
A JACK server that dies is noticed (`PortPair.server_gone`: JACK-Client's shutdown callback, or
for rtmidi's clients a new client that cannot connect) and the daemon stops with one line.
Listing ports, probing a backend and watching a JACK server go through the process's kept
clients (livegen.live.kept_clients).
"""

from __future__ import annotations

import logging
import queue
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import rtmidi

from livegen.errors import PortError
from livegen.live.jack_client_ports import JackClientPort, open_jack_named, open_jack_virtual
from livegen.live.jack_ports import JackVirtualClient
from livegen.live.kept_clients import CLIENT_NAME, jack_watcher, lister
from livegen.live.port_names import PortState, find_port
from livegen.live.signal_mask import stop_signals_held

log = logging.getLogger(__name__)

BACKENDS: dict[str, int] = {
    "alsa": rtmidi.API_LINUX_ALSA,
    "jack": rtmidi.API_UNIX_JACK,
    "coremidi": rtmidi.API_MACOSX_CORE,
    "winmm": rtmidi.API_WINDOWS_MM,
}
BACKEND_CHOICES = ("auto", *BACKENDS)
RTMIDI_SERVER_PROBE_S = 5.0  # how often rtmidi's JACK ports check that the server is alive
LOOPMIDI_HINT = (
    "Windows MIDI cannot create virtual ports; install loopMIDI "
    "(https://www.tobias-erichsen.de/software/loopmidi.html), create a port there and pass "
    "--port NAME"
)

InputItem = tuple[int, tuple[int, ...]]  # (monotonic ns at arrival, raw bytes)


def _api_name(api: int) -> str:
    return next((name for name, value in BACKENDS.items() if value == api), str(api))


def resolve_backend(backend: str) -> int:
    """The rtmidi API for a backend name; `auto` prefers a running JACK server on Linux."""
    if backend not in BACKEND_CHOICES:
        raise PortError(
            f"unknown MIDI backend {backend!r}; choose from {', '.join(BACKEND_CHOICES)}"
        )
    compiled = rtmidi.get_compiled_api()
    if backend != "auto":
        api = BACKENDS[backend]
        if api not in compiled:
            have = ", ".join(_api_name(a) for a in compiled) or "none"
            raise PortError(f"MIDI backend {backend!r} is not available here; available: {have}")
        return api
    order = {
        "linux": ["jack", "alsa"],
        "darwin": ["coremidi", "jack"],
        "win32": ["winmm"],
    }.get(sys.platform, ["jack", "alsa"])
    for name in order:
        api = BACKENDS[name]
        if api in compiled and _backend_works(api):
            return api
    raise PortError(
        "no working MIDI backend: no JACK server is running and the OS MIDI system is not "
        "reachable; start one (e.g. `jackd -d dummy`) or run `livegen demo`"
    )


def _backend_works(api: int) -> bool:
    try:
        lister(api)
    except rtmidi.SystemError:
        return False
    return True


def list_ports(backend: str = "auto") -> tuple[list[str], list[str]]:
    """(input port names, output port names) for a backend."""
    api = resolve_backend(backend)
    try:
        midi_in, midi_out = lister(api)
        return midi_in.get_ports(), midi_out.get_ports()
    except rtmidi.SystemError as err:
        raise PortError(f"cannot list MIDI ports with {_api_name(api)}: {err}") from err


class _RtmidiPort:
    """What an rtmidi input and output share: opening a named port or a virtual one."""

    _midi: rtmidi.MidiIn | rtmidi.MidiOut
    _direction: str  # "input" or "output", for find_port's messages
    _port_name: str  # our side's port name: "in" or "out"

    def open(self, wanted: str) -> str:
        names = self._midi.get_ports()
        index = find_port(names, wanted, self._direction)
        self._midi.open_port(index, name=self._port_name)
        self._wanted = wanted
        self.state = PortState(names[index])
        return names[index]

    def open_virtual(self, port_name: str | None = None) -> str:
        port_name = port_name or self._port_name
        before = self._seen_by_others()
        self._midi.open_virtual_port(port_name)
        self.virtual = True
        self.state = PortState(self._virtual_name(port_name, before))
        return self.state.name

    def _seen_by_others(self) -> list[str] | None:
        """The port names other clients see in the direction of our virtual port (our input is
        an output port to them), or None when the backend cannot list them."""
        try:
            midi_in, midi_out = lister(self._api)
            return (midi_out if isinstance(self._midi, rtmidi.MidiIn) else midi_in).get_ports()
        except rtmidi.SystemError:
            return None

    def _virtual_name(self, port_name: str, before: list[str] | None) -> str:
        """The name the backend gave our virtual port: the one that appeared when we made it.
        JACK renames a second client of the same name (NAME-02:in), so it cannot be guessed."""
        after = self._seen_by_others()
        new = [n for n in after or () if n not in (before or ()) and port_name in n]
        if before is not None and len(new) == 1:
            return new[0]
        return f"{self._client_name}:{port_name}"  # unlisted or ambiguous: the name we asked for


class MidiInput(_RtmidiPort):
    """An input port whose callback stamps each message and puts it on a queue."""

    _direction = "input"
    _port_name = "in"

    def __init__(self, api: int, client_name: str, sink: queue.SimpleQueue[InputItem]) -> None:
        self._api = api
        self._client_name = client_name
        self._sink = sink
        self._midi = rtmidi.MidiIn(rtapi=api, name=client_name, queue_size_limit=4096)
        self._midi.ignore_types(sysex=True, timing=False, active_sense=True)
        self._midi.set_callback(self._on_message)
        self.state = PortState("")
        self._wanted: str | None = None
        self.virtual = False

    def _on_message(self, event: tuple[list[int], float], _data: object = None) -> None:
        self._sink.put((time.monotonic_ns(), tuple(event[0])))

    def check(self) -> bool:
        """Notice a vanished port and reopen it when it is back; returns whether it is ok."""
        ok_before = self.state.ok
        ok = _check(self._midi, self.state, self._wanted, self.virtual, "input")
        if ok and not ok_before:
            # python-rtmidi's close_port cancels the callback: hand it over again.
            self._midi.set_callback(self._on_message)
            self._midi.ignore_types(sysex=True, timing=False, active_sense=True)
        return ok

    def close(self) -> None:
        self._midi.cancel_callback()
        self._midi.close_port()
        self._midi.delete()


class MidiOutput(_RtmidiPort):
    """An output port; only the scheduler thread sends on it."""

    _direction = "output"
    _port_name = "out"

    def __init__(self, api: int, client_name: str) -> None:
        self._api = api
        self._client_name = client_name
        self._midi = rtmidi.MidiOut(rtapi=api, name=client_name)
        self.state = PortState("")
        self._wanted: str | None = None
        self.virtual = False
        self.send: Callable[[list[int]], None] = self._midi.send_message

    def check(self) -> bool:
        return _check(self._midi, self.state, self._wanted, self.virtual, "output")

    def close(self) -> None:
        self._midi.close_port()
        self._midi.delete()


def _check(
    midi: rtmidi.MidiBase, state: PortState, wanted: str | None, virtual: bool, what: str
) -> bool:
    if virtual or wanted is None:
        return True
    try:
        names = midi.get_ports()
    except rtmidi.SystemError:
        names = []
    present = state.name in names
    if state.ok and not present:
        state.ok = False
        with stop_signals_held():
            midi.close_port()
        log.warning("%s port %r vanished; waiting for it to come back", what, state.name)
    elif not state.ok and present:
        try:
            with stop_signals_held():
                midi.open_port(names.index(state.name), name="in" if what == "input" else "out")
        except rtmidi.SystemError as err:
            log.warning("%s port %r is back but cannot be opened: %s", what, state.name, err)
            return False
        state.ok = True
        state.reconnects += 1
        log.warning("%s port %r is back; reconnected", what, state.name)
    return state.ok


def sink_input(sink: queue.SimpleQueue[InputItem]) -> Callable[[int, tuple[int, ...]], None]:
    """A native JACK client's input handler that puts each stamped message on `sink`."""

    def on_input(t_ns: int, message: tuple[int, ...]) -> None:
        sink.put((t_ns, message))

    return on_input


@dataclass
class PortPair:
    """The daemon's input and output, opened as the command line asked."""

    input: MidiInput | JackClientPort
    output: MidiOutput | JackClientPort
    backend: str
    _next_probe_s: float = 0.0  # when server_gone next asks JACK through a new rtmidi client
    _gone: str | None = None  # what server_gone found for rtmidi's JACK clients

    @property
    def names(self) -> tuple[str, str]:
        return self.input.state.name, self.output.state.name

    def check(self) -> bool:
        return self.input.check() & self.output.check()

    def server_gone(self) -> str | None:
        """Why the MIDI server is gone (the JACK server died or dropped us), else None."""
        shared = _jack_input(self)
        if shared is not None:
            return None if shared.alive else f"the JACK server stopped ({shared.shutdown_reason})"
        if self.backend != "jack" or not isinstance(self.input, MidiInput):
            return None
        # rtmidi's clients go on listing the ports they knew and say nothing when the server
        # dies. A native client hears it (its shutdown callback) without joining the graph;
        # only without JACK-Client, a new rtmidi client that cannot connect tells, every
        # RTMIDI_SERVER_PROBE_S.
        watcher = jack_watcher()
        if watcher is not None:
            return f"the JACK server stopped ({watcher.gone})" if watcher.gone else None
        now = time.monotonic()
        if self._gone is None and now >= self._next_probe_s:
            self._next_probe_s = now + RTMIDI_SERVER_PROBE_S
            with stop_signals_held():
                try:
                    probe = rtmidi.MidiIn(rtapi=rtmidi.API_UNIX_JACK, name=f"{CLIENT_NAME}-probe")
                    probe.get_ports()
                except rtmidi.SystemError as err:
                    self._gone = f"the JACK server stopped ({err})"
                else:
                    probe.delete()
        return self._gone

    def close(self) -> None:
        if self._gone is not None:
            # libjack crashes (SIGSEGV) unregistering a port of a dead server: leave the
            # clients to the process's end
            log.debug("ports of the stopped JACK server left open")
            return
        for port in (self.input, self.output):
            try:
                with stop_signals_held():
                    port.close()
            except Exception as err:  # closing must never hide the real exit reason
                log.debug("closing port: %s", err)


def open_ports(
    sink: queue.SimpleQueue[InputItem],
    *,
    backend: str = "auto",
    port: str | None = None,
    in_port: str | None = None,
    out_port: str | None = None,
    virtual: str | None = None,
) -> PortPair:
    """Open the ports the command line names; `virtual` NAME makes NAME:in and NAME:out."""
    with stop_signals_held():
        return _open_ports(sink, backend, port, in_port, out_port, virtual)


def _open_ports(
    sink: queue.SimpleQueue[InputItem],
    backend: str,
    port: str | None,
    in_port: str | None,
    out_port: str | None,
    virtual: str | None,
) -> PortPair:
    if virtual is not None and (port or in_port or out_port):
        raise PortError("give either --virtual NAME or --port/--in-port/--out-port, not both")
    if virtual is None and not (port or in_port or out_port):
        virtual = CLIENT_NAME
    api = resolve_backend(backend)
    if api == rtmidi.API_WINDOWS_MM and not ((in_port or port) and (out_port or port)):
        raise PortError(LOOPMIDI_HINT)
    if virtual and api == rtmidi.API_UNIX_JACK:
        sides = open_jack_virtual(sink_input(sink), virtual)
        if sides is not None:
            return PortPair(*sides, "jack")
    client = virtual or CLIENT_NAME
    wanted_in, wanted_out = (None, None) if virtual else (in_port or port, out_port or port)
    if not virtual and api == rtmidi.API_UNIX_JACK:
        sides = open_jack_named(sink_input(sink), wanted_in, wanted_out)
        if sides is not None:
            return PortPair(*sides, "jack")
    try:
        midi_in = MidiInput(api, client, sink)
        midi_out = MidiOutput(api, client)
        # A direction the command line did not name gets a virtual port of its own.
        if wanted_in:
            midi_in.open(wanted_in)
        else:
            midi_in.open_virtual("in")
        if wanted_out:
            midi_out.open(wanted_out)
        else:
            midi_out.open_virtual("out")
    except rtmidi.SystemError as err:
        raise PortError(f"cannot open MIDI ports with {_api_name(api)}: {err}") from err
    except NotImplementedError as err:
        raise PortError(LOOPMIDI_HINT) from err
    return PortPair(midi_in, midi_out, _api_name(api))


def _jack_input(ports: object) -> JackVirtualClient | None:
    port = getattr(ports, "input", None)
    return port.shared if isinstance(port, JackClientPort) else None


def jack_priority(ports: object, timeout_s: float = 1.0) -> int | None:
    """The native JACK client's process-thread priority (0: not real-time), read in its first
    cycle; None without one. The daemon keeps its MIDI threads below it."""
    shared = _jack_input(ports)
    if shared is None:
        return None
    return shared.rt_priority if shared.wait_first_cycle(timeout_s) else None


def run_in_jack_reader(ports: object, setup: Callable[[], object]) -> bool:
    """Run `setup` on the native JACK client's input reader thread, if it has one."""
    shared = _jack_input(ports)
    return shared is not None and shared.run_in_reader(setup)


def output_ahead_ns(ports: object) -> int:
    """How long before its due time the scheduler hands a message to the output: two periods
    for the native JACK client (it places each at its frame in the cycle that holds the due
    time, so it must have it before that cycle starts, with a period to spare); 0 otherwise."""
    shared = _jack_input(ports)
    if shared is None:
        return 0
    return round(2e9 * shared.client.blocksize / shared.client.samplerate)


def missed_cycles(ports: object) -> int:
    """Cycles the native JACK client has missed so far (input lost in them); 0 without one."""
    shared = _jack_input(ports)
    return 0 if shared is None else shared.missed_cycles


def input_counters(ports: object) -> dict[str, int]:
    """What a native JACK client counted: events delivered to `in`, cycles it missed."""
    shared = _jack_input(ports)
    if shared is None:
        return {}
    return {
        "events_in": shared.events_in,
        "missed_cycles": shared.missed_cycles,
        "late_callbacks": shared.late_callbacks,
        "resent_note_offs": shared.resent_offs,
        "input_overflow": shared.input_overflow,
        "c_callback": int(shared.callback == "c"),  # 0: the Python one (waits for the GIL)
    }
