"""music21 corpus conversion: one MIDI file per work, cached, failures recorded with reasons."""

from __future__ import annotations

from pathlib import Path

import pytest

from livegen.data.music21_source import convert_corpus, convert_file, corpus_files, corpus_root
from livegen.errors import ConfigError
from livegen.tokenizer.midi_file import read_midi

pytest.importorskip("music21")


def test_a_chorale_becomes_a_readable_midi_file_and_is_cached(tmp_path: Path):
    chorale = next(p for p in corpus_files(("bach",)) if p.name == "bwv66.6.mxl")
    job = (str(chorale), str(corpus_root()), str(tmp_path))
    first = convert_file(job)
    assert first.outputs == ("bach/bwv66.6.mid",) and not first.failures and not first.cached
    score = read_midi(tmp_path / first.outputs[0])
    assert len(score.notes) > 100
    assert len({n.channel for n in score.notes}) == 4 or len(score.notes) > 100
    second = convert_file(job)
    assert second.cached and second.outputs == first.outputs


def test_a_file_music21_cannot_parse_is_recorded_with_its_reason(tmp_path: Path):
    root = tmp_path / "corpus"
    (root / "junk").mkdir(parents=True)
    bad = root / "junk" / "broken.mxl"
    bad.write_bytes(b"this is not a zip file")
    result = convert_file((str(bad), str(root), str(tmp_path / "cache")))
    assert result.outputs == ()
    assert result.failures[0][0] == "junk/broken.mxl" and result.failures[0][1]
    assert (tmp_path / "cache" / ".done" / "junk" / "broken.mxl.json").is_file()


def test_an_unknown_collection_names_the_valid_ones(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"valid: .*bach"):
        convert_corpus(tmp_path, ("no_such_composer",), progress=False)


def test_convert_corpus_limit_converts_in_order(tmp_path: Path):
    report = convert_corpus(tmp_path, ("bach",), workers=1, limit=2, progress=False)
    assert len(report.results) == 2
    assert all((tmp_path / out).is_file() for out in report.outputs)


def test_convert_music21_command_converts_and_reports(tmp_path: Path):
    from click.testing import CliRunner

    from livegen.cli import cli

    args = ["data", "convert-music21", str(tmp_path), "--collections", "bach"]
    result = CliRunner().invoke(cli, [*args, "--limit", "1", "--workers", "1", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "1 MIDI files, 0 failures" in result.output
    assert len(list(tmp_path.rglob("*.mid"))) == 1
