"""`data prepare` after an interruption: sources changed or gone; file names that aren't UTF-8."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from livegen.cli import main
from livegen.data.prepare import PrepareOptions, prepare
from livegen.data.shards import load_split, read_manifest
from livegen.tokenizer import TokenizerConfig, encode_notes
from livegen.tokenizer.midi_file import read_midi

TESTDATA = Path(os.environ["LIVEGEN_TESTDATA"]) / "midi"
FILES = (
    "drums_only_beat.mid",
    "piano_bach_score.mid",
    "short_melody.mid",
    "tempo_etude_no4.mid",
    "type0_english1.mid",
    "type0_english2.mid",
)
OPTIONS = PrepareOptions(val_fraction=0.3, test_fraction=0.3, workers=1, progress=False)
CLI_OPTIONS = ["--val-fraction", "0.3", "--test-fraction", "0.3", "--workers", "1", "--quiet"]


def _cli_prepare(src: Path, out: Path) -> int:
    return main(["data", "prepare", "--source", str(src), "--out", str(out), *CLI_OPTIONS])


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    src = tmp_path / "midi"
    src.mkdir()
    for name in FILES:
        shutil.copy(TESTDATA / name, src / name)
    return src


def _assert_folder_holds_exactly(out: Path, src: Path) -> None:
    """Every MIDI file now in `src` is one document equal to its current encoding, no others."""
    manifest = read_manifest(out)
    assert sorted(r["source"] for r in manifest["files"]) == sorted(p.name for p in src.iterdir())
    config = TokenizerConfig()
    for record in manifest["files"]:
        score = read_midi(src / record["source"])
        expected = encode_notes(
            score.notes, config, time_signatures=score.meter(), bos=True, eos=True
        )
        assert load_split(out, record["split"]).doc(record["doc"]).tolist() == expected
    for split, entry in manifest["splits"].items():
        assert load_split(out, split).n_tokens == entry["tokens"]


def test_a_run_resumed_after_sources_changed_or_went_away_matches_them(folder, tmp_path):
    out = tmp_path / "out"
    stop = PrepareOptions(**{**OPTIONS.__dict__, "stop_after_files": 4})
    stopped = prepare(folder, out, options=stop)
    assert not stopped.finished
    done = sorted(json.loads((out / ".partial" / "state.json").read_text())["records"])
    deleted, changed = Path(done[0]).name, Path(done[1]).name
    (folder / deleted).unlink()
    shutil.copy(TESTDATA / "type0_bach_prelude.mid", folder / changed)
    os.utime(folder / changed, ns=(1, 1))  # a changed file need not look newer
    again = prepare(folder, out, options=OPTIONS)
    assert again.finished and not (out / ".partial").exists()
    _assert_folder_holds_exactly(out, folder)
    assert "2 files changed or deleted since the interrupted run" in again.summary()


def test_files_deleted_while_stopped_are_left_out_through_the_cli(folder, tmp_path, capsys):
    out = tmp_path / "out"
    prepare(folder, out, options=PrepareOptions(**{**OPTIONS.__dict__, "stop_after_files": 3}))
    for name in FILES[:3]:
        (folder / name).unlink()
    assert _cli_prepare(folder, out) == 0
    assert "prepared 3 files" in capsys.readouterr().out
    _assert_folder_holds_exactly(out, folder)


def test_a_file_name_that_is_not_utf8_is_skipped_and_reported(folder, tmp_path, capsys):
    bad = os.fsencode(folder) + b"/bad\xff name.mid"
    shutil.copy(TESTDATA / "short_melody.mid", bad)
    out = tmp_path / "out"
    assert _cli_prepare(folder, out) == 0
    printed = capsys.readouterr().out
    assert "skipped 1 files" in printed and "bad\\xff name.mid" in printed
    assert "not valid UTF-8" in printed
    assert len(read_manifest(out)["files"]) == len(FILES)
