"""`livegen data prepare --tokenizer NAME` records the language; remi-bpe learns its BPE on the
train split and keeps it beside the manifest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from language_testdata import MIDI_DIR, score_of

from livegen.cli import main
from livegen.data.prepare import PrepareOptions, prepare
from livegen.data.shards import load_split
from livegen.languages import language_from
from livegen.languages.remi import BPE_FILE

SHORT = sorted(MIDI_DIR.glob("short_*.mid"))


def _sources(tmp_path: Path) -> Path:
    folder = tmp_path / "midi"
    folder.mkdir()
    for path in SHORT:
        if path.name != "short_empty_no_notes.mid":
            shutil.copy(path, folder / path.name)
    return folder


def test_remi_bpe_is_learned_saved_and_used_for_every_split(tmp_path: Path) -> None:
    options = PrepareOptions(val_fraction=0.2, test_fraction=0.0, workers=1, progress=False)
    out = tmp_path / "data"
    prepare(_sources(tmp_path), out, options=options, language="remi-bpe", bpe_vocab_size=760)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["tokenizer"]["language"] == "remi-bpe"
    assert (out / BPE_FILE).is_file()
    language = language_from(manifest["tokenizer"], out)
    assert language.size == 760
    train = load_split(out, "train")
    assert int(np.asarray(train.tokens).max()) < language.size
    first = next(f for f in manifest["files"] if f["split"] == "train" and f["doc"] == 0)
    doc = np.asarray(train.tokens[train.offsets[0] : train.offsets[1]]).tolist()
    assert doc == language.encode(score_of(MIDI_DIR / first["source"]))
    assert len(language.decode(doc)) == first["notes"]

    learned = (out / BPE_FILE).read_text()
    (tmp_path / "again").mkdir()
    prepare(_sources(tmp_path / "again"), out, options=options, language="remi-bpe")
    assert (out / BPE_FILE).read_text() == learned  # a second run keeps the ids' meaning


def test_prepare_triplet_from_the_command_line(tmp_path: Path, capsys) -> None:
    code = main(
        ["data", "prepare", "--source", str(_sources(tmp_path)), "--out", str(tmp_path / "d"),
         "--tokenizer", "triplet", "--quiet", "--workers", "1"]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    manifest = json.loads((tmp_path / "d" / "manifest.json").read_text())
    assert manifest["tokenizer"]["language"] == "triplet"
    notes = sum(f["notes"] for f in manifest["files"])
    tokens = sum(f["tokens"] for f in manifest["files"])
    assert 4 * notes < tokens < 5 * notes  # four a note, plus BOS/EOS, channels and programs
