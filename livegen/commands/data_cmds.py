"""`livegen data ...`: preparing MIDI files as token shards for training (torch-free)."""

from __future__ import annotations

import click


@click.group()
def data() -> None:
    """Training data: turn MIDI files into token shards."""


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
    "`python -m livegen.data.music21_source` converts the rest); run again later to add them.",
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
    quiet: bool,
) -> None:
    """Tokenize MIDI files into train/val/test token shards plus a manifest.

    Run it again on a finished folder to add files that are new in the sources.
    """
    from livegen.data.prepare import PrepareOptions
    from livegen.data.prepare import prepare as run_prepare

    options = PrepareOptions(
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        workers=workers,
        progress=not quiet,
    )
    report = run_prepare(
        sources,
        out,
        options=options,
        music21_cache=music21_cache,
        convert_music21=not music21_cached_only,
    )
    click.echo(report.summary())
