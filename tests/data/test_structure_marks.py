"""KEY and CHORD tokens in prepared data: POP909's labels where the corpus layout has them, the
estimators elsewhere, right after the bar line or shift of their beat, never changing a note."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from livegen.cli import cli
from livegen.data.prepare import PrepareOptions, prepare
from livegen.data.shards import load_split, read_manifest
from livegen.data.structure_marks import pop909_labels, structure_marks
from livegen.music.chords import parse_harte
from livegen.tokenizer import Grammar, TokenizerConfig, TokenKind, Vocab, decode_tokens
from livegen.tokenizer.midi_file import read_midi

TESTDATA = Path(os.environ["LIVEGEN_TESTDATA"]) / "midi"
POP909 = Path(os.environ["LIVEGEN_TESTDATA"]).parent / "corpus" / "pop909"
WITH = TokenizerConfig(structure_tokens=True)
VOCAB = Vocab(WITH)
OPTIONS = PrepareOptions(val_fraction=0.0, test_fraction=0.0, workers=1, progress=False)


@pytest.fixture
def pop909_song(tmp_path: Path) -> Path:
    """Song 001 in POP909's own layout (midi/, chords/, keys/)."""
    if not (POP909 / "midi" / "001.mid").is_file():
        pytest.skip(f"no POP909 corpus at {POP909}")
    for folder, suffix in (("midi", ".mid"), ("chords", ".txt"), ("keys", ".txt")):
        (tmp_path / "pop909" / folder).mkdir(parents=True)
        shutil.copy(POP909 / folder / f"001{suffix}", tmp_path / "pop909" / folder)
    return tmp_path / "pop909" / "midi" / "001.mid"


def _steps_of(tokens: list[int], kind: TokenKind) -> list[tuple[int, str]]:
    """(step, name) of each token of `kind`, and the previous token must be a BAR or a shift."""
    step, out = 0, []
    for i, token in enumerate(tokens):
        if VOCAB.kind(token) == TokenKind.TIME_SHIFT:
            step += int(VOCAB.args[token])
        if VOCAB.kind(token) == kind:
            before = VOCAB.kind(tokens[i - 1])
            assert before in (TokenKind.BAR, TokenKind.TIME_SHIFT, TokenKind.KEY), VOCAB.name(token)
            out.append((step, VOCAB.name(token)))
    return out


def test_pop909_files_take_their_annotated_chords_and_key(pop909_song: Path) -> None:
    assert pop909_labels(pop909_song) is not None
    score = read_midi(pop909_song)
    marks = structure_marks(pop909_song, score, VOCAB)
    assert [VOCAB.name(t) for _, t in marks[:2]] == ["KEY_Gb", "CHORD_N"]  # keys/001: Gb:maj
    rows = [
        line.split("\t")
        for line in (pop909_song.parents[1] / "chords/001.txt").read_text().splitlines()
    ]
    # every chord token is the label sounding at its beat (labels rounded to the nearest beat)
    for step, token in marks[1:]:
        beat = step / WITH.steps_per_beat
        label = next(r[2] for r in rows if round(score.beat_at(float(r[1]))) > beat)
        assert VOCAB.name(token) == f"CHORD_{parse_harte(label).without_bass().name}"


def test_other_files_are_estimated_with_drums_left_out() -> None:
    path = TESTDATA / "band_mr_blue_sky.mid"
    assert pop909_labels(path) is None
    marks = structure_marks(path, read_midi(path), VOCAB)
    names = [VOCAB.name(t) for _, t in marks]
    assert names[0] == "KEY_F" and names.count("KEY_F") == 1  # one key for the piece
    assert sum(n.startswith("CHORD_") for n in names) > 50
    assert all(step % (2 * WITH.steps_per_beat) == 0 for step, _ in marks)  # 2-beat windows


def test_a_drum_only_file_has_no_marks() -> None:
    path = TESTDATA / "drums_only_beat.mid"
    assert structure_marks(path, read_midi(path), VOCAB) == []


def test_prepared_data_holds_the_marks_and_the_same_notes(pop909_song: Path, tmp_path: Path):
    shutil.copy(TESTDATA / "piano_bach_score.mid", pop909_song.parent / "bach.mid")
    plain, marked = tmp_path / "plain", tmp_path / "marked"
    prepare(pop909_song.parent, plain, options=OPTIONS)
    prepare(pop909_song.parent, marked, tokenizer=WITH, options=OPTIONS)
    assert "structure_tokens" not in read_manifest(plain)["tokenizer"]
    assert read_manifest(marked)["tokenizer"]["structure_tokens"] is True
    a, b = load_split(plain, "train"), load_split(marked, "train")
    for doc in range(len(a.offsets) - 1):
        plain_doc = np.asarray(a.tokens[a.offsets[doc] : a.offsets[doc + 1]]).tolist()
        marked_doc = np.asarray(b.tokens[b.offsets[doc] : b.offsets[doc + 1]]).tolist()
        assert Grammar(VOCAB).is_valid(marked_doc)
        assert decode_tokens(marked_doc, WITH) == decode_tokens(plain_doc, TokenizerConfig())
        keys, chords = _steps_of(marked_doc, TokenKind.KEY), _steps_of(marked_doc, TokenKind.CHORD)
        assert keys[0][0] == 0 and len(chords) > 20
        assert all(step % WITH.steps_per_beat == 0 for step, _ in chords)


def test_the_cli_turns_structure_tokens_on_for_a_new_folder_and_keeps_a_folders_own(tmp_path):
    src = tmp_path / "midi"
    src.mkdir()
    shutil.copy(TESTDATA / "short_melody.mid", src)
    args = ["data", "prepare", "--source", str(src), "--quiet", "--val-fraction", "0"]
    assert CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "new")]).exit_code == 0
    assert read_manifest(tmp_path / "new")["tokenizer"]["structure_tokens"] is True
    old = tmp_path / "old"
    CliRunner().invoke(cli, [*args, "--out", str(old), "--no-structure-tokens"])
    shutil.copy(TESTDATA / "type0_english1.mid", src)
    result = CliRunner().invoke(cli, [*args, "--out", str(old)])
    assert result.exit_code == 0, result.output
    manifest = read_manifest(old)
    assert "structure_tokens" not in manifest["tokenizer"] and len(manifest["files"]) == 2
