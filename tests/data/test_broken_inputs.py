"""Broken prepared folders and config files are one `error:` line naming them, not a traceback."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from livegen.cli import main
from livegen.data.prepare import PrepareOptions, prepare

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "configs" / "train" / "smoke.toml"
TESTDATA = Path(os.environ["LIVEGEN_TESTDATA"]) / "midi"


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("midi")
    for name in ("short_melody.mid", "type0_english1.mid", "piano_bach_score.mid"):
        shutil.copy(TESTDATA / name, src / name)
    out = tmp_path_factory.mktemp("prepared") / "data"
    options = PrepareOptions(val_fraction=0.3, test_fraction=0.3, workers=1, progress=False)
    prepare(src, out, options=options)
    return out


def _truncate_train(folder: Path) -> str:
    shard = folder / "train.bin"
    shard.write_bytes(shard.read_bytes()[:101])
    return "train.bin"


def _delete_index(folder: Path) -> str:
    (folder / "train.idx.npy").unlink()
    return "train.idx.npy"


def _break_manifest(folder: Path) -> str:
    (folder / "manifest.json").write_text('{"format": 2, ')
    return "manifest.json"


def _empty_manifest(folder: Path) -> str:
    (folder / "manifest.json").write_text("[]")
    return "manifest.json"


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize(
    "damage", [_truncate_train, _delete_index, _break_manifest, _empty_manifest]
)
def test_a_damaged_prepared_folder_is_one_line_in_train(damage, prepared, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(prepared, data)
    name = damage(data)
    argv = ["train", "--config", str(SMOKE), "--data", str(data), "--out", str(tmp_path / "run")]
    assert main([*argv, "--set", "optim.max_steps=1", "--set", "run.progress=false"]) == 1
    assert name in _error(capsys)


@pytest.mark.parametrize("command", ["train", "serve"])
def test_a_config_that_is_not_utf8_or_is_a_folder_is_one_line(command, tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b'x = "\xff"\n')
    assert main([command, "--config", str(bad)]) == 1
    line = _error(capsys)
    assert str(bad) in line and "UTF-8" in line
    if command == "serve":  # train's --config is a click path that refuses a folder itself
        assert main([command, "--config", str(tmp_path)]) == 1
        assert str(tmp_path) in _error(capsys)


@pytest.mark.parametrize("out", ["/proc/livegen-out", "{file}/sub"], ids=["proc", "under-a-file"])
def test_an_output_folder_that_cannot_be_written_is_one_line_in_prepare(out, tmp_path, capsys):
    src = tmp_path / "midi"
    src.mkdir()
    shutil.copy(TESTDATA / "short_melody.mid", src)
    (tmp_path / "file").write_text("")
    out = out.format(file=tmp_path / "file")
    assert main(["data", "prepare", "--source", str(src), "--out", out, "--quiet"]) == 1
    assert out in _error(capsys)


def test_a_full_disk_while_preparing_is_one_line(tmp_path, monkeypatch, capsys):
    src = tmp_path / "midi"
    src.mkdir()
    shutil.copy(TESTDATA / "short_melody.mid", src)

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("livegen.data.prepare.np.save", full)
    out = tmp_path / "out"
    assert main(["data", "prepare", "--source", str(src), "--out", str(out), "--quiet"]) == 1
    line = _error(capsys)
    assert str(out) in line and "No space left" in line


@pytest.mark.parametrize("where", ["/proc/livegen/stats.json", "{file}/stats.json"])
def test_an_unwritable_stats_json_fails_before_serving(where, tmp_path, capsys):
    (tmp_path / "file").write_text("")
    where = where.format(file=tmp_path / "file")
    assert main(["serve", "--stats-json", where, "--seconds", "1"]) == 1
    assert where in _error(capsys)
