"""Rendered examples of the variation models (issue 17): MIDI files and piano-roll PNGs for docs/.

    .venv/bin/python scripts/variation_examples.py --vae DIR --ddpm DIR [--out docs/variations]

For each excerpt (EXCERPTS: public-domain pieces from ../shared/testdata/midi), the first bars as
played, then each setting of SETTINGS varied the way the live vary move does it (all the bars at
once: notes looped into whole windows, varied, cut back to the bars; livegen/live/vary_move.py),
seed 1. Writes <out>/<excerpt>-<setting>.mid and one <out>/<excerpt>.png with every version's
piano roll on the same axes. Needs matplotlib (the train extra); no apt package.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from livegen.live.clock import TICKS_PER_BEAT
from livegen.live.serve_config import VaryConfig
from livegen.live.vary_move import varied_notes
from livegen.tokenizer import DRUM_CHANNEL, Note, read_midi, write_midi
from livegen.variation.model import VariationModel

ROOT = Path(__file__).resolve().parents[1]
# (name, file, bars of 4 beats)
EXCERPTS = (
    ("mozart-k265", "piano_mozart_k265_var1_quantized.mid", 4),
    ("bach-chorale", "piano_bach_score.mid", 4),
)
# (name, model, VaryConfig): what a musician would try first
SETTINGS = (
    ("vae-s0", "vae", VaryConfig(method="vae", strength=0.0)),
    ("vae-s0.5", "vae", VaryConfig(method="vae", strength=0.5)),
    ("ddim10-s0.3", "ddpm", VaryConfig(method="ddim", steps=10, strength=0.3)),
    ("ddim10-s0.5", "ddpm", VaryConfig(method="ddim", steps=10, strength=0.5)),
)
SEED = 1


def testdata() -> Path:
    root = os.environ.get("LIVEGEN_TESTDATA")
    return (Path(root) if root else ROOT.parent / "shared" / "testdata") / "midi"


def excerpt(path: Path, bars: int) -> tuple[list[Note], float]:
    """The pitched notes starting in the first `bars` bars (cut at their end), and the tempo."""
    score = read_midi(path)
    end = bars * 4.0
    notes = [
        Note(n.pitch, n.start_beat, min(n.end_beat, end), n.velocity, n.channel, n.program)
        for n in score.notes
        if n.channel != DRUM_CHANNEL and n.start_beat < end
    ]
    return sorted(notes, key=lambda n: (n.start_beat, n.pitch)), 60_000_000 / score.tempos[0][1]


def plot(versions: list[tuple[str, list[Note]]], beats: float, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pitches = [n.pitch for _, notes in versions for n in notes]
    low, high = min(pitches) - 2, max(pitches) + 2
    fig, axes = plt.subplots(len(versions), 1, figsize=(10, 1.7 * len(versions)), sharex=True)
    for ax, (label, notes) in zip(axes, versions, strict=True):
        color = "C0" if label == "as played" else "C1"
        for n in notes:
            ax.barh(n.pitch, n.end_beat - n.start_beat, left=n.start_beat, height=0.8,
                    color=color, alpha=0.4 + 0.6 * n.velocity / 127)  # fmt: skip
        ax.set_ylim(low, high)
        ax.set_xlim(0, beats)
        for bar_line in range(0, int(beats) + 1, 4):
            ax.axvline(bar_line, color="gray", lw=0.6)
        ax.set_ylabel("pitch")
        ax.set_title(label, fontsize=9, loc="left")
    axes[-1].set_xlabel("beat")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


@click.command()
@click.option("--vae", type=click.Path(path_type=Path, file_okay=False), required=True)
@click.option("--ddpm", type=click.Path(path_type=Path, file_okay=False), required=True)
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default="docs/variations")
def main(vae: Path, ddpm: Path, out: Path) -> None:
    models = {"vae": VariationModel.load(vae), "ddpm": VariationModel.load(ddpm)}
    out.mkdir(parents=True, exist_ok=True)
    for name, file, bars in EXCERPTS:
        notes, bpm = excerpt(testdata() / file, bars)
        span = (0, bars * 4 * TICKS_PER_BEAT)
        versions = [("as played", notes)]
        for setting, kind, config in SETTINGS:
            varied = varied_notes(models[kind], notes, span, config, seed=SEED)
            versions.append((setting, varied))
        for label, version in versions:
            suffix = "original" if label == "as played" else label
            write_midi(version, out / f"{name}-{suffix}.mid", tempo_bpm=bpm)
        plot(versions, bars * 4.0, out / f"{name}.png", f"{file}: the first {bars} bars, varied")
        click.echo(f"{name}: {len(notes)} notes; " + ", ".join(
            f"{label} {len(v)}" for label, v in versions[1:]))  # fmt: skip


if __name__ == "__main__":
    main()
