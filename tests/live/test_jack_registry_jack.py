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


def _registry_bytes(slots: list[tuple[int, str]]) -> bytes:
    """jack2's layout: the header, then 8 slots of {pid_t pid; char name[257]} in 264 bytes."""
    header = struct.pack("<IHxxiIII", 0x4A41434B, 0, 1, 70744, 24 + 8 * 264, 268)
    body = b""
    for pid, prefix in slots + [(0, "")] * (8 - len(slots)):
        body += struct.pack("<i", pid) + prefix.encode().ljust(260, b"\0")
    return header + body + bytes(70744 - 24 - 8 * 264)


def test_a_slot_whose_pid_now_belongs_to_another_program_counts_as_dead(tmp_path: Path) -> None:
    # a slot's PID can be reused after a crash (a fresh boot, a long day): only a running jackd
    # makes a slot live, or a registry full of such slots would never be reclaimed
    uid = os.getuid()
    registry = tmp_path / "jack-shm-registry"
    registry.write_bytes(
        _registry_bytes(
            [(os.getpid(), f"jack-{uid}:reused:")]
            + [(0x7FFFFFF0 - i, f"jack-{uid}:gone-{i}:") for i in range(6)]
            + [(1, f"jack-{uid + 1}:someone-else:")]
        )
    )
    slots = jack_registry.read_slots(registry)
    assert slots is not None and len(slots) == 8
    assert jack_registry.registry_is_full(registry)
    assert jack_registry.holds_no_live_server(registry)
    assert jack_registry.dead_server_names(registry) == ["reused"] + [f"gone-{i}" for i in range(6)]


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's reaper may be slow where there is no real init)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


STARTER = """
import sys
from livegen.live.jackserver import start_dummy_server
server = start_dummy_server(sys.argv[1])
print(server.process.pid, flush=True)
sys.stdin.readline()
"""


def test_a_private_server_ends_with_the_process_that_started_it_even_on_kill_9() -> None:
    import subprocess
    import sys
    import time

    if shutil.which("jackd") is None or shutil.which("setpriv") is None:
        pytest.skip("jackd or setpriv (util-linux) is not installed")
    name = f"lgorphan-{os.getpid()}"
    starter = subprocess.Popen(
        [sys.executable, "-c", STARTER, name], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert starter.stdout is not None
    jackd_pid = int(starter.stdout.readline())
    try:
        assert Path(f"/proc/{jackd_pid}/comm").read_text().startswith("jack")
        starter.send_signal(signal.SIGKILL)  # no clean-up code of its own runs
        starter.wait(5)
        deadline = time.monotonic() + 10
        while _running(jackd_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _running(jackd_pid), "jackd outlived the process that started it"
    finally:
        if _running(jackd_pid):
            os.kill(jackd_pid, signal.SIGTERM)
    # it was stopped, not killed: its registry slot is free, not dead
    assert name not in jack_registry.dead_server_names()
