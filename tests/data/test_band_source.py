"""`livegen data render-band`: POP909 songs with mma's drums, bass and chords on the song's grid."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import mido
import pytest

from livegen.cli import main
from livegen.data import band_source
from livegen.data.band_chart import (
    MMA_SUFFIXES,
    TempoMap,
    beat_grid,
    chart_text,
    mma_name,
    read_chord_labels,
)
from livegen.data.band_source import (
    DEFAULT_GROOVES,
    RenderError,
    groove_for,
    render_band,
    render_song,
    run_mma,
)
from livegen.errors import ConfigError
from livegen.music.chords import VOCABULARY, Chord, parse_harte
from livegen.tokenizer.midi_file import Score, read_midi

SONGS = ("001", "002", "003")
MMA_MISSING = "mma is not installed (apt-get install mma)"
needs_mma = pytest.mark.skipif(shutil.which("mma") is None, reason=MMA_MISSING)


POP909 = Path(os.environ["LIVEGEN_POP909"])  # tests/conftest.py finds it


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Songs 001-003 rendered once in the default grooves (SoftRock, PopBallad, Ballad)."""
    if shutil.which("mma") is None:
        pytest.skip(MMA_MISSING)
    assert (POP909 / "midi").is_dir(), f"POP909 not found at {POP909}"
    out = tmp_path_factory.mktemp("band")
    report = render_band(POP909, out, limit=len(SONGS), progress=False)
    assert report.written == list(SONGS) and not report.skipped
    return out


def _track_names(path: Path) -> dict[int, str]:
    """Channel -> the name of the track that plays it."""
    names = {}
    for track in mido.MidiFile(path).tracks:
        for msg in track:
            if not msg.is_meta:
                names.setdefault(msg.channel, track.name)
    return names


def _label_span_at(score: Score, spans: list, beat: float) -> tuple[Chord, float, float] | None:
    seconds = score.seconds_at(beat)
    for span in spans:
        if span.start_s <= seconds + 1e-6 < span.end_s:
            return span.chord, score.beat_at(span.start_s), score.beat_at(span.end_s)
    return None


@needs_mma
@pytest.mark.parametrize("song", SONGS)
def test_a_song_gets_drums_on_channel_10_bass_and_chords_each_on_its_own_program(
    rendered: Path, song: str
):
    path = rendered / "midi" / f"{song}.mid"
    score = read_midi(path)
    names = _track_names(path)
    by_channel = {ch: [n for n in score.notes if n.channel == ch] for ch in names}
    assert len(by_channel[9]) > 100, "drums on channel 10 (9 from zero)"
    assert any(name.startswith("Bass") and by_channel[ch] for ch, name in names.items())
    assert any(name.startswith("Chord") and by_channel[ch] for ch, name in names.items())
    assert names[0] == "MELODY" and names[1] == "BRIDGE"
    pitched = {ch: {n.program for n in notes} for ch, notes in by_channel.items() if ch != 9}
    assert all(len(programs) == 1 and None not in programs for programs in pitched.values())


@needs_mma
@pytest.mark.parametrize("song", SONGS)
def test_the_melody_keeps_every_pitch_length_and_place_on_the_beat_grid(rendered: Path, song: str):
    source = [n for n in read_midi(POP909 / "midi" / f"{song}.mid").notes if n.channel < 2]
    band = [n for n in read_midi(rendered / "midi" / f"{song}.mid").notes if n.channel < 2]
    assert len(band) == len(source) > 100
    # the whole song moves later by one amount under a beat, onto whole beats of the file
    shift = band[0].start_beat - source[0].start_beat
    assert 0 <= shift < 1
    for before, after in zip(source, band, strict=True):
        assert (after.pitch, after.channel) == (before.pitch, before.channel)
        assert after.start_beat - before.start_beat == pytest.approx(shift, abs=1e-9)
        assert after.end_beat - after.start_beat == pytest.approx(
            before.end_beat - before.start_beat
        )


@needs_mma
@pytest.mark.parametrize("song", SONGS)
def test_the_moved_labels_start_on_whole_beats_of_the_rendered_file(rendered: Path, song: str):
    score = read_midi(rendered / "midi" / f"{song}.mid")
    spans = read_chord_labels(rendered / "chords" / f"{song}.txt")
    original = read_chord_labels(POP909 / "chords" / f"{song}.txt")
    assert [s.chord for s in spans] == [s.chord for s in original]
    for span in spans:
        beat = score.beat_at(span.start_s)
        assert abs(beat - round(beat)) < 0.01, f"label at {span.start_s} s is off the grid"
    assert (rendered / "keys" / f"{song}.txt").is_file()


