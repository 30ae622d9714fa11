"""Listen to the default model (issue 10): continuations of a pop song, a folk tune and a piano
piece, rendered to audio with the prompt first, and piano rolls beside the model it replaces.

    .venv/bin/python scripts/model_examples.py --model DIR [--before default] [--out docs/examples]

For each prompt in PROMPTS (files from ../shared/testdata/midi, see its SOURCES.md for licences)
the first PROMPT_BARS bars are continued for CONTINUE_BARS bars with `livegen generate`'s own code
(temperature 0.9, top-p 0.95, seed SEED). Writes <out>/<name>.mid (prompt + continuation of
--model), <out>/<name>.oga (that file through fluidsynth with a General MIDI soundfont) and
<out>/<name>.png (piano rolls of --before and --model, the prompt grey, the seam marked). Needs
matplotlib (the train extra) and the Debian packages fluidsynth + fluid-soundfont-gm; both only
for making these files, never for the tests or the runtime.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import click

from livegen.inference.generate import GenerateRequest, generate_midi
from livegen.tokenizer import Note, read_midi, write_midi

ROOT = Path(__file__).resolve().parents[1]
TESTDATA = Path(os.environ.get("LIVEGEN_TESTDATA", ROOT.parent / "shared" / "testdata")) / "midi"
PROMPTS = (  # (name, file): what a new user would try first
    ("pop-piano", "piano_pop_1390.mid"),
    ("folk-tune", "type0_english1.mid"),
    ("mozart-piano", "piano_mozart_k265_var1_quantized.mid"),
)
PROMPT_BARS = 8
CONTINUE_BARS = 8
SEED = 1
SOUNDFONTS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/default-GM.sf2")


def first_bars(path: Path, bars: int, out: Path) -> Path:
    """The first `bars` bars of a file (its first meter; notes cut at the end), written to out."""
    score = read_midi(path)
    beats_per_bar = score.meter()[0][1] if score.time_signatures else 4.0
    start = min((n.start_beat for n in score.notes), default=0.0)
    bar0 = int(start // beats_per_bar) * beats_per_bar  # skip leading silence, keep the meter
    end = bar0 + bars * beats_per_bar
    notes = [
        Note(
            n.pitch,
            n.start_beat - bar0,
            min(n.end_beat, end) - bar0,
            n.velocity,
            n.channel,
            n.program,
        )
        for n in score.notes
        if bar0 <= n.start_beat < end
    ]
    # the tempo in force at the first note: a file may open with a slow pickup tempo (POP909-style
    # transcriptions start at 13 BPM for one beat), which would stretch the whole render
    in_force = [t for beat, t in score.tempos if beat <= start] or [score.tempos[0][1]]
    tempo_bpm = 60_000_000 / in_force[-1]
    signature = score.time_signatures[:1] or ((0.0, 4, 4),)
    meter = tuple((0.0, num, den) for _, num, den in signature)
    return write_midi(notes, out, tempo_bpm=tempo_bpm, time_signatures=meter)


def render_audio(midi: Path, out: Path) -> None:
    soundfont = next((s for s in SOUNDFONTS if Path(s).exists()), None)
    if soundfont is None or shutil.which("fluidsynth") is None:
        raise click.ClickException(
            "fluidsynth and a GM soundfont are needed:"
            " apt-get install fluidsynth fluid-soundfont-gm"
        )
    subprocess.run(
        [
            "fluidsynth",
            "-ni",
            "-q",
            "-g",
            "0.7",
            "-r",
            "22050",
            "-T",
            "oga",
            "-F",
            str(out),
            soundfont,
            str(midi),
        ],
        check=True,
        capture_output=True,
    )


def plot_rolls(rows: list[tuple[str, list[Note], int]], seam_beat: float, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rows), 1, figsize=(12, 2.6 * len(rows)), sharex=True)
    for ax, (title, notes, n_prompt) in zip(axes, rows, strict=True):
        for i, note in enumerate(notes):
            color = "0.6" if i < n_prompt else f"C{note.channel % 10}"
            ax.broken_barh(
                [(note.start_beat, max(note.end_beat - note.start_beat, 0.05))],
                (note.pitch - 0.4, 0.8),
                facecolors=color,
            )
        ax.axvline(seam_beat, color="k", linewidth=0.8, linestyle="--")
        ax.set_title(title, fontsize=9, loc="left")
        ax.set_ylabel("pitch")
    axes[-1].set_xlabel("beats (prompt grey, continuation coloured by channel)")
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


@click.command()
@click.option("--model", required=True, help="The model to render (a folder or 'default').")
@click.option("--before", default="default", help="The model it replaces, for the piano rolls.")
@click.option("--out", type=click.Path(path_type=Path), default=ROOT / "docs" / "examples")
def main(model: str, before: str, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    request = GenerateRequest(bars=CONTINUE_BARS, seed=SEED)
    with tempfile.TemporaryDirectory() as tmp:
        for name, file in PROMPTS:
            prompt = first_bars(TESTDATA / file, PROMPT_BARS, Path(tmp) / f"{name}-prompt.mid")
            prompt_score = read_midi(prompt)
            seam = max((n.end_beat for n in prompt_score.notes), default=0.0)
            rows = []
            for label, which, path in (
                ("before", before, Path(tmp) / f"{name}-before.mid"),
                ("after", model, out / f"{name}.mid"),
            ):
                result = generate_midi(prompt, path, request, model=which)[0]
                rows.append((f"{label}: {which}", result.notes, result.prompt_notes))
            render_audio(out / f"{name}.mid", out / f"{name}.oga")
            plot_rolls(
                [(f"{name} ({file}), {title}", notes, n) for title, notes, n in rows],
                seam,
                out / f"{name}.png",
            )
            click.echo(f"{name}: {out / name}.mid .oga .png")


if __name__ == "__main__":
    main()
