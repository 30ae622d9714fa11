"""`livegen roundtrip` and `livegen tokens`: the tokenizer on a MIDI file, from the shell."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click

from livegen.errors import ConfigError
from livegen.languages import LANGUAGES, Language, new_language
from livegen.languages.recorded import recorded_language
from livegen.languages.roundtrip import round_trip_file_in
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
_BPE_VOCAB = 1000


def _language_options(command):
    """--tokenizer, --tokenizer-from and --bpe-vocab, shared by roundtrip and tokens."""
    command = click.option(
        "--bpe-vocab", type=click.IntRange(min=700), default=_BPE_VOCAB, show_default=True,
        help="remi-bpe without --tokenizer-from: learn BPE on IN.mid itself, this many tokens.",
    )(command)  # fmt: skip
    command = click.option(
        "--tokenizer-from", "tokenizer_from", type=click.Path(path_type=Path, file_okay=False),
        help="A prepared data folder or model folder: the language it recorded (remi-bpe: with "
        "its trained BPE).",
    )(command)  # fmt: skip
    return click.option(
        "--tokenizer", "language_name", type=click.Choice(LANGUAGES), default=None,
        help="Token language (default: events, or the one --tokenizer-from recorded); see "
        "docs/tokenizers.md.",
    )(command)  # fmt: skip


def _language(
    name: str | None, tokenizer_from: Path | None, midi_in: Path, bpe_vocab: int
) -> Language:
    if tokenizer_from is not None:
        language = recorded_language(tokenizer_from)
        if name is not None and name != language.name:
            raise ConfigError(
                f"--tokenizer {name}, but {tokenizer_from} recorded {language.name}; "
                "give one of them"
            )
        return language
    if name == "remi-bpe":
        from livegen.languages.remi import RemiBpeLanguage

        click.echo(f"learning BPE ({bpe_vocab} tokens) on {midi_in} itself", err=True)
        return RemiBpeLanguage.train([read_midi(midi_in)], bpe_vocab)
    return new_language(name or "events")


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
@_language_options
def roundtrip(
    midi_in: Path,
    midi_out: Path | None,
    language_name: str | None,
    tokenizer_from: Path | None,
    bpe_vocab: int,
) -> None:
    """Encode IN.mid to tokens and decode it back; report what survived.

    Counts against the note-on messages in IN.mid itself (notes in), so a note lost on reading
    shows as dropped: notes out, kept, merged (a key struck twice at one tick, or twice within
    one grid step: one voice per key holds one), dropped, and the largest onset/offset error in
    grid steps (24 per beat). Another --tokenizer counts against the notes read and reports
    errors in beats (see docs/tokenizers.md).
    """
    language = _language(language_name, tokenizer_from, midi_in, bpe_vocab)
    if language.name != "events":
        _roundtrip_in(language, midi_in, midi_out)
        return
    result = round_trip_file(midi_in, getattr(language, "config", TokenizerConfig()))
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


def _roundtrip_in(language: Language, midi_in: Path, midi_out: Path | None) -> None:
    result = round_trip_file_in(language, midi_in)
    click.echo(f"file:        {midi_in}")
    click.echo(f"language:    {language.name} (vocabulary {language.size})")
    click.echo(f"tokens:      {len(result.tokens)} ({result.tokens_per_note:.2f} per note)")
    click.echo(
        f"notes in:    {result.notes_in} read ({result.note_ons} note-on messages, "
        f"{result.same_tick} struck again at the same tick)"
    )
    click.echo(f"notes out:   {result.notes_out}")
    click.echo(f"kept:        {result.kept} ({100 * result.kept_fraction:.2f}% of the notes in)")
    click.echo(f"merged:      {result.merged} (struck twice within one grid step)")
    click.echo(f"dropped:     {result.dropped}")
    grid = language.steps_per_beat
    click.echo(
        f"largest onset error:  {result.max_onset_error_beats:.4f} beats (grid 1/{grid} beat)"
    )
    click.echo(
        f"offset error:         median {result.median_offset_error_beats:.4f}, largest "
        f"{result.max_offset_error_beats:.4f} beats"
    )
    click.echo(f"largest velocity error: {result.max_velocity_error}")
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
@_language_options
def tokens(
    midi_in: Path,
    limit: int,
    language_name: str | None,
    tokenizer_from: Path | None,
    bpe_vocab: int,
) -> None:
    """Show the token stream of IN.mid in readable form, plus counts by kind."""
    language = _language(language_name, tokenizer_from, midi_in, bpe_vocab)
    score = read_midi(midi_in)
    if language.name != "events":
        _show(language.encode(score), language, len(score.notes), limit)
        return
    config = getattr(language, "config", TokenizerConfig())
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


def _show(ids: list[int], language: Language, n_notes: int, limit: int) -> None:
    line = ""
    for token in ids[:limit]:
        name = language.token_name(token)
        if line and len(line) + 1 + len(name) > _LINE_WIDTH:
            click.echo(line)
            line = ""
        line = f"{line} {name}" if line else name
    if line:
        click.echo(line)
    if len(ids) > limit:
        click.echo(f"... ({len(ids) - limit} more)")
    counts = Counter(language.token_kind(token) for token in ids)
    click.echo(
        f"\n{len(ids)} tokens, {n_notes} notes ({len(ids) / max(n_notes, 1):.2f} per note), "
        f"{language.name} vocabulary {language.size}"
    )
    for kind, count in counts.most_common():
        click.echo(f"  {kind:<11} {count}")
