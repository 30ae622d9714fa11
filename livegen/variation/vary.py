"""`livegen vary`: a variation of every window of a MIDI file, from an exported vae/ddpm folder.

- vae:  each window's latent mean plus `strength` x N(0, 1) noise, decoded greedily
        (strength 0 is the model's reconstruction).
- ddim / ddpm: each window noised to t = strength x (T - 1) and denoised back in `steps` steps,
        deterministically (ddim, eta 0) or with fresh noise at every step (ddpm, eta 1; strided
        when steps < t). Strength 0 keeps the window, 1 starts from pure noise.
The varied rows replace the window's notes (same channels and programs, placed from the window's
origin); drums and the notes after the last whole window are kept as they were. A key struck
twice at one tick (a varied chord repeating a pitch) is written once, as a MIDI file can only hold
it once. Torch-free.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from livegen.errors import ConfigError
from livegen.tokenizer import Note, read_midi, write_midi
from livegen.variation.model import VariationModel
from livegen.variation.notes import cut_windows, from_features, to_features, windows_to_notes

METHODS = {"vae": ("vae",), "ddpm": ("ddim", "ddpm")}
ETA = {"ddim": 0.0, "ddpm": 1.0}


@dataclass(frozen=True)
class VaryResult:
    path: Path
    windows: int
    notes: int
    method: str
    seconds: float  # the model's part: encoding, sampling and decoding the windows


def default_method(model: VariationModel) -> str:
    return METHODS[model.kind][0]


def vary_rows(
    model: VariationModel,
    rows: np.ndarray,
    method: str | None = None,
    strength: float = 0.5,
    steps: int = 10,
    seed: int | None = None,
) -> np.ndarray:
    """Varied (W, N, 4) rows of (W, N, 4) windows."""
    method = method or default_method(model)
    if method not in METHODS[model.kind]:
        raise ConfigError(
            f"method {method!r} does not fit a {model.kind} model; use "
            f"{' or '.join(METHODS[model.kind])}"
        )
    if not 0 <= strength <= 1:
        raise ConfigError(f"strength must be in [0, 1], got {strength}")
    if not len(rows):
        return rows
    rng = np.random.default_rng(seed)
    pitch, fields = to_features(rows)
    if method == "vae":
        mu, _ = model.encode(pitch, fields)
        z = mu + strength * rng.standard_normal(mu.shape).astype(np.float32)
        new_pitch, new_fields = model.decode(z)
        return from_features(new_pitch, new_fields)
    schedule = model.schedule
    start_t = round(strength * (schedule.timesteps - 1))
    x0 = model.to_x0(pitch, fields)
    x = schedule.add_noise(x0, rng.standard_normal(x0.shape).astype(np.float32), start_t)
    return from_features(*model.from_x0(denoise(model, x, start_t, steps, ETA[method], rng)))


def denoise(
    model: VariationModel,
    x_t: np.ndarray,
    start_t: int,
    steps: int,
    eta: float = 0.0,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """x0 from x_t at `start_t` in `steps` steps of the model's schedule (eta 0: DDIM)."""
    schedule = model.schedule
    plan = schedule.plan(steps, start_t)
    x = x_t
    for i, t in enumerate(plan):
        eps = model.denoise(x, t)
        t_prev = plan[i + 1] if i + 1 < len(plan) else -1
        noise = None
        if eta and t_prev >= 0:
            noise = (rng or np.random.default_rng()).standard_normal(x.shape).astype(np.float32)
        x = schedule.step(eps, t, t_prev, x, eta if noise is not None else 0.0, noise)
    return x


def _one_per_key_and_onset(notes: list[Note], ticks_per_beat: int) -> list[Note]:
    seen: set[tuple[int, int, int]] = set()
    kept = []
    for note in notes:
        key = (note.channel, note.pitch, round(note.start_beat * ticks_per_beat))
        if key not in seen:
            seen.add(key)
            kept.append(note)
    return kept


def vary_file(
    in_path: str | Path,
    out_path: str | Path,
    model: VariationModel,
    method: str | None = None,
    strength: float = 0.5,
    steps: int = 10,
    seed: int | None = None,
) -> VaryResult:
    """Write a variation of `in_path` to `out_path` (tempo, meter and resolution kept)."""
    score = read_midi(in_path)
    windows = cut_windows(score.notes, model.window)
    started = time.perf_counter()
    varied = vary_rows(model, windows.rows, method, strength, steps, seed)
    seconds = time.perf_counter() - started
    notes = _one_per_key_and_onset(windows_to_notes(windows, varied), score.ticks_per_beat)
    write_midi(
        notes,
        out_path,
        tempo_bpm=60_000_000 / score.tempos[0][1],
        ticks_per_beat=score.ticks_per_beat,
        time_signatures=score.time_signatures or ((0.0, 4, 4),),
        inputs=(in_path,),
    )
    used = method or default_method(model)
    return VaryResult(Path(out_path), windows.n_windows, len(notes), used, seconds)
