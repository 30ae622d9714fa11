"""`livegen train` and `livegen eval`: thin shells over livegen.train (torch imported inside)."""

from __future__ import annotations

import json

import click

from livegen.config import parse_set
from livegen.errors import ConfigError


def _parse_sets(values: tuple[str, ...]) -> dict[str, object]:
    """`--set optim.max_steps=10` pairs; values are TOML (strings may be bare words)."""
    overrides: dict[str, object] = {}
    for item in values:
        key, value = parse_set(item, "SECTION.KEY=VALUE, e.g. optim.max_steps=10")
        if "." not in key:
            raise ConfigError(
                f"--set {item!r}: expected SECTION.KEY=VALUE, e.g. optim.max_steps=10"
            )
        overrides[key] = value
    return overrides


@click.command()
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="A training config, e.g. configs/train/default.toml.",
)
@click.option("--resume", is_flag=True, help="Continue the run in the config's out_dir.")
@click.option(
    "--allow-data-change",
    is_flag=True,
    help="With --resume: continue even though --data is not the data the run trained on.",
)
@click.option(
    "--init-from",
    "init_from",
    default=None,
    help="Start from trained weights: 'default' (the shipped model) or a checkpoint.",
)
@click.option("--data", "data_dir", default=None, help="Override [data] path.")
@click.option("--out", "out_dir", default=None, help="Override [run] out_dir.")
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="SECTION.KEY=VALUE",
    help="Override any config value (repeatable).",
)
def train(
    config_path: str,
    resume: bool,
    allow_data_change: bool,
    init_from: str | None,
    data_dir: str | None,
    out_dir: str | None,
    sets: tuple[str, ...],
) -> None:
    """Train (or fine-tune, or resume) a model from prepared token shards."""
    from livegen.train import variation_loop
    from livegen.train.loop import train as run_train
    from livegen.train.train_config import load_train_config

    overrides = _parse_sets(sets)
    if data_dir:
        overrides["data.path"] = data_dir
    if out_dir:
        overrides["run.out_dir"] = out_dir
    config = load_train_config(config_path, overrides)
    if variation_loop.is_variation(config):  # vae / ddpm: note windows, their own loop
        run_train = variation_loop.train
    result = run_train(
        config, resume=resume, init_from=init_from, allow_data_change=allow_data_change
    )
    if result.interrupted:
        click.echo(
            f"stopped at step {result.step}; checkpoint saved in {result.out_dir} "
            f"(continue with --resume)",
            err=True,
        )
    val = (
        ""
        if result.val_loss is None
        else (f"; val loss {result.val_loss:.4f}, accuracy {result.val_accuracy:.3f}")
    )
    click.echo(f"step {result.step} in {result.seconds:.0f} s{val}; run in {result.out_dir}")


@click.command(name="eval")
@click.option(
    "--model",
    "model_path",
    required=True,
    help="A checkpoint file or run folder (or an exported model folder / 'default').",
)
@click.option(
    "--data",
    "data_path",
    required=True,
    help="A prepared data folder, or a plain folder of MIDI files.",
)
@click.option(
    "--split",
    default="test",
    show_default=True,
    help="Split of a prepared folder to score (train, val, test).",
)
@click.option(
    "--ngram-data",
    default=None,
    help="Fits the 4-gram: a prepared folder's train split, or every file of a MIDI folder "
    "(default: --data when prepared, else the model's training data).",
)
@click.option(
    "--collection-by",
    type=click.Choice(["folder", "subfolder", "prefix"]),
    default="folder",
    show_default=True,
    help="Collections of a plain MIDI folder: the folder, each first-level subfolder, or each "
    "file-name prefix before the first '_' (a prepared folder's come from its manifest).",
)
@click.option(
    "--accompaniment",
    is_flag=True,
    help="Also score each multi-part file's biggest part with and without the other parts.",
)
@click.option(
    "--prompts",
    default=16,
    show_default=True,
    type=click.IntRange(0, 10_000),
    help="Held-out prompts to continue (0 = skip continuations).",
)
@click.option(
    "--max-hold-beats",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 32),
    help="Continuations: end a note held this many beats, as `generate` and `serve` do "
    "(0 = only the model's own releases).",
)
@click.option(
    "--temperature",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.05, 3.0),
    help="Continuations: sampling temperature (1 = the model's own distribution; `generate` "
    "plays at 0.9).",
)
@click.option("--max-files", default=0, type=click.IntRange(0), help="Score at most N files.")
@click.option("--seed", default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--features",
    default=None,
    help="vae/ddpm folders: the VAE folder whose latent means are FAD's features "
    "(a vae uses its own).",
)
def evaluate(
    model_path: str,
    data_path: str,
    split: str,
    ngram_data: str | None,
    collection_by: str,
    accompaniment: bool,
    prompts: int,
    max_hold_beats: float,
    temperature: float,
    max_files: int,
    seed: int,
    as_json: bool,
    features: str | None = None,
) -> None:
    """Score a model: NLL and accuracy beside a 4-gram baseline, plus continuation statistics.

    An exported vae/ddpm folder gets its own scores instead (livegen/variation/evaluate.py):
    pitch accuracy, piano-roll IoU, FAD, samples/s on the MIDI files of --data.
    """
    from livegen.variation.model import is_variation_folder

    if is_variation_folder(model_path):
        from livegen.variation.evaluate import evaluate_variation
        from livegen.variation.evaluate import format_report as format_variation

        found = evaluate_variation(
            model_path, data_path, seed=seed, features=features, max_files=max_files
        )
        click.echo(json.dumps(found, indent=1) if as_json else format_variation(found))
        return
    from livegen.train.language_eval import speaks_other_language

    if speaks_other_language(model_path):  # remi, remi-bpe, triplet (docs/tokenizers.md)
        from livegen.train.language_eval import evaluate_in_language, format_language_report

        found = evaluate_in_language(
            model_path, data_path, split=split, max_files=max_files, progress=not as_json
        )
        click.echo(json.dumps(found, indent=1) if as_json else format_language_report(found))
        return
    from livegen.train.evaluate import EvalOptions, evaluate_model, format_report

    options = EvalOptions(
        split=split,
        ngram_data=ngram_data,
        prompts=prompts,
        max_files=max_files,
        seed=seed,
        progress=not as_json,
        collection_by=collection_by,
        accompaniment=accompaniment,
        max_hold_beats=max_hold_beats,
        temperature=temperature,
    )
    report = evaluate_model(model_path, data_path, options)
    click.echo(json.dumps(report, indent=1) if as_json else format_report(report))
