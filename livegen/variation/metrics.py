"""Metrics of issue 17 over note windows: pitch accuracy, piano-roll IoU, Fréchet distance.

- `pitch_accuracy`: the share of notes whose pitch equals the reference's at the same position.
- `roll_iou`: each window drawn as a piano roll (128 pitches x time at ROLL_STEPS_PER_BEAT, a
  cell on while a note sounds; onsets from the window's start, so windows compare by shape, not
  by where they sit in the file) and the intersection over union of two windows' rolls, averaged
  over the windows (two empty rolls count 1).
- `frechet_distance`: between two sets of feature vectors, ||mu_a - mu_b||² +
  Tr(C_a + C_b - 2 (C_a C_b)^½) (the FID/FAD formula); the trace of the square root comes from
  the eigenvalues of C_a^½ C_b C_a^½ (symmetric), so no scipy. What the features are is the
  caller's choice: `livegen eval` uses a VAE encoder's latent mean (see evaluate.py).
"""

from __future__ import annotations

import numpy as np

from livegen.variation.notes import DUR, GAP, PITCH, PITCHES

ROLL_STEPS_PER_BEAT = 4  # 16th notes


def pitch_accuracy(reference: np.ndarray, candidate: np.ndarray) -> float:
    """Share of equal pitches in two (W, N) pitch arrays (or (W, N, 4) rows)."""
    a = reference[..., PITCH] if reference.ndim == 3 else reference
    b = candidate[..., PITCH] if candidate.ndim == 3 else candidate
    return float(np.mean(np.rint(a) == np.rint(b)))


def piano_roll(rows: np.ndarray, steps_per_beat: int = ROLL_STEPS_PER_BEAT) -> np.ndarray:
    """(N, 4) rows of one window -> (128, T) bool roll from the window's first onset."""
    onsets = np.cumsum(rows[:, GAP]) - rows[0, GAP]
    starts = np.floor(onsets * steps_per_beat + 1e-6).astype(int)
    ends = np.maximum(np.ceil((onsets + rows[:, DUR]) * steps_per_beat - 1e-6).astype(int),
                      starts + 1)  # fmt: skip
    roll = np.zeros((PITCHES, int(ends.max(initial=1))), dtype=bool)
    for pitch, start, end in zip(np.rint(rows[:, PITCH]).astype(int), starts, ends, strict=True):
        roll[pitch, start:end] = True
    return roll


def roll_iou(reference: np.ndarray, candidate: np.ndarray) -> float:
    """Mean piano-roll IoU of matching windows of two (W, N, 4) row arrays."""
    scores = []
    for a_rows, b_rows in zip(reference, candidate, strict=True):
        a, b = piano_roll(a_rows), piano_roll(b_rows)
        width = max(a.shape[1], b.shape[1])
        a = np.pad(a, ((0, 0), (0, width - a.shape[1])))
        b = np.pad(b, ((0, 0), (0, width - b.shape[1])))
        union = np.logical_or(a, b).sum()
        scores.append(1.0 if union == 0 else np.logical_and(a, b).sum() / union)
    return float(np.mean(scores)) if scores else 0.0


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Fréchet distance of Gaussians fitted to two (M, D) feature sets."""
    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    root_a = _sqrt_psd(cov_a)
    cross = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    trace_root = np.sqrt(np.clip(cross, 0, None)).sum()
    value = ((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_root
    return float(max(value, 0.0))
