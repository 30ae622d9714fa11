"""Scores of an exported vae/ddpm folder on MIDI files: the figures issue 17 compares.

- `accuracy`, `iou`: pitch accuracy and mean piano-roll IoU (metrics.py) of each window's output
  against the window itself: for a vae at strength 0 its reconstruction (the latent mean decoded,
  the reference's "reconstruction accuracy"); at a strength above 0, or for ddim/ddpm, the
  variation, which is meant to differ.
- `fad`: Fréchet distance between features of the real windows and of as many windows generated
  from nothing (vae: z ~ N(0, 1); ddim/ddpm: from pure noise in `steps` steps). Features = the
  latent mean of a VAE encoder: the model's own for a vae, the folder `features` names for a
  ddpm (without one, no fad). A fixed, documented extractor, not a pretrained audio model: the
  numbers compare models scored with the same VAE, not with the reference's.
- `samples_per_s`: windows generated from nothing per second (one batch, one thread), and
  `seconds_per_10k` the same as the reference reports it; `vary_ms_per_window`: the median time
  of varying one window (16 notes, about two bars) with `steps` steps, the live case.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from livegen.errors import ConfigError, MidiFileError
from livegen.variation.metrics import frechet_distance, pitch_accuracy, roll_iou
from livegen.variation.model import VariationModel
from livegen.variation.notes import from_features, read_windows, to_features
from livegen.variation.vary import ETA, default_method, denoise, vary_rows

MIDI_SUFFIXES = (".mid", ".midi")


def load_rows(path: str | Path, window: int, max_files: int = 0) -> tuple[np.ndarray, int]:
    """All windows of the MIDI files under a folder (or one file); (rows, files read)."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(
        p for p in path.rglob("*") if p.suffix.lower() in MIDI_SUFFIXES
    )  # fmt: skip
    if max_files:
        files = files[:max_files]
    rows, read = [], 0
    for file in files:
        try:
            rows.append(read_windows(file, window).rows)
            read += 1
        except MidiFileError:
            continue
    if not rows or not sum(len(r) for r in rows):
        raise ConfigError(f"{path}: no MIDI file with a whole window of {window} notes")
    return np.concatenate(rows), read


def generate(model: VariationModel, count: int, method: str, steps: int, seed: int) -> np.ndarray:
    """`count` windows from nothing, as (count, N, 4) rows."""
    rng = np.random.default_rng(seed)
    if method == "vae":
        latent = int(model.config["latent"])
        return from_features(*model.decode(rng.standard_normal((count, latent), np.float32)))
    channels = int(model.config["pitch_dim"]) + 3
    x = rng.standard_normal((count, model.window, channels)).astype(np.float32)
    x0 = denoise(model, x, model.schedule.timesteps - 1, steps, ETA[method], rng)
    return from_features(*model.from_x0(x0))


def latent_features(vae: VariationModel, rows: np.ndarray) -> np.ndarray:
    mu, _ = vae.encode(*to_features(rows))
    return mu


def evaluate_variation(
    model_dir: str | Path,
    data: str | Path,
    *,
    method: str | None = None,
    strength: float | None = None,
    steps: int = 10,
    seed: int = 0,
    features: str | Path | None = None,
    max_files: int = 0,
    max_windows: int = 1000,
) -> dict[str, Any]:
    model = VariationModel.load(model_dir)
    method = method or default_method(model)
    if strength is None:
        strength = 0.0 if method == "vae" else 0.5
    rows, files = load_rows(data, model.window, max_files)
    rows = rows[np.random.default_rng(seed).permutation(len(rows))[:max_windows]]
    output = vary_rows(model, rows, method, strength, steps, seed)

    started = time.perf_counter()
    generated = generate(model, len(rows), method, steps, seed)
    gen_seconds = time.perf_counter() - started

    single = []
    for i in range(min(20, len(rows))):
        t0 = time.perf_counter()
        vary_rows(model, rows[i : i + 1], method, 0.5, steps, seed)
        single.append(time.perf_counter() - t0)

    fad = None
    extractor = model if model.kind == "vae" else None
    if features is not None:
        extractor = VariationModel.load(features)
        if extractor.kind != "vae":
            raise ConfigError(f"--features {features}: a {extractor.kind} model; name a vae folder")
    if extractor is not None and len(rows) > 1:
        real = latent_features(extractor, rows)
        fake = latent_features(extractor, generated)
        fad = frechet_distance(real, fake)
    samples_per_s = len(rows) / max(gen_seconds, 1e-9)
    return {
        "model": str(model_dir),
        "kind": model.kind,
        "method": method,
        "strength": strength,
        "steps": steps if method != "vae" else None,
        "files": files,
        "windows": len(rows),
        "accuracy": pitch_accuracy(rows, output),
        "iou": roll_iou(rows, output),
        "fad": fad,
        "fad_features": str(features or model_dir) if fad is not None else None,
        "samples_per_s": samples_per_s,
        "seconds_per_10k": 10_000 / samples_per_s,
        "vary_ms_per_window": float(np.median(single) * 1000) if single else None,
    }


def format_report(report: dict[str, Any]) -> str:
    fad = "n/a (no VAE features)" if report["fad"] is None else f"{report['fad']:.3f}"
    steps = f", {report['steps']} steps" if report["steps"] else ""
    return "\n".join(
        [
            f"{report['kind']} ({report['method']}, strength {report['strength']}{steps}) on "
            f"{report['windows']} windows of {report['files']} files",
            f"  pitch accuracy     {report['accuracy']:.3f}",
            f"  piano-roll IoU     {report['iou']:.3f}",
            f"  FAD (VAE latents)  {fad}",
            f"  samples/s          {report['samples_per_s']:,.0f} "
            f"({report['seconds_per_10k']:.2f} s per 10k)",
            f"  vary one window    {report['vary_ms_per_window']:.1f} ms",
        ]
    )
