"""The live bench's session on a simulated clock: tokens, re-planning and notes, exactly repeatable.

`livegen bench --live` measures the daemon through JACK, in wall time, on a shared machine: its
CPU and note counts move by 2x from run to run (the sampling, and what the machine does beside
it). This script runs the same `LiveSession` with the same real onnxruntime model on a manual clock
instead: the same player (a 16th-note line from the second bar, 180 BPM, released after a 32nd),
the same knobs (accompany, output channel 1, density 4), and every token the model is fed moves
the clock on by `--token-ms` (what a token costs the live loop on this machine). With the seed
fixed, a run is deterministic, so two settings compare on the same music: how many tokens each
feeds the model per note it plays (the daemon's CPU follows the tokens), how many of them
re-planning threw away, and what was played (notes, pitch range, notes a bar).

    python bench/replan_sim.py [--model DIR] [--seconds 30] [--seeds 4] \
        [--write-ahead-ms 50 25] [--token-ms 1.3] [--density 4] [--json]
"""

from __future__ import annotations

import argparse
import json
import queue
import statistics
import threading
from dataclasses import dataclass, field
from pathlib import Path

from livegen.bench.live_bench import PLAYER_LINE
from livegen.inference.engine import Engine
from livegen.live.clock import ManualClock
from livegen.live.context import PlayerNote, SessionContext
from livegen.live.control import Control
from livegen.live.knobs import Knobs
from livegen.live.live_session import LiveSession
from livegen.live.scheduler import Scheduler

BPM = 180.0
PLAYER_CHANNEL = 0
JACK_HAND_OFF_NS = round(2 * 64 / 48_000 * 1e9)  # the JACK output takes notes two periods early


@dataclass
class Run:
    tokens_fed: int = 0  # every token through the model: the model's own, the player's, time
    generated: int = 0
    rolled_back: int = 0
    replans: int = 0
    note_ons: list[tuple[int, int]] = field(default_factory=list)  # (tick, pitch), the model's
    late: int = 0

    def summary(self, seconds: float) -> dict[str, float]:
        pitches = [p for _, p in self.note_ons]
        bars = seconds * BPM / 60 / 4
        return {
            "tokens_fed": self.tokens_fed,
            "generated": self.generated,
            "rolled_back": self.rolled_back,
            "replans": self.replans,
            "notes": len(self.note_ons),
            "notes_per_bar": len(self.note_ons) / bars,
            "tokens_fed_per_note": self.tokens_fed / max(1, len(self.note_ons)),
            "pitch_mean": statistics.fmean(pitches) if pitches else 0.0,
            "pitch_range": (max(pitches) - min(pitches)) if pitches else 0,
            "late": self.late,
        }


def player_events(seconds: float) -> list[tuple[int, int, int]]:
    """(ns, pitch, velocity): a 16th-note line from the second bar, each note a 32nd long."""
    ns_per_16th = 60e9 / BPM / 4
    events = []
    n = 4 * 4  # the first 16th of bar 2
    while (t := n * ns_per_16th) < seconds * 1e9:
        pitch = PLAYER_LINE[n % len(PLAYER_LINE)]
        events.append((round(t), pitch, 90))
        events.append((round(t + ns_per_16th / 2), pitch, 0))
        n += 1
    return events