@needs_mma
@pytest.mark.parametrize("song", SONGS)
def test_chord_track_notes_inside_a_label_are_that_chords_tones(rendered: Path, song: str):
    path = rendered / "midi" / f"{song}.mid"
    score = read_midi(path)
    spans = read_chord_labels(rendered / "chords" / f"{song}.txt")
    chord_channels = {ch for ch, name in _track_names(path).items() if name.startswith("Chord")}
    checked = 0
    for note in (n for n in score.notes if n.channel in chord_channels):
        found = _label_span_at(score, spans, note.start_beat)
        # mma plays slightly early or late (humanising): skip onsets within 0.1 beat of a change
        if found is None or found[0].is_none:
            continue
        chord, start, end = found
        if start + 0.1 <= note.start_beat <= end - 0.1:
            checked += 1
            assert note.pitch % 12 in chord.pitch_classes, (note, chord.name)
    assert checked > 300


@needs_mma
def test_every_chord_of_the_vocabulary_and_a_slash_chord_is_a_name_mma_plays(tmp_path: Path):
    chords = [c for c in VOCABULARY if not c.is_none] + [parse_harte("A:min7/b7")]
    on_grid = [(i, i + 1, chord) for i, chord in enumerate(chords)]
    chart = chart_text(on_grid, 0, len(chords) // 4 + 1, groove="8Beat", tempo_bpm=120, seed=1)
    run_mma(chart, tmp_path / "all.mid")  # raises on an unknown chord name
    assert set(MMA_SUFFIXES) == {c.quality for c in chords}
    assert mma_name(parse_harte("C:dim")) == "Cmb5", "mma's plain 'dim' is a dim7"


def test_the_grid_and_bar_phase_come_from_the_labels():
    midi = mido.MidiFile(POP909 / "midi" / "001.mid")
    grid, on_grid = beat_grid(read_chord_labels(POP909 / "chords" / "001.txt"), TempoMap(midi))
    # song 001: notes and labels sit 1/12 beat after each whole beat of the file
    assert grid.offset_beats == pytest.approx(1 / 12, abs=1e-3)
    assert grid.bar_phase == 0
    assert on_grid[0][0] == 0 and all(a < b for a, b, _ in on_grid)


def test_grooves_are_picked_by_song_number():
    assert groove_for("001", DEFAULT_GROOVES) == DEFAULT_GROOVES[1]
    assert groove_for("020", ("A", "B", "C")) == "C"


def _copy_song(tmp_path: Path, song: str, chords_text: str | None) -> Path:
    root = tmp_path / "pop"
    for folder in ("midi", "chords", "keys"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    shutil.copy(POP909 / "midi" / f"{song}.mid", root / "midi" / f"{song}.mid")
    shutil.copy(POP909 / "keys" / f"{song}.txt", root / "keys" / f"{song}.txt")
    if chords_text is not None:
        (root / "chords" / f"{song}.txt").write_text(chords_text)
    return root


def test_a_bad_chord_label_names_file_and_line(tmp_path: Path):
    root = _copy_song(tmp_path, "001", "0.0\t1.0\tC:maj\n1.0\t2.0\tC:maj9\n")
    with pytest.raises(ConfigError, match=r"001\.txt line 2: chord label 'C:maj9' not understood"):
        read_chord_labels(root / "chords" / "001.txt")


@needs_mma
def test_a_song_that_cannot_be_rendered_is_skipped_in_one_line_and_the_run_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    good = (POP909 / "chords" / "001.txt").read_text()
    root = _copy_song(tmp_path, "001", good)
    _copy_song(tmp_path, "002", "0.0\t1.0\tC:maj9\n")
    _copy_song(tmp_path, "003", None)  # no chords file
    (root / "midi" / "004.mid").write_bytes(b"MThd not really")
    (root / "chords" / "004.txt").write_text(good)
    out = tmp_path / "band"
    assert main(["data", "render-band", str(root), str(out), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == "1 songs rendered, 0 already there, 3 skipped"
    reasons = captured.err.splitlines()
    assert len(reasons) == 3
    assert reasons[0].startswith("  002: ") and "'C:maj9' not understood" in reasons[0]
    assert reasons[1].startswith("  003: ") and "cannot read the chord labels" in reasons[1]
    assert reasons[2].startswith("  004: ") and "not a readable MIDI file" in reasons[2]
    assert (out / "midi" / "001.mid").is_file() and not (out / "midi" / "002.mid").exists()
    # resumable: a finished song is not rendered again
    assert render_song((str(root), str(out), "001", "8Beat")).cached


def test_without_mma_the_command_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setattr(band_source.shutil, "which", lambda name: None)
    with pytest.raises(RenderError, match=r"^mma is not installed \(apt-get install mma\)$"):
        band_source.mma_command()
    assert main(["data", "render-band", str(POP909), str(tmp_path / "band")]) == 1
    assert capsys.readouterr().err == f"error: {MMA_MISSING}\n"


@needs_mma
def test_an_unknown_groove_is_one_line_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    assert main(["data", "render-band", str(POP909), str(tmp_path), "--grooves", "8Beat,Funk"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "groove 'Funk'" in err
