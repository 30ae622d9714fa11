"""`livegen roundtrip` and `livegen tokens`: the tokenizer on a MIDI file, from the shell."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click

from livegen.tokenizer import (
    TokenizerConfig,
    TokenKind,
    Vocab,
    encode_notes,
    read_midi,
    round_trip_file,
    write_midi,
)

_LINE_WIDTH = 96


@click.command()
@click.argument("midi_in", metavar="IN.mid", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    "midi_out",
    metavar="OUT.mid",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the decoded notes to this MIDI file (tempo and meter of IN kept).",
)
def roundtrip(midi_in: Path, midi_out: Path | None) -> None:
    """Encode IN.mid to tokens and decode it back; report what survived.

    Counts against the note-on messages in IN.mid itself (notes in), so a note lost on reading
    shows as dropped: notes out, kept, merged (a key struck twice at one tick, or twice within
    one grid step: one voice per key holds one), dropped, and the largest onset/offset error in
    grid steps (24 per beat).
    """
    result = round_trip_file(midi_in, TokenizerConfig())
    report = result.report
    click.echo(f"file:        {midi_in}")
    click.echo(f"tokens:      {len(result.tokens)}")
    click.echo(f"notes in:    {result.note_ons} (note-on messages in the file)")
    click.echo(f"notes out:   {report.notes_out}")
    click.echo(f"kept:        {result.kept} ({100 * result.kept_fraction:.2f}% of the notes in)")
    click.echo(
        f"merged:      {result.merged} ({result.same_tick} struck again at the same tick, "
        f"{report.merged} within one grid step)"
    )
    click.echo(f"dropped:     {result.dropped}")
    click.echo(f"largest onset error:  {report.max_onset_error_steps:.2f} grid steps")
    click.echo(f"largest offset error: {report.max_offset_error_steps:.2f} grid steps")
    if midi_out is not None:
        tempo_bpm = 60e6 / result.score.tempos[0][1]
        meters = result.score.time_signatures or ((0.0, 4, 4),)
        write_midi(
            result.decoded,
            midi_out,
            tempo_bpm=tempo_bpm,
            time_signatures=meters,
            inputs=(midi_in,),
        )
        click.echo(f"wrote:       {midi_out}")


@click.command()
@click.argument("midi_in", metavar="IN.mid", type=click.Path(path_type=Path))
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=200,
    show_default=True,
    help="Show at most this many tokens (the counts cover all of them).",
)
def tokens(midi_in: Path, limit: int) -> None:
    """Show the token stream of IN.mid in readable form, plus counts by kind."""
    score = read_midi(midi_in)
    config = TokenizerConfig()
    vocab = Vocab(config)
    ids = encode_notes(score.notes, config, time_signatures=score.meter(), vocab=vocab)
    line = ""
    for token in ids[:limit]:
        name = vocab.name(token)
        if line and len(line) + 1 + len(name) > _LINE_WIDTH:
            click.echo(line)
            line = ""
        line = f"{line} {name}" if line else name
    if line:
        click.echo(line)
    if len(ids) > limit:
        click.echo(f"... ({len(ids) - limit} more)")
    counts = Counter(vocab.kind_list[token] for token in ids)
    click.echo(f"\n{len(ids)} tokens, {len(score.notes)} notes, vocabulary {vocab.size}")
    for kind in TokenKind:
        if counts[int(kind)]:
            click.echo(f"  {kind.name:<11} {counts[int(kind)]}")
