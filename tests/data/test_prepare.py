"""`livegen data prepare`: shards that decode to the files' own tokens, splits, report, resume."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from livegen.cli import cli
from livegen.data.prepare import PrepareOptions, prepare
from livegen.data.shards import load_split, read_manifest
from livegen.data.split import SPLITS, split_of
from livegen.errors import ConfigError
from livegen.tokenizer import TokenizerConfig, encode_notes
from livegen.tokenizer.midi_file import read_midi

TESTDATA = Path(os.environ["LIVEGEN_TESTDATA"]) / "midi"
GOOD = (
    "short_melody.mid",
    "type0_english1.mid",
    "drums_only_beat.mid",
    "piano_bach_score.mid",
    "sub/dir/type0_english2.mid",
    "tempo_etude_no4.mid",
    "UPPER.MIDI",
)
BAD = {"short_empty_no_notes.mid": "no notes", "corrupt/data_byte_168.mid": "MidiFileError"}
OPTIONS = PrepareOptions(val_fraction=0.3, test_fraction=0.3, workers=1, progress=False)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    src = tmp_path / "midi"
    for name in GOOD:
        original = "piano_mozart_k265_var1_quantized.mid" if name == "UPPER.MIDI" else name
        target = src / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(TESTDATA / Path(original).name, target)
    for name in BAD:
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(TESTDATA / name, src / name)
    (src / "notes.txt").write_text("not MIDI, not picked up")
    return src


def test_every_good_file_is_one_document_equal_to_its_encoding(folder: Path, tmp_path: Path):
    out = tmp_path / "out"
    report = prepare(folder, out, options=OPTIONS)
    manifest = read_manifest(out)
    assert sorted(f["source"] for f in manifest["files"]) == sorted(GOOD)
    assert report.files == len(GOOD)
    config = TokenizerConfig()
    assert manifest["tokenizer"] == config.to_dict()
    splits = {name: load_split(out, name) for name in SPLITS}
    for record in manifest["files"]:
        assert record["split"] == split_of(record["source"], 0.3, 0.3)
        score = read_midi(folder / record["source"])
        expected = encode_notes(
            score.notes, config, time_signatures=score.meter(), bos=True, eos=True
        )
        doc = splits[record["split"]].doc(record["doc"])
        assert doc.tolist() == expected
        assert record["tokens"] == len(expected)
        assert record["notes"] == len(score.notes)
    for name in SPLITS:
        assert manifest["splits"][name]["tokens"] == splits[name].n_tokens
        assert splits[name].tokens.dtype == np.uint16


def test_bad_files_are_skipped_with_their_reason_and_the_run_goes_on(folder, tmp_path):
    report = prepare(folder, tmp_path / "out", options=OPTIONS)
    reasons = dict(report.skipped)
    assert set(reasons) == set(BAD)
    for name, reason in BAD.items():
        assert reason in reasons[name]
    manifest = read_manifest(tmp_path / "out")
    assert {s["source"] for s in manifest["skipped"]} == set(BAD)
    assert "skipped 2 files" in report.summary()


def test_an_interrupted_run_resumes_and_matches_a_fresh_one(folder: Path, tmp_path: Path):
    fresh = tmp_path / "fresh"
    prepare(folder, fresh, options=OPTIONS)
    resumed = tmp_path / "resumed"
    stopped = prepare(
        folder, resumed, options=PrepareOptions(**{**OPTIONS.__dict__, "stop_after_files": 4})
    )
    assert not stopped.finished
    assert not (resumed / "manifest.json").exists()
    assert (resumed / ".partial" / "state.json").is_file()
    again = prepare(folder, resumed, options=OPTIONS)
    assert again.finished and again.resumed_files == 4
    for name in SPLITS:
        assert (fresh / f"{name}.bin").read_bytes() == (resumed / f"{name}.bin").read_bytes()
        assert np.array_equal(
            np.load(fresh / f"{name}.idx.npy"), np.load(resumed / f"{name}.idx.npy")
        )
    assert not (resumed / ".partial").exists()


def test_a_folder_without_midi_files_is_a_one_line_error(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"no \.mid/\.midi files"):
        prepare(tmp_path / "empty", tmp_path / "out", options=OPTIONS)
    with pytest.raises(ConfigError, match="not a folder"):
        prepare(tmp_path / "missing", tmp_path / "out", options=OPTIONS)


def test_cli_prepare_prints_the_split_summary_and_the_skipped_files(folder, tmp_path):
    out = tmp_path / "cli"
    result = CliRunner().invoke(
        cli,
        [
            "data",
            "prepare",
            "--source",
            str(folder),
            "--out",
            str(out),
            "--quiet",
            "--workers",
            "2",
            "--val-fraction",
            "0.3",
            "--test-fraction",
            "0.3",
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"prepared {len(GOOD)} files" in result.output
    assert "short_empty_no_notes.mid: no notes" in result.output
    assert json.loads((out / "manifest.json").read_text())["splits"]["train"]["files"] >= 1


def test_prepare_is_torch_free() -> None:
    code = (
        "import sys, livegen.data.prepare, livegen.data.music21_source, "
        "livegen.commands.data_cmds; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
