"""The PyTorch side of `livegen bench`: baselines on the same weights, and a stand-in model.

Kept out of the runtime: `livegen.bench.engine_bench` measures the onnxruntime engine and
receives this module from the CLI only when torch is installed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from livegen.train.checkpoint import read_torch_file
from livegen.train.models.transformer import KVCache, ModelConfig, Transformer

from livegen.bench.engine_bench import CONTEXTS, ms_percentiles, reachable, time_calls
from livegen.inference.model_dir import read_model_dir


def torch_baselines(
    model_dir: Path,
    seq: np.ndarray,
    threads: int,
    repeats: int,
    checkpoint: Path | None = None,
    seeded: bool = False,
) -> tuple[dict[str, Any], str]:
    """PyTorch recompute and KV-cache decode on the same architecture and, where known, the
    same weights: a training checkpoint (given, or shipped in the folder as checkpoint.pt), or
    the seed the stand-in random model was made with."""
    info = read_model_dir(model_dir)
    torch.set_num_threads(threads)
    torch.manual_seed(0)  # random_default_model's seed: the same weights when `seeded`
    model = Transformer(ModelConfig(**info.model)).eval()
    weights = "the same weights (same seed)" if seeded else "random weights of the same shape"
    shipped = model_dir / "checkpoint.pt"
    source = checkpoint or (shipped if shipped.is_file() else None)
    if source is not None:
        state = read_torch_file(source)
        model.load_state_dict(state.get("model", state))
        model.float()
        weights = f"the same weights ({source})"
    ids = torch.from_numpy(seq.astype(np.int64))[None, :]
    recompute: dict[str, dict[str, float]] = {}
    kv: dict[str, dict[str, float]] = {}
    with torch.inference_mode():
        for ctx_name in CONTEXTS:
            ctx = reachable(ctx_name, info.context)
            window = ids[:, : ctx + 1]
            model(window)  # warm-up
            recompute[str(ctx_name)] = ms_percentiles(
                time_calls(lambda w=window: model(w), max(5, repeats // 20))
            )
            cache = KVCache(model)
            cache.feed(ids[:, :ctx])
            token = ids[:, ctx : ctx + 1]

            def one(cache: KVCache = cache, ctx: int = ctx, token: torch.Tensor = token) -> None:
                cache.rollback(ctx)
                cache.feed(token)

            time_calls(one, 10)
            kv[str(ctx_name)] = ms_percentiles(time_calls(one, repeats))
    baselines = {"torch_recompute": {"decode_ms": recompute}, "torch_kv_cache": {"decode_ms": kv}}
    return baselines, weights


def random_default_model(
    folder: Path, precision: str = "fp32", attention: str = "auto", name: str = "random-default"
) -> Path:
    """Until a trained default ships: a random model of the default size (needs torch)."""
    from livegen.export.tiny import runtime_tokenizer
    from livegen.export.transformer_onnx import export_model_dir

    from livegen.config import read_toml

    vocab_size, tokenizer = runtime_tokenizer()
    shape = read_toml(Path(__file__).resolve().parents[1] / "configs" / "model" / "default.toml")
    torch.manual_seed(0)
    model = Transformer(ModelConfig(**{**shape, "vocab_size": vocab_size}))
    out, _ = export_model_dir(
        model, tokenizer, folder / name, precision=precision, attention=attention
    )
    return out