def simulate(
    model: Path,
    seed: int,
    seconds: float,
    write_ahead_ms: float,
    token_ms: float,
    density: float = 4.0,
    *,
    events: list[tuple[int, int, int]] | None = None,
    bpm: float = BPM,
    output_channel: int = 1,
    chords: str = "",
) -> Run:
    """One session on the manual clock; `events` (ns, pitch, velocity) on PLAYER_CHANNEL are the
    player's (default: this bench's 16th-note line), `bpm` the clock's tempo."""
    clock = ManualClock(bpm=bpm)
    scheduler = Scheduler(lambda *message: None, clock, early_ns=JACK_HAND_OFF_NS)
    knobs = Knobs(mode="accompany", output_channel=output_channel, density=density, chords=chords)
    control = Control(knobs)
    player_queue: queue.SimpleQueue[PlayerNote] = queue.SimpleQueue()
    held: set[tuple[int, int]] = set()
    context = SessionContext(
        stop_event=threading.Event(),
        control=control,
        player_notes=player_queue,
        clock=clock,
        scheduler=scheduler,
        paused=lambda: False,
        held_keys=held,
    )
    engine = Engine.load(model, overflow="sync")
    run = Run()
    step, prefill = engine.step, engine.prefill

    def counted_step(token: int):  # type: ignore[no-untyped-def]
        run.tokens_fed += 1
        return step(token)

    def counted_prefill(tokens: list[int]):  # type: ignore[no-untyped-def]
        run.tokens_fed += len(tokens)
        return prefill(tokens)

    engine.step, engine.prefill = counted_step, counted_prefill  # type: ignore[method-assign]
    session = LiveSession(engine, seed=seed, write_ahead_ms=write_ahead_ms)
    session.attach(context)
    clock.start()
    assert session.ready(knobs)
    token_ns = round(token_ms * 1e6)
    events = player_events(seconds) if events is None else events
    next_event = 0
    pending: list[PlayerNote] = []
    end_ns = round(seconds * 1e9)
    line = clock.timeline
    assert line is not None
    while (now := clock.now_ns()) < end_ns:
        while next_event < len(events) and events[next_event][0] <= now:
            t_ns, pitch, velocity = events[next_event]
            key = (PLAYER_CHANNEL, pitch)
            (held.add if velocity else held.discard)(key)
            tick = line.ns_to_tick(t_ns)
            pending.append(PlayerNote(round(tick), t_ns, PLAYER_CHANNEL, pitch, velocity))
            next_event += 1
        fed_before = run.tokens_fed
        session.advance(pending, control.knobs)
        fed = run.tokens_fed - fed_before
        if fed:
            clock.advance_ns(fed * token_ns)
        else:  # nothing to write: wait for the next player note or the next tick
            next_ns = events[next_event][0] if next_event < len(events) else end_ns
            tick_ns = line.tick_to_ns(int(line.ns_to_tick(now)) + 1)
            clock.advance_ns(max(1, min(next_ns, tick_ns) - now))
        scheduler.pump(clock.now_ns())
    stats = session.stats_
    run.generated, run.rolled_back, run.replans = stats.tokens, stats.rollback_tokens, stats.replans
    run.late = scheduler.stats.late_notes
    run.note_ons = [
        (s.tick, s.message[1])
        for s in scheduler.sent_log
        if s.message[0] & 0xF0 == 0x90 and s.message[2] > 0
    ]
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--write-ahead-ms", type=float, nargs="+", default=[50.0, 25.0])
    parser.add_argument("--token-ms", type=float, default=1.3)
    parser.add_argument("--density", type=float, default=4.0, help="the live bench's is 4")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from livegen.inference.model_dir import resolve_model_dir

    model = resolve_model_dir(args.model)
    results: dict[str, list[dict[str, float]]] = {}
    for write_ahead in args.write_ahead_ms:
        label = f"write_ahead_ms={write_ahead:g}"
        results[label] = [
            simulate(model, seed, args.seconds, write_ahead, args.token_ms, args.density).summary(
                args.seconds
            )
            for seed in range(args.seeds)
        ]
    if args.json:
        print(json.dumps(results, indent=1))
        return
    keys = ("tokens_fed", "rolled_back", "replans", "notes", "notes_per_bar",
            "tokens_fed_per_note", "pitch_mean", "pitch_range", "late")  # fmt: skip
    print(f"{args.seconds:g} s at {BPM:g} BPM, density {args.density:g}, {args.seeds} seeds,"
          f" {args.token_ms} ms a token;"
          " mean (min-max) over seeds")  # fmt: skip
    for label, runs in results.items():
        print(label)
        for key in keys:
            values = [r[key] for r in runs]
            print(f"  {key:20s} {statistics.fmean(values):9.2f}"
                  f"  ({min(values):.2f}-{max(values):.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
