"""CLI shells for the model: `livegen export`, `livegen generate`, `livegen bench`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from livegen.errors import LivegenError
from livegen.inference.grid import GRIDS


@click.command()
@click.option(
    "--onnx", "checkpoint", required=True, type=click.Path(path_type=Path),
    help="Training checkpoint (.pt) to export.",
)  # fmt: skip
@click.option("-o", "--out", required=True, type=click.Path(path_type=Path), help="Model folder.")
@click.option(
    "--precision", type=click.Choice(["fp32", "fp16", "int8"]), default="fp32", show_default=True,
    help="int8 = dynamic int8 weights (smaller, faster on CPU).",
)  # fmt: skip
@click.option(
    "--attention", type=click.Choice(["auto", "gqa", "portable"]), default="auto",
    show_default=True,
    help="gqa: onnxruntime's GroupQueryAttention (fastest; rope/learned); portable: plain ONNX "
    "ops (relative attention, other runtimes); auto: gqa where possible.",
)  # fmt: skip
@click.option("--verify", is_flag=True, help="Compare with PyTorch over a 300-token run.")
@click.option(
    "--cuda-graph", is_flag=True,
    help="Also write model.cuda.onnx (fp16), which the engine runs on CUDA instead of "
    "model.onnx (gqa attention only).",
)  # fmt: skip
def export(
    checkpoint: Path, out: Path, precision: str, attention: str, verify: bool, cuda_graph: bool
) -> None:
    """Export a checkpoint to an ONNX model folder (model.onnx + model.toml) with a KV cache.

    A variation checkpoint (kind vae or ddpm) becomes its own folder: encoder + decoder, or the
    denoiser, always checked against PyTorch. A hierarchical checkpoint becomes event.onnx +
    token.onnx (--attention does not apply).
    """
    from livegen.export import hierarchical_onnx, variation_onnx
    from livegen.export.transformer_onnx import export_checkpoint  # needs torch and onnx (cli.py)

    if cuda_graph and (
        variation_onnx.is_variation_checkpoint(checkpoint)
        or hierarchical_onnx.is_hierarchical_checkpoint(checkpoint)
    ):
        raise click.BadParameter(
            "a CUDA graph is written for flat transformer models only", param_hint="--cuda-graph"
        )
    if variation_onnx.is_variation_checkpoint(checkpoint):
        if precision != "fp32":
            raise click.BadParameter(
                "vae/ddpm models export in fp32 only", param_hint="--precision"
            )
        folder, parity = variation_onnx.export_variation(checkpoint, out)
        click.echo(
            f"wrote {folder} ({variation_onnx.checkpoint_kind(checkpoint)}, fp32); parity on "
            f"{parity['windows']} random windows: max |diff| {parity['max_abs_diff']:.2e} "
            f"(tolerance {parity['tolerance']}), pitch agreement {parity['pitch_agreement']:.1%}"
        )
        return
    say = lambda m: click.echo(f"export: {m}", err=True)  # noqa: E731
    if hierarchical_onnx.is_hierarchical_checkpoint(checkpoint):
        folder, parity = hierarchical_onnx.export_hierarchical(
            checkpoint, out, precision, verify, progress=say
        )
    else:
        folder, parity = export_checkpoint(
            checkpoint, out, precision, verify, progress=say, attention=attention,
            cuda_graph=cuda_graph,
        )  # fmt: skip
    click.echo(f"wrote {folder} ({precision})")
    if parity:
        click.echo(
            f"parity over {parity['steps']} tokens with {parity['rollbacks']} rollbacks: "
            f"max |logit diff| {parity['max_abs_diff']:.2e} (tolerance {parity['tolerance']}), "
            f"greedy agreement {parity['greedy_agreement']:.1%}"
        )


@click.command()
@click.argument("prompt", required=False, type=click.Path(path_type=Path))
@click.option("-o", "--out", required=True, type=click.Path(path_type=Path), help="MIDI file.")
@click.option("--bars", type=click.IntRange(1, 1000), help="Bars to generate (default 8).")
@click.option("--tokens", type=click.IntRange(1, 100_000), help="Tokens to generate instead.")
@click.option("--temperature", type=click.FloatRange(0.0, 3.0), default=0.9, show_default=True)
@click.option("--top-k", type=click.IntRange(0, 1000), default=0, show_default=True)
@click.option("--top-p", type=click.FloatRange(0.0, 1.0, min_open=True), default=0.95,
              show_default=True)  # fmt: skip
@click.option("--seed", type=int, default=None, help="Same seed, same music.")
@click.option("--model", default="default", show_default=True, help="'default' or a folder.")
@click.option("--count", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Continuations to make in one batch: OUT-1.mid ... OUT-N.mid.")  # fmt: skip
@click.option(
    "--channels", metavar="LIST",
    help="MIDI channels (1-16) the continuation may play on, e.g. '1,2,10', or 'all'. "
    "Default: the prompt's own channels, so its parts are continued and no new part appears "
    "(any channel when there is no prompt).",
)  # fmt: skip
@click.option(
    "--chords",
    metavar="PROGRESSION",
    help="Chords to play over, looped from the first bar line, e.g. 'C G Am F' or "
    "'| Dm7 | G7 | Cmaj7 |' (a model trained with chord tokens).",
)
@click.option("--bars-per-chord", type=click.IntRange(1, 64), default=1, show_default=True)
@click.option(
    "--key",
    "key_name",
    metavar="KEY",
    help="The key to condition on, e.g. 'C major', 'F# minor', 'D dorian' (a model "
    "trained with key tokens; --constraints key=... locks notes with any model).",
)
@click.option(
    "--chord-weight",
    type=click.FloatRange(0, 10),
    default=1.0,
    show_default=True,
    help="How hard to lean on the chord's tones (strong beats most); 0: the chord token alone.",
)
@click.option(
    "--constraints",
    "constraint_text",
    metavar="PAIRS",
    help="Sampler limits: 'pitch=48-84, polyphony=4, density=2, channels=1-2, "
    "key=D dorian' (density: onsets per beat; key: only the key's notes).",
)
@click.option(
    "--max-hold-beats",
    type=click.FloatRange(0, 32),
    help="End a generated note held this many beats (default: 8, two bars of 4/4; 0 = only "
    "the model's own releases).",
)
@click.option(
    "--grid",
    type=click.Choice(list(GRIDS)),
    help="Quantize the generated notes' starts to this grid, lengths kept (1/16: sixteenths; "
    "1/8t: eighth-note triplets; 1/16+1/8t: the nearer of the two). Default: the model's "
    "own timing.",
)
def generate(
    prompt: Path | None,
    out: Path,
    bars: int | None,
    tokens: int | None,
    temperature: float,
    top_k: int,
    top_p: float,
    seed: int | None,
    model: str,
    count: int,
    channels: str | None,
    chords: str | None,
    bars_per_chord: int,
    key_name: str | None,
    chord_weight: float,
    constraint_text: str | None,
    max_hold_beats: float | None,
    grid: str | None,
) -> None:
    """Continue PROMPT.mid (or start from nothing) and write prompt + continuation to OUT.

    The continuation plays the prompt's own parts (its channels); --channels allows others.
    --chords and --key are written as tokens at the continuation's bar lines (docs/structure.md).
    """
    from livegen.inference.conditioning import Harmony, parse_constraints
    from livegen.inference.generate import GenerateRequest, generate_midi
    from livegen.inference.hold import DEFAULT_MAX_HOLD_BEATS
    from livegen.inference.sampler import Constraints, SamplingParams

    if bars is not None and tokens is not None:
        raise click.UsageError("give --bars or --tokens, not both")
    request = GenerateRequest(
        tokens=tokens,
        bars=bars,
        params=SamplingParams(temperature=temperature, top_k=top_k, top_p=top_p),
        seed=seed,
        channels=None if channels is None else parse_channels(channels),
        constraints=parse_constraints(constraint_text) if constraint_text else Constraints(),
        harmony=Harmony.parse(chords, bars_per_chord, key_name, chord_weight),
        max_hold_beats=DEFAULT_MAX_HOLD_BEATS if max_hold_beats is None else max_hold_beats,
        grid=grid or "",
    )
    run = generate_midi
    if not speaks_events(model):  # remi, remi-bpe, triplet: livegen/inference/generate_language
        from livegen.inference.generate_language import generate_in_language as run
    for result in run(prompt, out, request, model, count=count):
        made = len(result.notes) - result.prompt_notes
        click.echo(
            f"wrote {result.path}: {result.prompt_notes} prompt notes + {made} generated notes "
            f"({len(result.tokens)} tokens, stopped by {result.stopped_by})"
        )


def speaks_events(model: str) -> bool:
    from livegen.inference.model_dir import read_model_dir
    from livegen.languages import language_name

    return language_name(read_model_dir(model).tokenizer) == "events"


def parse_channels(text: str) -> tuple[int, ...]:
    """'1,2,10' (MIDI's 1-based channel numbers) -> (0, 1, 9); 'all' -> () (any channel)."""
    if text.strip().lower() == "all":
        return ()
    try:
        numbers = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        numbers = []
    if not numbers or any(not 1 <= n <= 16 for n in numbers):
        raise click.BadParameter(
            f"{text!r}: give channels 1-16 separated by commas (e.g. '1,10'), or 'all'",
            param_hint="--channels",
        )
    return tuple(sorted({n - 1 for n in numbers}))


@click.command()
@click.option("--model", default="default", show_default=True, help="'default' or a folder.")
@click.option(
    "--device", type=click.Choice(["cpu", "cuda", "auto"]), default="cpu", show_default=True
)
@click.option("--threads", type=click.IntRange(1, 64), default=1, show_default=True)
@click.option("--repeats", type=click.IntRange(20, 100_000), default=300, show_default=True,
              help="Decode steps timed per context.")  # fmt: skip
@click.option("--no-baselines", is_flag=True, help="Skip the PyTorch baselines.")
@click.option(
    "--random-precision", type=click.Choice(["fp32", "fp16", "int8"]), default="fp32",
    help="Precision of the random default-size model used while no trained default ships.",
)  # fmt: skip
@click.option(
    "--checkpoint", type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="Training checkpoint of the model, so the PyTorch baselines use the same weights.",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--live", is_flag=True, help="Time the live daemon through JACK instead.")
@click.option("--seconds", type=click.FloatRange(2, 600), default=15, show_default=True,
              help="--live: how long the DAW plays.")  # fmt: skip
@click.option("--period", type=click.IntRange(16, 4096), default=64, show_default=True,
              help="--live: JACK frames per period (48 kHz).")  # fmt: skip
@click.option("--bpm", type=click.FloatRange(20, 400), default=180, show_default=True,
              help="--live: the DAW's tempo (the player plays 16ths).")  # fmt: skip
@click.option("--latency-ms", type=click.FloatRange(0, 50), default=0, show_default=True,
              help="--live: timing.latency_ms (send early by the transport).")  # fmt: skip
def bench(
    model: str,
    device: str,
    threads: int,
    repeats: int,
    no_baselines: bool,
    random_precision: str,
    checkpoint: Path | None,
    as_json: bool,
    live: bool = False,
    seconds: float = 15,
    period: int = 64,
    bpm: float = 180,
    latency_ms: float = 0,
) -> None:
    """Decode latency at contexts 64-1000, prefill, tokens/s, RSS, cold start, vs PyTorch.

    With --live: onset offsets vs a DAW's clock ticks, re-plan latency, late/dropped notes,
    CPU and GIL hold of `livegen serve`, through a private JACK server.
    """
    if live:
        from livegen.bench.live_bench import LiveBenchOptions, run_live_bench_command

        options = LiveBenchOptions(model, seconds, bpm, period, latency_ms=latency_ms)
        run_live_bench_command(options, as_json)
        return
    from livegen.bench.engine_bench import format_report, run_bench, torch_available

    torch_side = None
    if torch_available() and not no_baselines:
        from livegen.export import bench_baselines as torch_side  # heavy: only when measured

    def say(message: str) -> None:
        click.echo(f"bench: {message}", err=True)

    try:
        result = run_bench(
            model,
            device,
            threads,
            repeats,
            not no_baselines,
            say,
            random_precision,
            checkpoint,
            torch_side=torch_side,
        )
    except RuntimeError as err:
        raise LivegenError(str(err)) from err
    click.echo(json.dumps(result, indent=2) if as_json else format_report(result))
