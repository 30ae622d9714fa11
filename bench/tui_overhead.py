"""How much the TUI disturbs a real-time thread: sleep overshoot of a 1 ms probe, UI off vs on.

A "daemon" thread publishes status at 20 Hz and appends notes at 120 bpm (as livegen.live.daemon
does); a probe thread sleeps 1 ms in a loop, standing in for the scheduler, and records how late
it wakes.
Phases: without the UI; with the TUI as `serve` runs it (headless driver, 160x45, full rendering,
gc.freeze after start-up); with the TUI but no gc.freeze.
Same machine, same run: compare the two. Usage: .venv/bin/python bench/tui_overhead.py [SECONDS]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import threading
import time

import click

from livegen.live.control import Control, NoteView
from livegen.tui import make_app
from livegen.tui.scene import publish_scene

SWITCH_INTERVAL_S = 0.0005  # what the daemon sets


def fake_daemon(control: Control, stop: threading.Event) -> None:
    start = time.monotonic()
    next_note = 0.0
    while not stop.is_set():
        beat = 45.5 + (time.monotonic() - start) * 2.0  # 120 bpm
        while next_note <= beat:
            source = "player" if int(next_note) % 2 else "model"
            control.roll.append(
                NoteView(48 + int(next_note * 7) % 36, next_note, next_note + 0.4, source)
            )
            next_note += 0.25
        control.planned = tuple(NoteView(60, beat + 0.5, beat + 1.0, "planned") for _ in range(1))
        control.publish(position_beats=beat, bar=int(beat // 4) + 1, beat=int(beat % 4) + 1)
        time.sleep(0.05)


def probe(results: list[float], stop: threading.Event) -> None:
    while not stop.is_set():
        t0 = time.monotonic_ns()
        time.sleep(0.001)
        results.append((time.monotonic_ns() - t0 - 1_000_000) / 1e6)


def phase(seconds: float, with_ui: bool, freeze_gc: bool = True) -> tuple[list[float], float]:
    """Probe lateness and process CPU over `seconds` of steady state (UI start-up excluded)."""
    control = Control()
    publish_scene(control)
    stop_daemon, stop_probe = threading.Event(), threading.Event()
    late: list[float] = []
    daemon = threading.Thread(target=fake_daemon, args=(control, stop_daemon))
    prober = threading.Thread(target=probe, args=(late, stop_probe))
    daemon.start()
    cpu: list[float] = []

    def measure() -> None:
        cpu0 = time.process_time()
        prober.start()
        time.sleep(seconds)
        stop_probe.set()
        prober.join()
        cpu.append((time.process_time() - cpu0) / seconds)

    if with_ui:

        async def run() -> None:
            app = make_app(control, presets_dir="/tmp/livegen-bench-presets", freeze_gc=freeze_gc)
            async with app.run_test(size=(160, 45)) as pilot:
                await pilot.pause(1.0)  # mounted and drawn once
                await asyncio.get_running_loop().run_in_executor(None, measure)

        asyncio.run(run())
    else:
        measure()
    stop_daemon.set()
    daemon.join()
    return late, cpu[0]


def summary(name: str, late: list[float], cpu: float) -> str:
    ordered = sorted(late)
    p99 = ordered[int(len(ordered) * 0.99)]
    return (
        f"{name:17} probe oversleep p50 {statistics.median(ordered):.3f} ms  p99 {p99:.3f} ms  "
        f"max {ordered[-1]:.3f} ms  (n={len(ordered)})  process CPU {cpu * 100:.0f}% of a core"
    )


@click.command()
@click.argument("seconds", type=click.FloatRange(1, 600), default=5.0)
def main(seconds: float) -> None:
    """What the TUI costs a 1 ms real-time probe (SECONDS per phase pair, default 5)."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    phases = {"UI off": (False, True), "UI on": (True, True), "UI, no gc.freeze": (True, False)}
    runs: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in phases}
    for _ in range(2):  # alternate, so load from elsewhere on the machine hits all alike
        for name, (with_ui, freeze_gc) in phases.items():
            late, cpu = phase(seconds / 2, with_ui, freeze_gc)
            runs[name][0].extend(late)
            runs[name][1].append(cpu)
    for name, (late, cpus) in runs.items():
        print(summary(name, late, statistics.mean(cpus)))
    p99 = {name: sorted(late)[int(len(late) * 0.99)] for name, (late, _) in runs.items()}
    print(f"p99 oversleep with UI / without: {p99['UI on'] / max(p99['UI off'], 1e-6):.2f}x")


if __name__ == "__main__":
    main()
