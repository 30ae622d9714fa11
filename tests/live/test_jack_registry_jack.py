"""JACK's registry of 8 servers, filled by servers killed with -9, does not stop the next start.

The project's CI once failed 5 JACK modules with "Too many servers already active": earlier runs
had left killed private servers in every slot of `/dev/shm/jack-shm-registry`, and jackd reclaims
a dead slot only for a server of the same name. `start_dummy_server` reclaims them first.
"""

from __future__ import annotations

import os
import shutil
import signal
import struct
from pathlib import Path

import pytest

from livegen.errors import PortError
from livegen.live import jack_registry
from livegen.live.jackserver import _launch, start_dummy_server

pytestmark = [pytest.mark.jack, pytest.mark.slow]


def _kill_hard(name: str) -> None:
    jackd = shutil.which("jackd")
    assert jackd is not None
    server = _launch(jackd, name, rate=48000, period=256, timeout_s=15)
    assert server.process is not None
    server.process.send_signal(signal.SIGKILL)  # no clean exit: the slot stays taken
    server.process.wait(5)


def test_a_registry_full_of_killed_servers_is_reclaimed_by_the_next_start() -> None:
    if shutil.which("jackd") is None:
        pytest.skip("jackd is not installed (apt install jackd2)")
    prefix = f"lgfull-{os.getpid()}"
    killed = []
    for index in range(8):  # at most 8 slots; some may hold live servers of other tests
        if jack_registry.registry_is_full():
            break
        name = f"{prefix}-{index}"
        _kill_hard(name)
        killed.append(name)
    assert jack_registry.registry_is_full()
    assert set(killed) <= set(jack_registry.dead_server_names())
    jackd = shutil.which("jackd")
    assert jackd is not None
    with pytest.raises(PortError, match="Too many servers"):  # what jackd alone does now
        _launch(jackd, f"{prefix}-plain", rate=48000, period=256, timeout_s=15)

    server = start_dummy_server(f"{prefix}-next")
    try:
        slots = jack_registry.read_slots()
        assert slots is not None
        assert any(slot.alive and slot.server_name == server.name for slot in slots)
    finally:
        server.stop()
    left = set(jack_registry.dead_server_names())
    assert not left & set(killed), f"killed servers still hold slots: {sorted(left & set(killed))}"


def test_a_registry_of_another_layout_is_read_as_unknown(tmp_path: Path) -> None:
    strange = tmp_path / "jack-shm-registry"
    strange.write_bytes(struct.pack("<IHxxiIII", 0x4A41434B, 0, 1, 4096, 1000, 268) + bytes(4096))
    assert jack_registry.read_slots(strange) is None
    assert not jack_registry.registry_is_full(strange)
    assert jack_registry.dead_server_names(strange) == []
    assert jack_registry.read_slots(tmp_path / "absent") is None
