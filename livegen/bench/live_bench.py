"""`livegen bench --live`: the daemon's timing through a real JACK server, as a DAW would see it.

A private JACK dummy server (64 frames at 48 kHz by default) carries everything. This process
plays the DAW: it sends MIDI clock and a player's 16th notes at 180 BPM into `livegen serve
--clock external --mode accompany` (a subprocess, so the two do not share a GIL) and timestamps
what comes back. Reported:
- onset offset: each generated note-on's arrival minus the DAW clock tick it belongs to (p50/p99),
  i.e. transport in + the daemon's tick prediction + scheduling + transport out;
- re-plan: a player's note arriving at the daemon -> rollback and re-plan done (p50/p99), against
  the next 16th at 180 BPM (83 ms);
- late and dropped notes as the scheduler counted them; the daemon's CPU use;
- GIL: how late a 1 ms sleeper wakes while the engine decodes in another thread vs when idle.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rtmidi

from livegen.errors import LivegenError
from livegen.inference.model_dir import read_model_dir
from livegen.live.child_process import ending_with_parent
from livegen.live.jackserver import JackServer, start_dummy_server
from livegen.live.ports import find_port
from livegen.live.realtime import DutyCycle, inference_thread_priority, raise_thread_priority
from livegen.live.signal_mask import stop_signals_held, stop_signals_interrupt
from livegen.machine import cpu_info
from livegen.music.midi import CLOCK, NOTE_OFF, NOTE_ON, START, STOP, is_note_on
from livegen.percentiles import summary

CLIENT = "lgbench"
PLAYER_LINE = (60, 64, 67, 72, 67, 64)  # the DAW's 16th notes (bench/replan_sim.py plays them too)


@dataclass(frozen=True)
class LiveBenchOptions:
    model: str = "default"
    seconds: float = 10.0
    bpm: float = 180.0
    period: int = 64
    rate: int = 48000
    gil_seconds: float = 3.0
    latency_ms: float = 0.0  # the daemon's timing.latency_ms (transport compensation)
    # an already running server to use instead of a private one (tests: libjack cannot talk to
    # two servers from one process)
    server: str | None = None


def _cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Daw:
    """Clock, player and a listener on the daemon's output, all on one JACK server."""

    def __init__(self, bpm: float) -> None:
        with stop_signals_held():
            self.out = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name=f"{CLIENT}-daw")
            self.inp = rtmidi.MidiIn(
                rtapi=rtmidi.API_UNIX_JACK, name=f"{CLIENT}-daw-in", queue_size_limit=65536
            )
        self.inp.ignore_types(sysex=True, timing=True, active_sense=True)
        # (time seen, JACK delta time s, message): rtmidi queues what arrives on its JACK thread
        # and a thread of ours polls it. No Python callback on the JACK thread: with one, dense
        # output (the default model at density 4) crashed this process in rtmidi's native input
        # thread in 3 of 4 runs. The time seen lags by the poll; rtmidi's deltas come from JACK's
        # own clock and do not (arrival_times_ns anchors them on the least-delayed sighting)
        self.received: list[tuple[int, float, tuple[int, ...]]] = []
        self._polling = threading.Event()
        self._polling.set()
        self._poller = threading.Thread(target=self._poll, name="daw-listener", daemon=True)
        self._poller.start()
        self.period_ns = 60e9 / (bpm * 24)
        self.tick_ns: list[int] = []  # when each tick was due on the DAW's grid
        self.send_late_ns: list[int] = []  # how late this process actually sent it
        self.player_ns: list[int] = []
        self._stop = threading.Event()

    def connect(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            outs, ins = self.out.get_ports(), self.inp.get_ports()
            theirs = [p for p in ins if p == f"{CLIENT}:out"]
            if f"{CLIENT}:in" in outs and theirs:
                with stop_signals_held():
                    self.out.open_port(find_port(outs, f"{CLIENT}:in", "output"))
                    self.inp.open_port(ins.index(theirs[0]))
                return
            time.sleep(0.1)
        raise TimeoutError("the daemon's ports did not appear")

    def play(self, seconds: float) -> None:
        """Clock ticks on absolute deadlines; a 16th-note line from the second bar on."""
        raise_thread_priority()
        self.out.send_message([START])
        start = time.monotonic_ns() + 5_000_000
        total = int(seconds * 1e9 / self.period_ns)
        for n in range(total):
            deadline = start + round(n * self.period_ns)
            while (wait := deadline - time.monotonic_ns()) > 0:
                time.sleep(wait / 1e9 - 0.0002 if wait > 300_000 else 0)
            self.out.send_message([CLOCK])
            self.tick_ns.append(deadline)
            self.send_late_ns.append(time.monotonic_ns() - deadline)
            if n >= 96 and n % 6 == 0:  # 16ths after one bar of clock
                pitch = PLAYER_LINE[(n // 6) % len(PLAYER_LINE)]
                self.out.send_message([NOTE_ON, pitch, 90])
                self.player_ns.append(time.monotonic_ns())
            elif n >= 96 and n % 6 == 3:
                pitch = PLAYER_LINE[(n // 6) % len(PLAYER_LINE)]
                self.out.send_message([NOTE_OFF, pitch, 0])
        self.out.send_message([STOP])

    def _poll(self) -> None:
        while self._polling.is_set():
            event = self.inp.get_message()
            if event is None:
                time.sleep(0.0002)
                continue
            self.received.append((time.monotonic_ns(), event[1], tuple(event[0])))

    def close(self) -> None:
        self._polling.clear()
        self._poller.join()
        with stop_signals_held():
            self.out.delete()
            self.inp.delete()


def arrival_times_ns(received: list[tuple[int, float, tuple[int, ...]]]) -> list[int]:
    """Arrival times on JACK's clock (cumulative rtmidi deltas), placed on the monotonic clock
    by the least-delayed callback."""
    if not received:
        return []
    cumulative = np.cumsum([delta for _, delta, _ in received]) * 1e9
    callbacks = np.asarray([t for t, _, _ in received], dtype=np.float64)
    anchor = float(np.min(callbacks - cumulative))
    return [round(anchor + c) for c in cumulative]


def onset_offsets_ms(tick_ns: list[int], onsets_ns: list[int]) -> np.ndarray:
    """Each onset minus the nearest DAW clock tick (signed, ms)."""
    ticks = np.asarray(tick_ns, dtype=np.int64)
    if ticks.size == 0 or not onsets_ns:
        return np.zeros(0)
    onsets = np.asarray(onsets_ns, dtype=np.int64)
    index = np.clip(np.searchsorted(ticks, onsets), 1, ticks.size - 1)
    before, after = ticks[index - 1], ticks[index]
    nearest = np.where(onsets - before <= after - onsets, before, after)
    return (onsets - nearest) / 1e6


def gil_probe(model: str, seconds: float) -> dict[str, object]:
    """Wake-up lateness of a thread sleeping 1 ms: idle, then while the engine decodes."""
    from livegen.inference.engine import Engine
    from livegen.inference.sampler import Sampler, SamplingParams
    from livegen.tokenizer import Grammar, TokenizerConfig, Vocab

    engine = Engine.load(model)
    vocab = Vocab(TokenizerConfig.from_dict(engine.tokenizer_config))
    grammar = Grammar(vocab)
    sampler = Sampler(0)
    params = SamplingParams(0.9, 0, 0.95)

    def probe(duration_s: float) -> list[float]:
        # real-time like the daemon's MIDI threads, so only the GIL (not the CPU) can delay it
        raise_thread_priority()
        late: list[float] = []
        end = time.monotonic() + duration_s
        while time.monotonic() < end:
            t0 = time.monotonic_ns()
            time.sleep(0.001)
            late.append((time.monotonic_ns() - t0 - 1_000_000) / 1e6)
        return late

    idle = probe(seconds / 2)
    stop = threading.Event()
    steps = [0]

    def decode() -> None:
        inference_thread_priority()
        duty = DutyCycle()  # as in the daemon: a real-time loop must rest now and then
        token = vocab.bos
        engine.reset()
        logits = engine.step(token)
        while not stop.is_set():
            token = sampler.sample(logits, params, grammar.mask_after(token))
            if engine.position >= engine.context - 2:
                engine.reset()
            logits = engine.step(token)
            steps[0] += 1
            duty.work()

    worker = threading.Thread(target=decode, daemon=True)
    worker.start()
    try:
        busy = probe(seconds / 2)
    finally:
        stop.set()
        worker.join()
        engine.close()  # a slide still prefilling in onnxruntime would outlive the probe
    return {
        "idle_lateness_ms": summary(idle),
        "decoding_lateness_ms": summary(busy),
        "decode_steps": steps[0],
        "switch_interval_ms": sys.getswitchinterval() * 1e3,
    }


def run_live_bench(options: LiveBenchOptions, echo=print) -> dict[str, object]:
    """Time `livegen serve` through a private JACK server (see the module docstring); a stop
    signal meanwhile ends the daemon and the server it started before the exception goes on."""
    with stop_signals_interrupt():
        return _run_live_bench(options, echo)


def _run_live_bench(options: LiveBenchOptions, echo=print) -> dict[str, object]:
    read_model_dir(options.model)  # a missing model is one clear error before anything starts
    if options.server is not None:
        server = JackServer(options.server, None)
    else:
        server = start_dummy_server(
            f"livegen-bench-{os.getpid()}", rate=options.rate, period=options.period
        )
    stats_path = Path(tempfile.mkdtemp(prefix="livegen-bench-")) / "daemon.json"
    daw: _Daw | None = None
    process: subprocess.Popen[bytes] | None = None
    try:
        env = {**server.env, "PYTHONUNBUFFERED": "1"}
        log_path = stats_path.with_name("daemon.log")
        with log_path.open("wb") as log:
            serve = [sys.executable, "-m", "livegen", "serve", "--headless", "--virtual", CLIENT,
                     "--model", options.model, "--mode", "accompany", "--clock", "external",
                     "--set", "output_channel=1", "--set", "timing.late_ms=4",
                     "--set", "density=4", "--set", f"timing.latency_ms={options.latency_ms}",
                     "--stats-json", str(stats_path)]  # fmt: skip
            process = subprocess.Popen(  # a bench killed with -9 leaves no daemon running
                ending_with_parent(serve), stdout=log, stderr=subprocess.STDOUT, env=env
            )
        os.environ["JACK_DEFAULT_SERVER"] = server.name
        daw = _Daw(options.bpm)
        daw.connect()
        time.sleep(0.5)
        echo(f"bench: {options.seconds:g} s at {options.bpm:g} BPM, JACK {options.period} frames"
             f" / {options.rate} Hz ...")  # fmt: skip
        cpu_start, wall_start = _cpu_seconds(process.pid), time.monotonic()
        daw.play(options.seconds)
        cpu_end, wall_end = _cpu_seconds(process.pid), time.monotonic()
        time.sleep(0.3)
        process.send_signal(signal.SIGTERM)
        code = process.wait(30)
        if code != 0 or not stats_path.exists():
            tail = log_path.read_text(errors="replace")[-1500:]
            raise LivegenError(f"the daemon exited with {code}: {tail}")
        daemon = json.loads(stats_path.read_text())
        received = list(daw.received)  # a snapshot: the listener thread still appends
        arrivals = arrival_times_ns(received)
        onsets = [t for t, (_, _, m) in zip(arrivals, received, strict=True) if is_note_on(m)]
        offsets = onset_offsets_ms(daw.tick_ns, onsets)
        cpu = None
        if cpu_start is not None and cpu_end is not None:
            cpu = 100.0 * (cpu_end - cpu_start) / (wall_end - wall_start)
        result: dict[str, object] = {
            "machine": cpu_info().to_dict(),
            "jack": {"period": options.period, "rate": options.rate,
                     "period_ms": 1e3 * options.period / options.rate},
            "bpm": options.bpm,
            "seconds": options.seconds,
            "player_notes": len(daw.player_ns),
            "generated_onsets": len(onsets),
            "onset_offset_ms": summary(np.abs(offsets)),
            "onset_offset_signed_mean_ms": float(offsets.mean()) if offsets.size else 0.0,
            "onset_offsets_signed_ms": [round(float(v), 3) for v in offsets],
            "daw_clock_send_late_ms": summary(np.asarray(daw.send_late_ns) / 1e6),
            "sixteenth_at_bpm_ms": 60e3 / options.bpm / 4,
            "daemon": daemon,
            "daemon_cpu_percent_of_one_core": cpu,
        }  # fmt: skip
    finally:
        if daw is not None:
            daw.close()
        if process is not None and process.poll() is None:
            process.kill()
        server.stop()
    echo("bench: GIL probe (engine decoding in another thread) ...")
    result["gil"] = gil_probe(options.model, options.gil_seconds)
    return result


def format_report(result: dict[str, object]) -> str:
    d = result["daemon"]  # type: ignore[index]
    off = result["onset_offset_ms"]  # type: ignore[index]
    replan = d.get("note_to_ready_ms", {})  # type: ignore[union-attr]
    gil = result["gil"]  # type: ignore[index]
    jack = result["jack"]  # type: ignore[index]
    lines = [
        f"machine: {result['machine']['describe']}",  # type: ignore[index]
        f"JACK {jack['period']} frames @ {jack['rate']} Hz ({jack['period_ms']:.2f} ms/period), "
        f"{result['bpm']:g} BPM, {result['seconds']:g} s, player 16ths: {result['player_notes']}",
        f"generated onsets: {result['generated_onsets']}; offset from DAW tick |ms|: "
        f"p50 {off['p50']:.2f}  p99 {off['p99']:.2f}  max {off['max']:.2f}  "
        f"(signed mean {result['onset_offset_signed_mean_ms']:+.2f})  goal p99 <= 4",
        f"late {d['late_notes']}  dropped {d['dropped_notes']}  (goal 0 late); DAW clock sent "
        f"late p99 {result['daw_clock_send_late_ms']['p99']:.2f} ms",
        f"player note -> re-planned ms: p50 {replan.get('p50', 0):.2f}  "
        f"p99 {replan.get('p99', 0):.2f}  max {replan.get('max', 0):.2f}  "
        f"(+1 token {d.get('ms_per_token_p50', 0):.2f} ms; "
        f"next 16th is {result['sixteenth_at_bpm_ms']:.1f} ms away)",
        f"scheduler send lateness ms: p50 {d['send_lateness_ms']['p50']:.3f}  "
        f"p99 {d['send_lateness_ms']['p99']:.3f}  max {d['send_lateness_ms']['max']:.3f}",
        f"daemon CPU: {result['daemon_cpu_percent_of_one_core'] or 0:.0f}% of one core; "
        f"priority: {d.get('priority') or 'not raised'}",
        f"GIL probe (1 ms sleeper lateness, ms): idle p99 {gil['idle_lateness_ms']['p99']:.3f} "
        f"max {gil['idle_lateness_ms']['max']:.3f}; while decoding p99 "
        f"{gil['decoding_lateness_ms']['p99']:.3f} max {gil['decoding_lateness_ms']['max']:.3f} "
        f"({gil['decode_steps']} tokens)",
    ]  # fmt: skip
    return "\n".join(lines)


def run_live_bench_command(options: LiveBenchOptions, as_json: bool) -> None:
    """`livegen bench --live`: run, then print the report (or JSON)."""
    import click

    result = run_live_bench(
        options,
        echo=lambda message: click.echo(message, err=True),
    )
    click.echo(json.dumps(result, indent=1) if as_json else format_report(result))
