"""Step latency across context overflow: a window slide in the background vs in place.

Decodes 3 contexts' worth of tokens one at a time and reports, per overflow mode, the median
step, the 99th percentile and the worst step, separately for steps taken while a background
slide was running. A sync slide re-prefills `keep` tokens inside one step (a spike of a
prefill); with the background slide the steps during a slide should look like the others.

    .venv/bin/python bench/engine_overflow.py [MODEL_DIR]   (default: a random default-size model)
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import click
import numpy as np

from livegen.inference.engine import Engine


def run(model: Path, overflow: str, tokens: int) -> dict[str, np.ndarray]:
    """Step times (ms), split by whether a background slide was running during the step."""
    engine = Engine.load(model, overflow=overflow, check_tokenizer=False)
    seq = np.random.default_rng(0).integers(4, engine.vocab_size, size=tokens)
    engine.prefill(seq[:16])
    split: dict[str, list[float]] = {"during a slide": [], "otherwise": []}
    for token in seq[16:]:
        sliding = engine._slide is not None
        started = time.perf_counter_ns()
        engine.step(int(token))
        elapsed = (time.perf_counter_ns() - started) / 1e6
        split["during a slide" if sliding else "otherwise"].append(elapsed)
        time.sleep(0.0005)  # live decoding paces itself; give the worker room as it would have
    return {name: np.asarray(times) for name, times in split.items() if times}


@click.command()
@click.argument("model_dir", required=False, type=click.Path(path_type=Path, file_okay=False))
def main(model_dir: Path | None) -> None:
    """Step latency across a window slide (default MODEL_DIR: a random default-size model)."""
    with tempfile.TemporaryDirectory() as scratch:
        if model_dir is not None:
            model = model_dir
        else:
            from livegen.export.bench_baselines import random_default_model

            model = random_default_model(Path(scratch))
        context = Engine.load(model, check_tokenizer=False).context
        for overflow in ("sync", "background"):
            for name, ms in run(model, overflow, 3 * context).items():
                print(
                    f"{overflow:>10} {name:>15}: {ms.size:5d} steps  p50 {np.median(ms):.3f} ms"
                    f"  p99 {np.percentile(ms, 99):.2f} ms  worst {ms.max():.1f} ms"
                )


if __name__ == "__main__":
    main()
