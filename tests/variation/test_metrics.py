"""Metrics of issue 17 on hand-made windows with known answers, and `livegen eval` on a folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from livegen.cli import main
from livegen.variation.metrics import frechet_distance, piano_roll, pitch_accuracy, roll_iou

MIDI_DIR = Path(os.environ["LIVEGEN_TESTDATA"]).resolve() / "midi"


def _window(pitches, gaps, durs) -> np.ndarray:
    rows = np.zeros((len(pitches), 4), dtype=np.float32)
    rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3] = pitches, 0.5, gaps, durs
    return rows


def test_pitch_accuracy_counts_equal_pitches_by_position() -> None:
    a = np.array([[60, 62, 64, 65]])
    assert pitch_accuracy(a, np.array([[60, 62, 0, 0]])) == 0.5


def test_a_roll_holds_each_note_for_its_sixteenths() -> None:
    roll = piano_roll(_window([60, 64], [3.0, 1.0], [1.0, 0.5]))  # the first gap is ignored
    assert roll.shape == (128, 6)
    assert roll[60].tolist() == [True] * 4 + [False] * 2
    assert roll[64].tolist() == [False] * 4 + [True] * 2


def test_iou_of_rolls() -> None:
    a = _window([60, 62], [0.0, 1.0], [1.0, 1.0])  # 60: steps 0-3, 62: steps 4-7
    b = _window([60, 65], [0.0, 1.0], [1.0, 1.0])
    assert roll_iou(a[None], a[None]) == 1.0
    assert roll_iou(a[None], b[None]) == pytest.approx(4 / 12)
    shorter = _window([60, 62], [0.0, 1.0], [0.5, 1.0])  # 60 on for 2 steps of its 4
    assert roll_iou(a[None], shorter[None]) == pytest.approx(6 / 8)


def test_frechet_distance_of_gaussians() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(20_000, 3))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    # N(0, I) vs N(1, 4I) in 3 dims: 3 * 1 + 3 * (1 + 4 - 2 * 2) = 6
    assert frechet_distance(a, 1 + 2 * rng.normal(size=(20_000, 3))) == pytest.approx(6, rel=0.05)


@pytest.mark.parametrize("kind", ["vae", "ddpm"])
def test_eval_of_a_variation_folder_prints_its_scores(kind, variation_model_dir, capsys) -> None:
    model, features = variation_model_dir(kind), variation_model_dir("vae")
    capsys.readouterr()  # the exports' lines
    args = ["eval", "--model", str(model), "--data", str(MIDI_DIR), "--max-files", "12",
            "--json", "--features", str(features)]  # fmt: skip
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["kind"] == kind and report["windows"] > 50
    for key in ("accuracy", "iou", "fad", "samples_per_s", "vary_ms_per_window"):
        assert report[key] is not None and report[key] >= 0, key
    assert 0 <= report["accuracy"] <= 1 and 0 <= report["iou"] <= 1
