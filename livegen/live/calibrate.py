"""`livegen calibrate`: time the MIDI round trip through a loopback and store it as the send-ahead.

The daemon sends each note `timing.latency_ms` before its tick to make up for the MIDI path: the
DAW's clock reaches the input late by the input's latency, and a note reaches the synth late by
the output's. A loopback (the user wires the output back to the input: `jack_connect livegen:out
livegen:in`, or a cable from the interface's MIDI out to its in) measures both at once, through
the same ports, backend and client the daemon uses. Probes are a silent controller (CC 119 on
channel 16, value = probe number) sent at irregular gaps, so they land at every phase of the
backend's cycle; the median round trip is what is stored.
"""

from __future__ import annotations

import queue
import random
import re
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

from livegen.config import read_toml
from livegen.errors import ConfigError, PortError
from livegen.files import write_atomic
from livegen.live.ports import InputItem, PortPair, open_ports
from livegen.live.serve_config import MAX_LATENCY_MS, resolve_config_path
from livegen.music.midi import CONTROL_CHANGE
from livegen.percentiles import summary

PROBE_CHANNEL = 15  # 0-based: MIDI channel 16
PROBE_CONTROL = 119  # an undefined controller: nothing a synth on the loop would act on
PROBE_STATUS = CONTROL_CHANGE | PROBE_CHANNEL


@dataclass(frozen=True)
class Calibration:
    round_trip_ms: dict[str, float]  # summary(): n, p50, p99, max
    latency_ms: float  # what goes into timing.latency_ms: the median round trip, 0.1 ms steps
    lost: int  # probes that never came back


def _probe(value: int) -> list[int]:
    return [PROBE_STATUS, PROBE_CONTROL, value & 0x7F]


