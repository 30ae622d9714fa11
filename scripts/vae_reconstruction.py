"""Where a variation VAE's reconstruction goes wrong: a checkpoint's pitch accuracy on held-out
windows, decoded several ways (the figures of docs/variations.md, "Why the VAE reconstructs...").

    .venv/bin/python scripts/vae_reconstruction.py runs/vae/checkpoint.pt \
        --data ../shared/corpus/pop909/midi --windows 512

- `greedy_from_mu`: the reconstruction accuracy the training loop's val and `livegen eval` report
  (each predicted pitch fed back);
- `teacher_forced_from_mu`: the same latent, each step fed the true previous note: the gap to
  greedy is what compounding errors cost;
- `greedy_from_other_windows_mu` / `greedy_from_zero`: the latent of another window (a fixed
  permutation) or z = 0: near these means the decoder ignores z (posterior collapse);
- `kl_nats` and `active_dims` (KL > 0.1 nat): how much the latent holds;
- `accuracy_by_position`: the greedy accuracy of each note of the window.

Val windows are those the training loop validates on (train/variation_data.py's split), the
first `--windows` of them (the loop's val uses the first eval_batches x batch_size).
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import torch
from livegen.train.checkpoint import load_checkpoint
from livegen.train.models import model_family
from livegen.train.variation_data import load_window_data

from livegen.variation.notes import to_features

ACTIVE_NATS = 0.1


def accuracy(guess: torch.Tensor, pitch: torch.Tensor) -> float:
    return round(float((guess == pitch).float().mean()), 4)


@torch.no_grad()
def reconstruction_report(checkpoint: Path, data: str, windows: int) -> dict:
    state = load_checkpoint(checkpoint)
    if state.get("model_kind") != "vae":
        raise click.UsageError(f"{checkpoint} is a {state.get('model_kind')!r} run, not a vae")
    family = model_family("vae")
    model = family.build(family.config(**state["model_config"]))
    model.load_state_dict(state["model"])
    model.eval()
    rows = load_window_data(data, model.config.window).val[:windows]
    if not len(rows):
        raise click.UsageError(f"{data}: no held-out windows of {model.config.window} notes")
    pitch, cont = (torch.from_numpy(a) for a in to_features(rows))
    mu, logvar = model.encode(pitch, cont)
    greedy, _ = model.greedy(mu)
    forced, _ = model.decode(mu, pitch, cont, teacher_forcing=1.0)
    other = torch.randperm(len(mu), generator=torch.Generator().manual_seed(0))
    from_other, _ = model.greedy(mu[other])
    from_zero, _ = model.greedy(torch.zeros_like(mu))
    kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).mean(0)
    return {
        "checkpoint": str(checkpoint),
        "step": state["step"],
        "windows": len(rows),
        "greedy_from_mu": accuracy(greedy, pitch),
        "teacher_forced_from_mu": accuracy(forced.argmax(-1), pitch),
        "greedy_from_other_windows_mu": accuracy(from_other, pitch),
        "greedy_from_zero": accuracy(from_zero, pitch),
        "kl_nats": round(float(kl.sum()), 2),
        "active_dims": f"{int((kl > ACTIVE_NATS).sum())} of {len(kl)}",
        "accuracy_by_position": [round(float(a), 3) for a in (greedy == pitch).float().mean(0)],
    }


@click.command()
@click.argument("checkpoint", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--data", default="../shared/corpus/pop909/midi", show_default=True)
@click.option("--windows", default=512, show_default=True)
def main(checkpoint: Path, data: str, windows: int) -> None:
    torch.set_num_threads(1)
    click.echo(json.dumps(reconstruction_report(checkpoint, data, windows)))


if __name__ == "__main__":
    main()
