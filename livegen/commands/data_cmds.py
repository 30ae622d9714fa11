"""`livegen data ...`: preparing MIDI files as token shards for training (torch-free)."""

from __future__ import annotations

import click


@click.group()
def data() -> None:
    """Training data: turn MIDI files into token shards; measure the chord estimator."""


@data.command()
@click.option(
    "--source",
    "sources",
    required=True,
    multiple=True,
    help="A folder of .mid/.midi files (searched recursively), NAME=FOLDER, or 'music21' for "
    "its corpus; repeat to mix. A folder is one collection (named after it, or NAME); music21's "
    "works keep their collection names (bach, essenFolksong, ...).",
)
@click.option(
    "--out", "out", required=True, type=click.Path(file_okay=False), help="Output folder."
)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option("--val-fraction", default=0.05, show_default=True, type=click.FloatRange(0, 0.5))
@click.option("--test-fraction", default=0.05, show_default=True, type=click.FloatRange(0, 0.5))
@click.option(
    "--music21-cache",
    default="data/music21_midi",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where --source music21 keeps its converted MIDI files (reused on the next run).",
)
@click.option(
    "--music21-cached-only",
    is_flag=True,
    help="Take music21's works already in --music21-cache and convert nothing (e.g. while "
    "`livegen data convert-music21` converts the rest); run again later to add them.",
)
@click.option(
    "--structure-tokens/--no-structure-tokens",
    default=None,
    help="KEY and CHORD tokens in the data (POP909's labels, else estimated) and CHORD tokens in "
    "the vocabulary. Default: on for a new folder; a finished folder keeps its own setting.",
)
@click.option(
    "--tokenizer",
    "language",
    type=click.Choice(["events", "remi", "remi-bpe", "triplet"]),
    default="events",
    show_default=True,
    help="Token language (docs/tokenizers.md); the manifest records it, and training, export "
    "and the model folder follow it.",
)
@click.option(
    "--bpe-vocab",
    type=click.IntRange(min=700),
    default=1000,
    show_default=True,
    help="remi-bpe: vocabulary size of the BPE learned on the train split.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def prepare(
    sources: tuple[str, ...],
    out: str,
    workers: int,
    val_fraction: float,
    test_fraction: float,
    music21_cache: str,
    music21_cached_only: bool,
    structure_tokens: bool | None,
    language: str,
    bpe_vocab: int,
    quiet: bool,
) -> None:
    """Tokenize MIDI files into train/val/test token shards plus a manifest.

    Run it again on a finished folder to add files that are new in the sources.
    """
    from livegen.data.prepare import PrepareOptions, folder_structure_tokens
    from livegen.data.prepare import prepare as run_prepare
    from livegen.tokenizer import TokenizerConfig

    if structure_tokens is None:
        structure_tokens = folder_structure_tokens(out)

    options = PrepareOptions(
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        workers=workers,
        progress=not quiet,
    )
    report = run_prepare(
        sources,
        out,
        tokenizer=TokenizerConfig(structure_tokens=structure_tokens),
        options=options,
        music21_cache=music21_cache,
        convert_music21=not music21_cached_only,
        language=language,
        bpe_vocab_size=bpe_vocab,
    )
    click.echo(report.summary())


@data.command("convert-music21")
@click.argument("cache", default="data/music21_midi", type=click.Path(file_okay=False))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--collections",
    help="Comma-separated music21 corpus collections, in order (default: bach, oneills1850, "
    "essenFolksong, ... as `data prepare --source music21` takes them).",
)
@click.option("--limit", type=click.IntRange(1), help="Convert at most this many corpus files.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def convert_music21(
    cache: str, workers: int, collections: str | None, limit: int | None, quiet: bool
) -> None:
    """Convert music21's corpus into CACHE as MIDI files, one per work (slow, resumable).

    Finished corpus files are skipped, so an interrupted run continues where it stopped.
    `data prepare --source music21 --music21-cache CACHE` then reads the cache.
    """
    from livegen.data.music21_source import DEFAULT_COLLECTIONS, convert_corpus

    names = tuple(collections.split(",")) if collections else DEFAULT_COLLECTIONS
    report = convert_corpus(cache, names, workers=workers, limit=limit, progress=not quiet)
    click.echo(f"{len(report.outputs)} MIDI files, {len(report.failures)} failures")
    for where, reason in report.failures:
        click.echo(f"  {where}: {reason}", err=True)


@data.command("render-band")
@click.argument("pop909", type=click.Path(file_okay=False))
@click.argument("out", type=click.Path(file_okay=False))
@click.option(
    "--grooves",
    help="Comma-separated mma grooves, one per song by song number (default: 8Beat, SoftRock, "
    "PopBallad, Ballad, BasicRock, R&B, DSoul, BVFunk, FolkRock, 60sRock).",
)
@click.option("--limit", type=click.IntRange(1), help="Only the first this many songs.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option("--quiet", is_flag=True, help="No progress bar.")
def render_band(
    pop909: str, out: str, grooves: str | None, limit: int | None, workers: int, quiet: bool
) -> None:
    """Render a band (drums, bass, chords) for POP909's songs with mma into OUT (resumable).

    Each song's chord labels become an mma chart; the rendered parts join the song's melody in
    OUT/midi/NNN.mid, with its labels in OUT/chords and OUT/keys (`data prepare --source
    band=OUT/midi`). mma's output is GPL-2-derived synthetic accompaniment: training data only.
    """
    from livegen.data.band_source import DEFAULT_GROOVES
    from livegen.data.band_source import render_band as run_render

    names = tuple(g.strip() for g in grooves.split(",") if g.strip()) if grooves else None
    report = run_render(
        pop909, out, names or DEFAULT_GROOVES, limit=limit, workers=workers, progress=not quiet
    )
    click.echo(
        f"{len(report.written)} songs rendered, {len(report.cached)} already there, "
        f"{len(report.skipped)} skipped"
    )
    for song, reason in report.skipped:
        click.echo(f"  {song}: {reason}", err=True)


@data.command("chord-accuracy")
@click.option(
    "--corpus",
    default="../shared/corpus/pop909",
    show_default=True,
    type=click.Path(file_okay=False),
    help="POP909: midi/NNN.mid with chords/NNN.txt and keys/NNN.txt labels.",
)
@click.option("--limit", type=click.IntRange(1), help="Only the first this many songs.")
@click.option("--pedal", is_flag=True, help="Apply the sustain pedal to note lengths.")
@click.option(
    "--key-profile",
    default="krumhansl",
    show_default=True,
    type=click.Choice(["krumhansl", "temperley"]),
)
def chord_accuracy(corpus: str, limit: int | None, pedal: bool, key_profile: str) -> None:
    """Measure the chord and key estimators against POP909's labels (docs/structure.md)."""
    import sys
    from pathlib import Path

    from livegen.data.structure_accuracy import measure, pop909_songs

    songs = pop909_songs(Path(corpus))[:limit]
    with click.progressbar(songs, label="songs", file=sys.stderr) as bar:
        report = measure(Path(corpus), bar, pedal=pedal, key_profile=key_profile)
    click.echo(report.summary())
