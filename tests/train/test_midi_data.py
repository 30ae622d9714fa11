"""`[data] path` may name MIDI files (a folder or a glob): the run prepares them into OUT/data
first (train/midi_data.py), so a smoke config trains on a fresh checkout without a prepare step."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import hier_smoke_config
from livegen.train.loop import train

from livegen.data.prepare import PrepareOptions, prepare
from livegen.data.shards import load_split, read_manifest
from livegen.errors import ConfigError

QUIET = {"run.sample_every": 0, "run.ngram_baseline": False}


def test_a_glob_is_prepared_into_the_run_folder_and_resume_trains_on_it(
    midi_folder: Path, tmp_path: Path
) -> None:
    pattern = str(midi_folder / "type0_*.mid")  # type0_english1, type0_english2, type0_bach_prelude
    out = tmp_path / "run"
    first = train(hier_smoke_config(pattern, out, **QUIET, **{"optim.max_steps": 2}))
    assert first.step == 2
    linked = sorted(p.name for p in (out / "data-midi").iterdir())
    assert linked == ["type0_bach_prelude.mid", "type0_english1.mid", "type0_english2.mid"]
    manifest = read_manifest(out / "data")
    assert sum(manifest["splits"][s]["files"] for s in ("train", "val", "test")) == 3
    # the checkpoint names OUT/data; the same config resumed finds it unchanged
    resumed = train(hier_smoke_config(pattern, out, **QUIET, **{"optim.max_steps": 3}), resume=True)
    assert resumed.step == 3


def test_a_folder_gives_the_shards_data_prepare_gives(midi_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    train(hier_smoke_config(midi_folder, out, **QUIET, **{"optim.max_steps": 1}))
    by_hand = tmp_path / "by-hand"
    prepare(f"midi={midi_folder}", by_hand, options=PrepareOptions(workers=1, progress=False))
    for split in ("train", "val", "test"):
        ours, theirs = load_split(out / "data", split), load_split(by_hand, split)
        np.testing.assert_array_equal(ours.tokens, theirs.tokens)
        np.testing.assert_array_equal(ours.offsets, theirs.offsets)


def test_a_path_with_neither_shards_nor_midi_fails_before_a_run_folder_is_made(
    tmp_path: Path,
) -> None:
    (tmp_path / "notes.txt").write_text("not music")
    out = tmp_path / "run"
    with pytest.raises(ConfigError, match=r"not a prepared data folder .* no MIDI files there"):
        train(hier_smoke_config(tmp_path, out, **QUIET))
    assert not out.exists()
