"""Reads JACK's server registry, to find the slots that servers killed with -9 still hold.

jackd (jack2) keeps the servers of a machine in a shared-memory registry of 8 slots,
`/dev/shm/jack-shm-registry`. A server that exits cleanly frees its slot; one that is killed
(kill -9, an OOM kill, a session that ends hard) keeps it, and jackd reclaims a dead slot only when
a server of the *same name* starts. Private servers with unique names (tests, `livegen bench
--live`) therefore leak a slot per hard kill, and after 8 every jackd on the machine fails with
"Too many servers already active". The remedy uses JACK's own rule: start a server under each dead
slot's name and stop it cleanly (see `jackserver.start_dummy_server`). That rule fails for a slot
whose PID a non-JACK process has since taken (jackd asks only "does this PID exist?"); when no
slot holds a live jackd, the registry describes nothing that runs and may simply be removed.
This module never writes JACK's memory.

The layout read here is jack2's `jack_shm_header_t` (common/shm.h): magic "KCAJ", protocol, type,
size, hdr_len, entry_len, then `server[8]` of {pid_t pid; char name[257]} padded to 264 bytes.
It is checked against the header's own length before any slot is trusted; any other layout reads as
"unknown" and nothing is reclaimed.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

REGISTRY_PATH = Path("/dev/shm/jack-shm-registry")
_MAGIC = 0x4A41434B  # "KCAJ" little-endian
_HEADER = struct.Struct("<IHxxiIII")  # magic, protocol, type, size, hdr_len, entry_len
_MAX_SERVERS = 8
_SLOT_BYTES = 264  # pid_t (4) + name[JACK_SERVER_NAME_SIZE + 1 = 257], aligned to 4
_SLOTS_OFFSET = _HEADER.size


@dataclass(frozen=True)
class ServerSlot:
    pid: int
    prefix: str  # "jack-UID:NAME:", as jackd writes it

    @property
    def free(self) -> bool:
        return self.pid == 0

    @property
    def alive(self) -> bool:
        """A jackd runs under the slot's PID (a PID alone may since belong to anything else)."""
        return self.pid > 0 and _is_jackd(self.pid)

    @property
    def server_name(self) -> str | None:
        """NAME, when the slot belongs to this user (only this user can reclaim it)."""
        head, _, rest = self.prefix.partition(":")
        if head != f"jack-{os.getuid()}" or not rest.endswith(":"):
            return None
        return rest[:-1] or None


def read_slots(path: Path = REGISTRY_PATH) -> list[ServerSlot] | None:
    """The registry's 8 server slots; None when there is no registry or its layout is unknown."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if len(data) < _SLOTS_OFFSET + _MAX_SERVERS * _SLOT_BYTES:
        return None
    magic, _protocol, _type, _size, header_len, _entry_len = _HEADER.unpack_from(data)
    if magic != _MAGIC or header_len != _SLOTS_OFFSET + _MAX_SERVERS * _SLOT_BYTES:
        return None
    slots = []
    for index in range(_MAX_SERVERS):
        offset = _SLOTS_OFFSET + index * _SLOT_BYTES
        (pid,) = struct.unpack_from("<i", data, offset)
        raw_name = data[offset + 4 : offset + _SLOT_BYTES].split(b"\0", 1)[0]
        slots.append(ServerSlot(pid, raw_name.decode("utf-8", errors="replace")))
    return slots


def dead_server_names(path: Path = REGISTRY_PATH) -> list[str]:
    """Names of this user's servers that hold a slot but whose process is gone."""
    slots = read_slots(path) or []
    names = [s.server_name for s in slots if not s.free and not s.alive]
    return [name for name in names if name is not None]


def registry_is_full(path: Path = REGISTRY_PATH) -> bool:
    slots = read_slots(path)
    return slots is not None and not any(slot.free for slot in slots)


def holds_no_live_server(path: Path = REGISTRY_PATH) -> bool:
    """Every slot is free or dead: the registry describes no server that still runs."""
    slots = read_slots(path)
    return slots is not None and not any(slot.alive for slot in slots)


def _is_jackd(pid: int) -> bool:
    try:
        command = Path(f"/proc/{pid}/comm").read_text().strip()
    except FileNotFoundError:
        return False
    except OSError:  # unreadable: another user's process, assume it is what the slot says
        return True
    return command.startswith("jack")
