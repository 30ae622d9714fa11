"""Training data of the variation models: condensed note windows of MIDI files, in batches.

`[data] path` names a folder (every .mid/.midi under it) or a glob pattern
(`../shared/corpus/pop909/midi/00*.mid`), read with livegen's reader and cut by
livegen.variation.notes; no `livegen data prepare` step (a window is 16 rows of 4 numbers, and
reading a few hundred files takes seconds). Unreadable files are skipped and counted.

Split: a file is validation when the crc32 of its name falls in the first `VAL_PERCENT` of 100
(stable as files are added); with none so chosen among two or more files, the last one is.

Batches of step s are drawn from a generator seeded by (seed, s, micro), so a resumed run sees the
batches the uninterrupted run would have. Augmentation per window: transposition within
±`transpose_semitones` (only shifts that keep every pitch in 0..127) and velocity scaling by a
factor in [1 - velocity_scale, 1 + velocity_scale].
"""

from __future__ import annotations

import glob
import hashlib
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from livegen.errors import ConfigError, MidiFileError
from livegen.variation.notes import PITCH, VELOCITY, read_windows, to_features

VAL_PERCENT = 10
MIDI_SUFFIXES = (".mid", ".midi")


def midi_files(path: str) -> list[Path]:
    """The MIDI files a `[data] path` names, sorted; ConfigError when there are none."""
    folder = Path(path)
    if folder.is_dir():
        files = [p for p in folder.rglob("*") if p.suffix.lower() in MIDI_SUFFIXES]
    else:
        files = [Path(p) for p in glob.glob(path, recursive=True)]
        files = [p for p in files if p.is_file() and p.suffix.lower() in MIDI_SUFFIXES]
    if not files:
        raise ConfigError(f"[data] path {path!r}: no MIDI files there (a folder or a glob)")
    return sorted(files)


@dataclass(frozen=True)
class WindowData:
    train: np.ndarray  # (W, N, 4) rows
    val: np.ndarray
    files: int
    skipped: list[str] = field(default_factory=list)
    identity: dict[str, str] = field(default_factory=dict)  # what --resume must find again


def load_window_data(path: str, window: int) -> WindowData:
    files = midi_files(path)
    is_val = [zlib.crc32(p.name.encode()) % 100 < VAL_PERCENT for p in files]
    if not any(is_val) and len(files) > 1:
        is_val[-1] = True
    train, val, skipped = [], [], []
    digest = hashlib.sha256()
    for file, val_file in zip(files, is_val, strict=True):
        digest.update(f"{file.name}:{file.stat().st_size}\n".encode())
        try:
            rows = read_windows(file, window).rows
        except MidiFileError as err:
            skipped.append(str(err))
            continue
        (val if val_file else train).append(rows)
    empty = np.zeros((0, window, 4), dtype=np.float32)
    train_rows = np.concatenate(train) if train else empty
    if not len(train_rows):
        raise ConfigError(f"[data] path {path!r}: no file has a whole window of {window} notes")
    return WindowData(
        train_rows,
        np.concatenate(val) if val else empty,
        len(files),
        skipped,
        {"path": path, "files_sha256": digest.hexdigest()},
    )


class WindowBatches:
    """Batches of (pitch (B, N) int64, fields (B, N, 3) float32) for a step, augmented."""

    def __init__(
        self,
        rows: np.ndarray,
        batch_size: int,
        seed: int,
        transpose_semitones: int = 0,
        velocity_scale: float = 0.0,
    ) -> None:
        self.rows = rows
        self.batch_size = batch_size
        self.seed = seed
        self.transpose = transpose_semitones
        self.velocity_scale = velocity_scale

    def batch(self, step: int, micro: int = 0) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, step, micro])
        rows = self.rows[rng.integers(0, len(self.rows), self.batch_size)].copy()
        if self.transpose:
            low = np.maximum(-self.transpose, -rows[..., PITCH].min(axis=1))
            high = np.minimum(self.transpose, 127 - rows[..., PITCH].max(axis=1))
            shift = np.floor(low + rng.random(len(rows)) * (high - low + 1))
            rows[..., PITCH] += np.minimum(shift, high)[:, None]
        if self.velocity_scale:
            factor = 1 + self.velocity_scale * (2 * rng.random(len(rows)) - 1)
            rows[..., VELOCITY] = np.clip(rows[..., VELOCITY] * factor[:, None], 1 / 127, 1.0)
        return to_features(rows)


def fixed_batches(rows: np.ndarray, batch_size: int, limit: int) -> list[tuple[np.ndarray, ...]]:
    """Up to `limit` windows of `rows` in order, as feature batches (validation)."""
    rows = rows[:limit]
    return [to_features(rows[i : i + batch_size]) for i in range(0, len(rows), batch_size)]
