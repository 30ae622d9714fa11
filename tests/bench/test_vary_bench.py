"""bench/vary_bench.py, the issue 17 goal's benchmark (DDIM at 10 steps, 2 bars), runs as the docs
give it and reports every figure the docs quote; it asserts no timing (the goal is read from it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PIECE = "piano_mozart_k265_var1_quantized.mid"


def test_the_vary_benchmark_reports_ddim_against_the_goal_and_its_baselines(
    variation_model_dir,
) -> None:
    piece_path = Path(os.environ["LIVEGEN_TESTDATA"]) / "midi" / PIECE
    command = [
        sys.executable, str(ROOT / "bench" / "vary_bench.py"),
        "--ddpm", str(variation_model_dir("ddpm")), "--vae", str(variation_model_dir("vae")),
        "--file", str(piece_path), "--rounds", "1", "--json",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["goal_ms"] == 50.0 and report["bars"] == 2 and report["cpu"]
    (piece,) = report["files"]
    assert piece["file"] == PIECE and piece["spans"] > 0 and piece["notes_per_span"] > 0
    for name in ("ddim", "vae", "numpy_unit"):
        assert piece[name]["calls"] == piece["spans"]
        assert piece[name]["cpu_p50_ms"] > 0 and 0 < piece[name]["p50_ms"] <= piece[name]["max_ms"]
    assert piece["ddim_p95_over_goal"] == round(piece["ddim"]["p95_ms"] / 50.0, 3)
