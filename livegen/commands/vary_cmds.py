"""`livegen vary`: a thin shell over livegen.variation.vary (torch-free)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("in_path", metavar="IN.mid", type=click.Path(path_type=Path))
@click.option("-o", "--out", required=True, type=click.Path(path_type=Path), help="MIDI file.")
@click.option("--model", "model_dir", required=True, type=click.Path(path_type=Path),
              help="An exported vae or ddpm folder (livegen export).")  # fmt: skip
@click.option("--method", type=click.Choice(["vae", "ddim", "ddpm"]), default=None,
              help="vae for a VAE; ddim (default) or ddpm for a DDPM.")  # fmt: skip
@click.option("--strength", type=click.FloatRange(0.0, 1.0), default=0.5, show_default=True,
              help="How far to go: latent noise (vae), noise level (ddim/ddpm).")  # fmt: skip
@click.option("--steps", type=click.IntRange(1, 10_000), default=10, show_default=True,
              help="Denoising steps (ddim/ddpm).")  # fmt: skip
@click.option("--seed", type=int, default=None, help="Same seed, same variation.")
def vary(
    in_path: Path,
    out: Path,
    model_dir: Path,
    method: str | None,
    strength: float,
    steps: int,
    seed: int | None,
) -> None:
    """Write a variation of each window of notes of IN.mid to OUT."""
    from livegen.variation.model import VariationModel
    from livegen.variation.vary import vary_file

    model = VariationModel.load(model_dir)
    result = vary_file(in_path, out, model, method, strength, steps, seed)
    click.echo(
        f"wrote {result.path}: {result.windows} windows of {model.window} notes varied "
        f"({result.method}, {result.seconds * 1000:.1f} ms), {result.notes} notes"
    )
