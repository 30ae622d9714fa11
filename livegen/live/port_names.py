"""Port names: choosing a port by name, and what the daemon knows of one it opened."""

from __future__ import annotations

from dataclasses import dataclass

from livegen.errors import PortError


def find_port(names: list[str], wanted: str, direction: str) -> int:
    """Index of the port named `wanted`: exact name, else the one port whose name contains it."""
    if wanted in names:
        return names.index(wanted)
    matches = [i for i, name in enumerate(names) if wanted in name]
    if not matches:
        matches = [i for i, name in enumerate(names) if wanted.lower() in name.lower()]
    if len(matches) == 1:
        return matches[0]
    listing = ", ".join(repr(n) for n in names) or "none"
    if not matches:
        raise PortError(f"{direction} port {wanted!r} not found; available: {listing}")
    found = ", ".join(repr(names[i]) for i in matches)
    raise PortError(f"{direction} port {wanted!r} is ambiguous: matches {found}")


@dataclass
class PortState:
    name: str
    ok: bool = True
    reconnects: int = 0
