"""Ports through a real JACK server: virtual ports, names, errors, a port that vanishes."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import time

import pytest
import rtmidi

from livegen.errors import PortError
from livegen.live.jackserver import JackServer
from livegen.live.ports import InputItem, find_port, list_ports, open_ports

pytestmark = pytest.mark.jack


def _wait_for(predicate, timeout_s: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_find_port_exact_then_unique_substring() -> None:
    names = ["IAC Bus 1", "IAC Bus 10", "Midi Through"]
    assert find_port(names, "IAC Bus 1", "input") == 0
    assert find_port(names, "Through", "input") == 2
    assert find_port(names, "midi thr", "input") == 2
    with pytest.raises(PortError, match="'IAC Bus 3' not found; available: 'IAC Bus 1'"):
        find_port(names, "IAC Bus 3", "input")
    with pytest.raises(PortError, match="ambiguous"):
        find_port(names, "IAC", "output")


def test_virtual_ports_appear_and_carry_clock_messages(jack_server: JackServer) -> None:
    sink: queue.SimpleQueue[InputItem] = queue.SimpleQueue()
    pair = open_ports(sink, backend="jack", virtual="lgvirt")
    try:
        inputs, outputs = list_ports("jack")
        assert "lgvirt:in" in outputs  # our input is where other clients send to
        assert any(name.startswith("lgvirt") and name.endswith(":out") for name in inputs)
        sender = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name="tester")
        sender.open_port(find_port(sender.get_ports(), "lgvirt:in", "output"))
        for message in ([0xFA], [0xF8], [0x90, 60, 100], [0xF0, 1, 2, 0xF7], [0xFE]):
            sender.send_message(message)
        got: list[tuple[int, ...]] = []
        _wait_for(lambda: got.extend(m for _, m in _drain(sink)) or len(got) >= 3)
        assert got == [(0xFA,), (0xF8,), (0x90, 60, 100)]  # SysEx and active sensing ignored
        sender.delete()
    finally:
        pair.close()


def _drain(sink: queue.SimpleQueue[InputItem]) -> list[InputItem]:
    items = []
    while True:
        try:
            items.append(sink.get_nowait())
        except queue.Empty:
            return items


def test_unknown_port_name_lists_the_ports(jack_server: JackServer) -> None:
    sink: queue.SimpleQueue[InputItem] = queue.SimpleQueue()
    with pytest.raises(PortError, match="'no such port' not found; available:"):
        open_ports(sink, backend="jack", port="no such port")


def test_unknown_backend_names_the_choices() -> None:
    with pytest.raises(PortError, match="choose from auto, alsa, jack"):
        list_ports("oss")


@pytest.mark.parametrize("client", ["native", "rtmidi"])
def test_a_vanished_port_is_reconnected_when_it_returns(
    jack_server: JackServer, client: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Named ports under JACK go through the native client (its C callback) when JACK-Client
    loads, through rtmidi's clients otherwise: both wire again to a port that comes back."""
    from livegen.live import jack_ports
    from livegen.live.jack_client_ports import JackClientPort
    from livegen.live.ports import MidiInput

    if client == "rtmidi":
        monkeypatch.setattr(jack_ports, "load_jack", lambda: None)
    elif jack_ports.load_jack() is None:
        pytest.skip("JACK-Client or libjack missing")

    def player() -> rtmidi.MidiOut:
        out = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name="lgplayer")
        out.open_virtual_port("keys")
        return out

    keys = player()
    sink: queue.SimpleQueue[InputItem] = queue.SimpleQueue()
    pair = open_ports(sink, backend="jack", in_port="lgplayer:keys", out_port=None)
    assert isinstance(pair.input, JackClientPort if client == "native" else MidiInput)
    assert pair.names[0] == "lgplayer:keys"
    try:
        keys.send_message([0x90, 60, 100])
        assert _wait_for(lambda: not sink.empty())
        keys.delete()  # the keyboard is unplugged
        assert _wait_for(lambda: not pair.input.check())
        keys = player()  # ... and plugged back in
        assert _wait_for(pair.input.check)
        assert pair.input.state.reconnects == 1
        _drain(sink)
        keys.send_message([0x90, 62, 100])
        assert _wait_for(lambda: not sink.empty())
        assert sink.get_nowait()[1] == (0x90, 62, 100)
    finally:
        keys.delete()
        pair.close()


def test_a_second_client_of_the_same_virtual_name_reports_the_names_jack_gave(
    jack_server: JackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through rtmidi (no JACK-Client) JACK renames a second client `dup` to dup-02: the names
    the daemon logs are the ports others see, not the name it asked for."""
    from livegen.live import jack_ports

    monkeypatch.setattr(jack_ports, "load_jack", lambda: None)
    first = open_ports(queue.SimpleQueue(), backend="jack", virtual="dup")
    second = open_ports(queue.SimpleQueue(), backend="jack", virtual="dup")
    try:
        inputs, outputs = list_ports("jack")
        ours = (
            [n for n in outputs if n.startswith("dup")],
            [n for n in inputs if n.startswith("dup")],
        )
        assert len(ours[0]) == len(ours[1]) == 2
        assert first.names[0] != second.names[0] and first.names[1] != second.names[1]
        for pair in (first, second):
            assert pair.names[0] in ours[0]  # our input is where other clients send to
            assert pair.names[1] in ours[1]
    finally:
        second.close()
        first.close()


def test_listing_and_probing_reuse_one_client_per_server(jack_server: JackServer) -> None:
    """No client per listing or backend probe (one was seen stuck in the JACK graph): the
    process keeps one pair, and still sees ports that appear later."""
    from livegen.live import ports
    from livegen.live.kept_clients import lister

    first = lister(rtmidi.API_UNIX_JACK)
    list_ports("jack")
    ports.resolve_backend("auto")
    sink: queue.SimpleQueue[InputItem] = queue.SimpleQueue()
    pair = open_ports(sink, backend="jack", virtual="lglater")
    try:
        assert "lglater:in" in list_ports("jack")[1]
        assert lister(rtmidi.API_UNIX_JACK) is first
    finally:
        pair.close()


def test_ports_open_and_close_while_stop_signals_keep_arriving(jack_server: JackServer) -> None:
    """A stop signal during a JACK client's opening used to cut libjack's request short (EINTR:
    'Cannot read socket ... Interrupted system call') and the client failed to open; a demo
    stopped just as it started exited 1. Signals now wait until the opening is done."""
    received: list[int] = []
    previous = signal.signal(signal.SIGHUP, lambda signum, _frame: received.append(signum))
    sender = subprocess.Popen(
        ["bash", "-c", f"while kill -HUP {os.getpid()} 2>/dev/null; do sleep 0.002; done"]
    )
    try:
        for i in range(8):
            pair = open_ports(queue.SimpleQueue(), backend="jack", virtual=f"lgsignals{i}")
            pair.close()
    finally:
        sender.kill()
        sender.wait()
        signal.signal(signal.SIGHUP, previous)
    assert received, "no signal arrived while the ports opened: the test proved nothing"
