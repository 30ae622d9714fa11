"""The daemon's ports as the two sides of ONE native JACK client (livegen.live.jack_ports).

`--virtual NAME` leaves NAME:in and NAME:out for others to wire; named ports (`--in-port X`) wire
them to ports other clients made, and again when one comes back after vanishing. Either way the
client's process callback is the C one where it was built (jack_rt): input is never lost to a
cycle missed for Python's GIL, which rtmidi's clients (a Python callback on JACK's thread) were.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from livegen.errors import PortError
from livegen.live import jack_ports
from livegen.live.jack_ports import InputHandler, JackVirtualClient
from livegen.live.kept_clients import CLIENT_NAME
from livegen.live.port_names import PortState, find_port
from livegen.live.signal_mask import stop_signals_held

log = logging.getLogger(__name__)


class JackClientPort:
    """One side (`in` or `out`) of the native JACK client (livegen.live.jack_ports): left for
    others to wire (`--virtual NAME`), or wired to a port another client made (`--in-port X`) at
    start and again when X comes back after vanishing (a keyboard unplugged)."""

    def __init__(self, shared: JackVirtualClient, direction: str, wanted: str | None) -> None:
        self.shared = shared
        self._direction = direction  # "input" or "output", for messages
        ours = f"{shared.name}:{'in' if direction == 'input' else 'out'}"
        self._ours = ours
        self.virtual = wanted is None  # unnamed: our port, for others to wire
        if direction == "output":
            self.send: Callable[..., None] = shared.send
        if wanted is None:
            self.state = PortState(ours)
            return
        others = self._others()
        self.state = PortState(others[find_port(others, wanted, direction)])
        self._connect()

    def _others(self) -> list[str]:
        """The MIDI ports we could wire to: outputs for our input, inputs for our output."""
        ports = self.shared.client.get_ports(
            is_midi=True, is_output=self._direction == "input", is_input=self._direction != "input"
        )
        return [p.name for p in ports if not p.name.startswith(f"{self.shared.name}:")]

    def _connect(self) -> None:
        source, target = (
            (self.state.name, self._ours)
            if self._direction == "input"
            else (self._ours, self.state.name)
        )
        with stop_signals_held():
            self.shared.client.connect(source, target)

    def check(self) -> bool:
        if not self.shared.alive:
            self.state.ok = False
            return False
        if self.virtual:
            return True
        try:
            present = self.state.name in self._others()
        except Exception:  # the server is going: the shutdown callback reports it
            present = False
        if self.state.ok and not present:
            self.state.ok = False
            log.warning(
                "%s port %r vanished; waiting for it to come back", self._direction, self.state.name
            )
        elif not self.state.ok and present:
            try:
                self._connect()
            except Exception as err:  # JACK-Client's JackError: the port went again
                log.warning(
                    "%s port %r is back but cannot be wired: %s",
                    self._direction,
                    self.state.name,
                    err,
                )
                return False
            self.state.ok = True
            self.state.reconnects += 1
            log.warning("%s port %r is back; reconnected", self._direction, self.state.name)
        return self.state.ok

    def close(self) -> None:
        self.shared.release()


def open_jack_named(
    on_input: InputHandler, wanted_in: str | None, wanted_out: str | None
) -> tuple[JackClientPort, JackClientPort] | None:
    """`--in-port`/`--out-port` under JACK through the native client (its C process callback
    misses no cycle for Python); None when JACK-Client cannot load."""
    jack = jack_ports.load_jack()
    if jack is None:
        return None
    try:
        shared = JackVirtualClient(jack, CLIENT_NAME, on_input, exact_name=False)
    except jack.JackError as err:
        raise PortError(f"cannot create a JACK client: {err}") from err
    try:
        return JackClientPort(shared, "input", wanted_in), JackClientPort(
            shared, "output", wanted_out
        )
    except BaseException:
        shared.close()
        raise


def open_jack_virtual(
    on_input: InputHandler, name: str
) -> tuple[JackClientPort, JackClientPort] | None:
    """NAME:in and NAME:out on one native JACK client; None when JACK-Client cannot load."""
    jack = jack_ports.load_jack()
    if jack is None:
        log.warning(
            "JACK-Client (pip install JACK-Client) or libjack is missing: the ports will be "
            "%s:in and %s-01:out (two rtmidi clients)",
            name,
            name,
        )
        return None
    try:
        shared = JackVirtualClient(jack, name, on_input)
    except jack.JackError as err:
        raise PortError(
            f"cannot create the JACK client {name!r} (is a client of that name already "
            f"running?): {err}"
        ) from err
    return JackClientPort(shared, "input", None), JackClientPort(shared, "output", None)
