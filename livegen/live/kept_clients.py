"""The MIDI clients a process keeps: one that lists ports and one that watches the JACK server.

Listing ports and probing a backend go through ONE long-lived rtmidi client pair per MIDI system
and JACK server (`lister`), and watching a JACK server through one non-activated native client
(`jack_watcher`): a temporary client per listing or probe came and went in the JACK graph every
few seconds, and one was seen stuck "Triggered" there. libjack keeps one server's graph per
process, so a process should talk to one JACK server at a time (scripts/test.sh runs each JACK
test module in a process of its own for that reason).
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

import rtmidi

from livegen.live import jack_ports
from livegen.live.signal_mask import stop_signals_held

log = logging.getLogger("livegen")

CLIENT_NAME = "livegen"

_LISTERS: dict[tuple[int, str | None], tuple[rtmidi.MidiIn, rtmidi.MidiOut]] = {}
_WATCHERS: dict[str | None, Any] = {}  # JACK server name -> non-activated jack.Client
_CLIENTS_LOCK = threading.Lock()


def _jack_server() -> str | None:
    """The JACK server a client opened now talks to (libjack reads this variable)."""
    return os.environ.get("JACK_DEFAULT_SERVER")


def lister(api: int) -> tuple[rtmidi.MidiIn, rtmidi.MidiOut]:
    """The process's one (MidiIn, MidiOut) pair that lists `api`'s ports, made on first use and
    kept (per JACK server: tests start several). rtmidi.SystemError when it cannot connect."""
    key = (api, _jack_server() if api == rtmidi.API_UNIX_JACK else None)
    with _CLIENTS_LOCK:
        pair = _LISTERS.get(key)
        if pair is None:
            name = f"{CLIENT_NAME}-ports"
            with stop_signals_held():
                pair = (rtmidi.MidiIn(rtapi=api, name=name), rtmidi.MidiOut(rtapi=api, name=name))
                pair[1].get_port_count()  # connects now: a backend that cannot is not kept
            _LISTERS[key] = pair
        return pair


def jack_watcher() -> Any | None:
    """A native JACK client that never joins the graph (not activated), kept to hear its
    server's shutdown; None without JACK-Client or when the server cannot be reached."""
    server = _jack_server()
    with _CLIENTS_LOCK:
        if server in _WATCHERS:
            return _WATCHERS[server]
        jack = jack_ports.load_jack()  # looked up here: a test can take JACK-Client away
        watcher = None
        if jack is not None:
            try:
                with stop_signals_held():
                    watcher = jack.Client(f"{CLIENT_NAME}-watch", no_start_server=True)
            except jack.JackError as err:
                log.debug("no JACK watcher: %s", err)
            else:
                watcher.gone = ""
                watcher.set_shutdown_callback(
                    lambda status, reason: setattr(watcher, "gone", reason or "no reason given")
                )
        _WATCHERS[server] = watcher
        return watcher