def _await_probe(inbox: queue.SimpleQueue[InputItem], value: int, timeout_s: float) -> int | None:
    """The arrival time (ns) of probe `value`, skipping anything else; None after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0:
        try:
            t_ns, data = inbox.get(timeout=left)
        except queue.Empty:
            return None
        if tuple(data) == tuple(_probe(value)):
            return t_ns
    return None


def measure_round_trip(
    ports: PortPair,
    inbox: queue.SimpleQueue[InputItem],
    *,
    probes: int = 40,
    wait_s: float = 10.0,
    seed: int = 0,
) -> Calibration:
    """Send `probes` probes out and time each back in; PortError when the loop never answers.

    First waits up to `wait_s` for a loop to be wired (a probe every 0.2 s), then times the
    probes one at a time (each waits 0.5 s at most) with 5-25 ms between them.
    """
    in_name, out_name = ports.names
    deadline = time.monotonic() + wait_s
    value = 0
    while True:
        ports.output.send(_probe(value))
        if _await_probe(inbox, value, min(0.2, max(0.0, deadline - time.monotonic()))) is not None:
            break
        value += 1
        if time.monotonic() >= deadline:
            raise PortError(
                f"no loopback answered within {wait_s:g} s: wire {out_name!r} back to "
                f"{in_name!r} (with JACK: jack_connect '{out_name}' '{in_name}'; or a MIDI cable "
                "from the interface's out to its in), then run livegen calibrate again"
            )
    rng = random.Random(seed)
    round_trips_ms: list[float] = []
    lost = 0
    for _ in range(probes):
        time.sleep(rng.uniform(0.005, 0.025))  # irregular: every phase of the backend's cycle
        value = (value + 1) & 0x7F
        sent_ns = time.monotonic_ns()
        ports.output.send(_probe(value))
        back_ns = _await_probe(inbox, value, 0.5)
        if back_ns is None:
            lost += 1
            continue
        round_trips_ms.append(max(0, back_ns - sent_ns) / 1e6)
    if not round_trips_ms:
        raise PortError(f"none of {probes} probes came back from {out_name!r} to {in_name!r}")
    stats = summary(round_trips_ms)
    latency_ms = round(stats["p50"], 1)
    if latency_ms > MAX_LATENCY_MS:
        raise PortError(
            f"the MIDI round trip {out_name!r} -> {in_name!r} is {latency_ms:g} ms, more than "
            f"timing.latency_ms allows ({MAX_LATENCY_MS:g}); is something slow on the loop?"
        )
    return Calibration(stats, latency_ms, lost)


_SECTION = re.compile(r"^\s*\[([^\]]+)\]\s*(#.*)?$")
_KEY = re.compile(r"^(\s*)latency_ms(\s*)=(\s*)([^#\n]*?)(\s*)(#.*)?$")


def store_latency(path: str | Path, latency_ms: float) -> Path:
    """Set `[timing] latency_ms` in a serve config, keeping everything else (comments too).

    A missing file gets just that table; the file must parse before and after the edit.
    """
    path = Path(path)
    value = f"{latency_ms:.1f}"
    if not path.exists():
        return write_atomic(path, f"[timing]\nlatency_ms = {value}\n")
    read_toml(path)  # a broken file is a ConfigError naming it, not something to edit
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    section, timing_end, done = "", None, False
    for index, line in enumerate(lines):
        header = _SECTION.match(line)
        if header:
            if section == "timing" and timing_end is None:
                timing_end = index
            section = header.group(1).strip()
            continue
        match = _KEY.match(line.rstrip("\n"))
        if section == "timing" and match and not done:
            indent, before, after, _, gap, comment = match.groups()
            tail = f"{gap}{comment}" if comment else ""
            newline = "\n" if line.endswith("\n") else ""
            lines[index] = f"{indent}latency_ms{before}={after}{value}{tail}{newline}"
            done = True
    if not done:
        entry = f"latency_ms = {value}\n"
        if section == "timing" and timing_end is None:  # [timing] is the last table
            if lines and not lines[-1].endswith("\n"):
                lines[-1] += "\n"
            lines.append(entry)
        elif timing_end is not None:
            lines.insert(timing_end, entry)
        else:
            lines.append(("\n" if lines else "") + "[timing]\n" + entry)
    text = "".join(lines)
    try:
        stored = tomllib.loads(text)["timing"]["latency_ms"]
    except (tomllib.TOMLDecodeError, KeyError) as err:
        raise ConfigError(f"{path}: could not set [timing] latency_ms in it ({err})") from err
    if abs(stored - latency_ms) > 0.05:
        raise ConfigError(f"{path}: [timing] latency_ms reads back as {stored}, not {value}")
    return write_atomic(path, text)


@dataclass(frozen=True)
class CalibrateOptions:
    """What `livegen calibrate` was told: the ports as for serve, and where to store the result."""

    config: str | None = None  # a serve config name or path; None: the default one
    backend: str | None = None
    port: str | None = None
    in_port: str | None = None
    out_port: str | None = None
    virtual: str | None = None
    probes: int = 40
    wait_s: float = 10.0
    dry_run: bool = False  # measure and report, store nothing


def config_to_store(name: str | None) -> Path:
    """The serve config file to write: an existing config by name or path, or a new .toml path."""
    try:
        return resolve_config_path(name)
    except ConfigError:
        if name and name.endswith(".toml"):
            return Path(name)  # a new file beside the user's others
        raise


def run_calibrate(options: CalibrateOptions, echo=print) -> Calibration:
    """Open the ports as serve would, measure, report, and store `timing.latency_ms`."""
    path = config_to_store(options.config)
    backend = options.backend
    if backend is None:
        backend = read_toml(path).get("backend", "auto") if path.exists() else "auto"
    inbox: queue.SimpleQueue[InputItem] = queue.SimpleQueue()
    ports = open_ports(
        inbox,
        backend=str(backend),
        port=options.port,
        in_port=options.in_port,
        out_port=options.out_port,
        virtual=options.virtual,
    )
    in_name, out_name = ports.names
    echo(f"waiting for {out_name!r} to be wired back to {in_name!r} ...")
    try:
        result = measure_round_trip(ports, inbox, probes=options.probes, wait_s=options.wait_s)
    finally:
        ports.close()
    trip = result.round_trip_ms
    echo(
        f"round trip {out_name!r} -> {in_name!r}: p50 {trip['p50']:.2f} ms, p99 "
        f"{trip['p99']:.2f}, max {trip['max']:.2f} ({trip['n']} probes, {result.lost} lost)"
    )
    if options.dry_run:
        echo(f"timing.latency_ms would be {result.latency_ms:.1f} (--dry-run: nothing stored)")
    else:
        store_latency(path, result.latency_ms)
        echo(f"timing.latency_ms = {result.latency_ms:.1f} stored in {path}")
    return result
