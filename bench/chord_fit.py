"""Does generation follow the chords? Issue 14's done-when table, conditioning on vs off.

For each model: `--count` continuations from nothing (one batch, one seed) over a progression,
with the chords given (the model must have chord tokens) and without them (the baseline: the
same model playing freely, measured against the same progression), plus a run with a key given.
Per bar (music/chord_fit.py): the duration share of chord tones or diatonic tones of the key,
of chord tones alone, the strong-beat chord-tone share, and the in-key share. Drums are left out.

    .venv/bin/python bench/chord_fit.py --model runs/x/model --model default \\
        [--chords "C G Am F"] [--key "C major"] [--mode-key "D dorian"] [--bars 8] [--count 8]

The key of the progression for the "chord or key" measure is --key (C major by default).
Each run with chords is made at every --chord-weights value: 0 is the CHORD token alone (what the
model makes of it), 1 the default lean on the bar's chord tones (inference/conditioning.py).
A mode given to `--key` (D dorian) also locks its scale, as `livegen generate --key` does; the
row "KEY_Dm only (no lock)" is the KEY token alone, what the model itself makes of it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from livegen.inference.conditioning import Harmony
from livegen.inference.generate import GenerateRequest, generate_midi
from livegen.inference.model_dir import read_model_dir
from livegen.machine import cpu_info
from livegen.music.chord_fit import FitReport, chord_fit
from livegen.music.chords import parse_progression
from livegen.music.keys import MAJOR_MINOR, parse_key
from livegen.tokenizer import TokenizerConfig, Vocab
from livegen.tokenizer.vocab import DRUM_CHANNEL

MEASURES = (
    ("chord_or_key_share", 0.8, "chord or key"),
    ("chord_share", None, "chord"),
    ("strong_chord_share", 0.6, "strong"),
    ("key_share", None, "in key"),
)


def measure(path: Path, chords, key, bars: int) -> FitReport:
    from livegen.tokenizer.midi_file import read_midi

    notes = [n for n in read_midi(path).notes if n.channel != DRUM_CHANNEL]
    looped = [chords[i % len(chords)] for i in range(bars)]
    return chord_fit(
        [n.pitch for n in notes],
        [n.start_beat for n in notes],
        [n.end_beat for n in notes],
        looped,
        key,
    )


def run(model: str, harmony: Harmony, bars: int, count: int, seed: int) -> list[Path]:
    folder = Path(tempfile.mkdtemp(prefix="chord_fit_"))
    request = GenerateRequest(bars=bars, seed=seed, harmony=harmony)
    results = generate_midi(None, folder / "out.mid", request, model, count=count)
    return [r.path for r in results]


def pooled(reports: list[FitReport], name: str, threshold: float | None) -> str:
    bars = [b for r in reports for b in r.bars if getattr(b, name) is not None]
    if not bars:
        return "-"
    mean = sum(getattr(b, name) for b in bars) / len(bars)
    if threshold is None:
        return f"{mean:.0%}"
    passing = sum(getattr(b, name) >= threshold for b in bars) / len(bars)
    return f"{mean:.0%} ({passing:.0%} >= {threshold:.0%})"


@click.command()
@click.option("--model", "models", multiple=True, default=("default",))
@click.option("--chords", default="C G Am F", show_default=True)
@click.option("--key", "key_name", default="C major", show_default=True)
@click.option("--mode-key", default="D dorian", show_default=True)
@click.option("--bars", default=8, show_default=True)
@click.option("--count", default=8, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option(
    "--chord-weights",
    default="0,1",
    show_default=True,
    help="Comma-separated --chord-weight values to run with the chords given.",
)
def main(
    models: tuple[str, ...], chords: str, key_name: str, mode_key: str, bars: int, count: int,
    seed: int, chord_weights: str,
) -> None:  # fmt: skip
    weights = [float(w) for w in chord_weights.split(",")]
    progression = parse_progression(chords)
    key = parse_key(key_name)
    mode = parse_key(mode_key)
    cpu = cpu_info()
    click.echo(f"{cpu.model}, {cpu.cores} cores; {count} continuations x {bars} bars, seed {seed}")
    header = "| model | conditioning | " + " | ".join(m[2] for m in MEASURES) + " | notes/bar |"
    click.echo(header)
    click.echo("|" + "---|" * (header.count("|") - 1))
    for model in models:
        tokenizer = TokenizerConfig.from_dict(read_model_dir(model).tokenizer)
        runs = [("off", Harmony())]
        if tokenizer.structure_tokens:
            for weight in weights:
                with_key = Harmony(progression, 1, key, chord_weight=weight)
                alone = Harmony(progression, 1, None, chord_weight=weight)
                runs.append(
                    (f"--chords '{chords}' --key '{key_name}' --chord-weight {weight:g}", with_key)
                )
                runs.append((f"--chords '{chords}' --chord-weight {weight:g}", alone))
        for label, harmony in runs:
            paths = run(model, harmony, bars, count, seed)
            reports = [measure(p, progression, key, bars) for p in paths]
            notes = sum(b.notes for r in reports for b in r.bars) / (len(reports) * bars)
            cells = [pooled(reports, name, threshold) for name, threshold, _ in MEASURES]
            click.echo(f"| {model} | {label} | " + " | ".join(cells) + f" | {notes:.1f} |")
        mode_runs = [("off", Harmony())]
        if tokenizer.structure_tokens:
            mode_runs.append((f"--key '{mode_key}'", Harmony((), 1, mode)))
            if mode.quality not in MAJOR_MINOR:  # the KEY token alone: the model's own share
                token = Vocab(tokenizer).name(Vocab(tokenizer).key_of(mode))
                mode_runs.append((f"{token} only (no lock)", Harmony((), 1, mode, False)))
        for label, harmony in mode_runs:
            paths = run(model, harmony, bars, count, seed)
            reports = [measure(p, [parse_progression("N")[0]], mode, bars) for p in paths]
            click.echo(
                f"| {model} | {label} | in {mode_key}: {pooled(reports, 'key_share', None)} |"
            )


if __name__ == "__main__":
    main()
