"""`livegen vary`: each window of a file varied, the rest kept, reproducible by seed, no torch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from livegen.cli import main
from livegen.tokenizer import read_midi
from livegen.variation.model import VariationModel
from livegen.variation.notes import cut_windows, read_windows
from livegen.variation.vary import vary_rows

MIDI_DIR = Path(os.environ["LIVEGEN_TESTDATA"]).resolve() / "midi"
FILES = ["piano_pop_1390.mid", "band_funkytown.mid", "short_anacrusis.mid"]


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize(("kind", "method"), [("vae", "vae"), ("ddpm", "ddim"), ("ddpm", "ddpm")])
def test_vary_writes_a_variation_of_every_window(
    name: str, kind: str, method: str, variation_model_dir, tmp_path: Path, capsys
) -> None:
    source = MIDI_DIR / name
    out = tmp_path / "out.mid"
    code = main(["vary", str(source), "-o", str(out), "--model", str(variation_model_dir(kind)),
                 "--method", method, "--seed", "3", "--strength", "0.6"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    before, after = read_midi(source).notes, read_midi(out).notes
    written = int(capsys.readouterr().out.rsplit(", ", 1)[1].split()[0])
    assert len(after) == written  # repeated keys at one onset were merged before writing
    assert 0.8 * len(before) <= written <= len(before)
    cut_before, cut_after = cut_windows(before, 16), cut_windows(after, 16)
    drums = sorted((n.start_beat, n.pitch) for n in before if n.channel == 9)
    assert sorted((n.start_beat, n.pitch) for n in after if n.channel == 9) == drums
    if cut_before.n_windows:
        assert not np.array_equal(cut_after.rows[..., 0], cut_before.rows[..., 0])


@pytest.mark.parametrize("kind", ["vae", "ddpm"])
def test_the_same_seed_gives_the_same_variation(kind: str, variation_model_dir) -> None:
    model = VariationModel.load(variation_model_dir(kind))
    rows = read_windows(MIDI_DIR / "piano_bach_score.mid", 16).rows[:8]
    a, b = (vary_rows(model, rows, strength=0.5, seed=1) for _ in range(2))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, vary_rows(model, rows, strength=0.5, seed=2))


def test_ddim_at_strength_zero_gives_the_window_back(variation_model_dir) -> None:
    model = VariationModel.load(variation_model_dir("ddpm"))
    rows = read_windows(MIDI_DIR / "piano_bach_score.mid", 16).rows[:8]
    same = vary_rows(model, rows, "ddim", strength=0.0, steps=10, seed=0)
    np.testing.assert_array_equal(same[..., 0], rows[..., 0])
    np.testing.assert_allclose(same[..., 1:], rows[..., 1:], atol=0.05 * 4)


def test_a_method_of_the_other_family_is_one_line(variation_model_dir, tmp_path, capsys) -> None:
    code = main(["vary", str(MIDI_DIR / "piano_bach_score.mid"), "-o", str(tmp_path / "o.mid"),
                 "--model", str(variation_model_dir("vae")), "--method", "ddim"])  # fmt: skip
    assert code == 1 and "use vae" in capsys.readouterr().err


def test_varying_imports_no_torch(variation_model_dir, tmp_path: Path) -> None:
    probe = (
        "import sys; from livegen.cli import main; "
        f"code = main(['vary', {str(MIDI_DIR / 'piano_bach_score.mid')!r}, '-o', "
        f"{str(tmp_path / 'o.mid')!r}, '--model', {str(variation_model_dir('ddpm'))!r}]); "
        "assert code == 0; print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[]"
