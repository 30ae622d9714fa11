"""The flat transformer's exporter: a checkpoint to an ONNX model folder with KV-cached graphs.

One graph serves prefill (T tokens) and decode (T = 1):
  inputs   tokens (B, T) int64,
           past_k_<l>, past_v_<l> (P, B*kv_dim) per layer: the keys/values of positions 0..P-1
  outputs  logits (B, T, vocab), new_k, new_v (n_layer, T, B*kv_dim)
(kv_dim = key/value heads x head size.) The engine owns one preallocated (context, B*kv_dim)
buffer per layer for keys and for values and passes its first P rows, a contiguous view, so
nothing is copied; it writes the T new rows at P..P+T-1 itself. The graph reads the cache once
(a GEMM against block-diagonal queries, see train/models/transformer.py) and no further than P,
so a step costs in proportion to the context, and rolling back is passing fewer rows.

The folder holds `model.onnx`, `decode.onnx` (the same function traced for one token and one
batch row: static shapes fold away half the nodes, ~15% faster per step) and `model.toml`
(model config, tokenizer config + version, precision, opset, cache layout, parity figures),
written to a temp folder and renamed.
"""

from __future__ import annotations

import pickle
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from livegen.export.onnx_folder import check_model_folder, quantize, replace_folder
from livegen.export.transformer_gqa import build_gqa_graph
from livegen.train.checkpoint import read_torch_file
from livegen.train.models.transformer import KVCache, ModelConfig, Transformer
from torch import nn

from livegen.config import dump_toml, to_mapping
from livegen.errors import ModelLoadError
from livegen.inference.model_dir import CUDA_GRAPH, FORMAT_VERSION, PRECISIONS

OPSET = 17
ATTENTIONS = ("auto", "gqa", "portable")
# Parity limits for `--verify`: max |logit difference| over a 300-token run against PyTorch.
TOLERANCES = {"fp32": 1e-4, "fp16": 5e-2, "int8": 0.5}


class _CachedGraph(nn.Module):
    """The exported signature: one past input per layer so the engine can bind cache views."""

    def __init__(self, model: Transformer) -> None:
        super().__init__()
        self.model = model

    def forward(self, tokens: torch.Tensor, *pasts: torch.Tensor):
        n = self.model.config.n_layer
        return self.model.forward_cached(tokens, list(pasts[:n]), list(pasts[n:]))


def load_checkpoint(path: str | Path) -> tuple[Transformer, dict[str, Any]]:
    """The model of a training checkpoint (eval mode, fp32) and the checkpoint dict."""
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"checkpoint not found: {path}")
    try:
        ckpt = read_torch_file(path)
        config = ModelConfig(**ckpt["model_config"])
        model = Transformer(config)
        model.load_state_dict(ckpt["model"])
    except (KeyError, RuntimeError, TypeError, ValueError, EOFError, OSError) as err:
        raise ModelLoadError(f"{path}: not a livegen checkpoint ({err})") from err
    except pickle.UnpicklingError as err:
        raise ModelLoadError(f"{path}: not a livegen checkpoint ({err})") from err
    return model.eval().float(), ckpt


def input_names(config: ModelConfig) -> list[str]:
    layers = range(config.n_layer)
    return ["tokens", *(f"past_k_{i}" for i in layers), *(f"past_v_{i}" for i in layers)]


def export_onnx(model: Transformer, path: Path, decode: bool = False, opset: int = OPSET) -> None:
    """Trace the cached forward into `path` (fp32).

    The general graph has dynamic batch, tokens and cache length. The decode graph is the same
    function traced for one batch row and one token, with only the cache length dynamic: its
    shapes are constants, so onnxruntime folds away the shape arithmetic of the general graph
    (about half of its nodes), which is most of a step's fixed cost.
    """
    c = model.config
    graph = _CachedGraph(model).eval()
    tokens = torch.zeros(1, 1 if decode else 3, dtype=torch.long)
    past = torch.zeros(8, c.kv_dim)
    names = input_names(c)
    dynamic: dict[str, dict[int, str]] = {}
    if not decode:
        dynamic = {"tokens": {0: "batch", 1: "tokens"}, "logits": {0: "batch", 1: "tokens"}}
        for name in ("new_k", "new_v"):
            dynamic[name] = {1: "tokens", 2: "batch_x_kv_dim"}
    for name in names[1:]:
        dynamic[name] = {0: "past"} if decode else {0: "past", 1: "batch_x_kv_dim"}
    with torch.no_grad(), warnings.catch_warnings():
        # the TorchScript exporter is deprecated but traces this graph exactly; its notices
        # (and tracer warnings about shape-dependent Python values) are noise here
        warnings.simplefilter("ignore")
        torch.onnx.export(
            graph,
            (tokens, *([past] * (2 * c.n_layer))),
            str(path),
            input_names=names,
            output_names=["logits", "new_k", "new_v"],
            dynamic_axes=dynamic,
            opset_version=opset,
            dynamo=False,
        )


def model_toml(
    config: ModelConfig,
    tokenizer: dict[str, Any],
    precision: str,
    parity: dict[str, Any],
    cache: str = "fixed",
    cuda: dict[str, Any] | None = None,
) -> str:
    meta: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "precision": precision,
        "opset": OPSET,
        "cache": cache,
        "exported_with": f"torch {torch.__version__}",
        "model": to_mapping(config),
        "tokenizer": tokenizer,
    }
    if parity:
        meta["parity"] = parity
    if cuda:
        meta["cuda"] = cuda
    return dump_toml(meta)


def export_model_dir(
    model: Transformer,
    tokenizer: dict[str, Any],
    out_dir: str | Path,
    precision: str = "fp32",
    verify: bool = False,
    verify_steps: int = 300,
    progress: Callable[[str], None] | None = None,
    attention: str = "auto",
    tokenizer_files: dict[str, str] | None = None,
    cuda_graph: bool = False,
) -> tuple[Path, dict[str, Any]]:
    """Write `out_dir` atomically (temp folder in the same parent, then rename).

    cuda_graph: also write CUDA_GRAPH, the same GroupQueryAttention graph in fp16, which the
    engine runs instead of model.onnx when it runs on CUDA (the op computes in fp16/bf16 there;
    an int8 model.onnx is for CPUs). Verified like model.onnx, on this machine's onnxruntime.

    attention: "gqa" (GroupQueryAttention graph, the measured fastest), "portable" (the traced
    graph, any onnxruntime) or "auto" (gqa unless the model uses relative attention, which
    the op cannot express). Returns the folder and the parity figures (empty unless `verify`).
    A failed verification raises ModelLoadError and leaves no folder behind.
    """
    if precision not in PRECISIONS:
        raise ModelLoadError(f"precision {precision!r} not one of {', '.join(PRECISIONS)}")
    if attention not in ATTENTIONS:
        raise ModelLoadError(f"attention {attention!r} not one of {', '.join(ATTENTIONS)}")
    if attention == "auto":
        attention = "portable" if model.config.position == "relative" else "gqa"
    if attention == "gqa" and model.config.position == "relative":
        raise ModelLoadError("attention 'gqa' cannot express relative attention; use 'portable'")
    cache = "shared" if attention == "gqa" else "fixed"
    if cuda_graph and cache != "shared":
        raise ModelLoadError("a CUDA graph is a GroupQueryAttention graph: use attention 'gqa'")
    out_dir = Path(out_dir)
    check_model_folder(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda _msg: None)
    model = model.eval().float()
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        if cache == "shared":
            say(f"building the GroupQueryAttention graph, {precision}")
            fp32 = tmp / "model.fp32.onnx"
            onnx.save(build_gqa_graph(model), str(fp32))
            quantize(fp32, tmp / "model.onnx", precision)
            if cuda_graph:
                say(f"writing {CUDA_GRAPH} (fp16) for CUDA")
                quantize(fp32, tmp / CUDA_GRAPH, "fp16")
            fp32.unlink()
        else:
            say(f"tracing the cached graphs (prefill and decode), {precision}")
            for graph_name, decode in (("model", False), ("decode", True)):
                fp32 = tmp / f"{graph_name}.fp32.onnx"
                export_onnx(model, fp32, decode=decode)
                quantize(fp32, tmp / f"{graph_name}.onnx", precision)
                fp32.unlink()
        parity: dict[str, Any] = {}
        if verify:
            say(f"verifying against PyTorch over {verify_steps} tokens")
            parity = verify_parity(model, tmp, precision, cache, steps=verify_steps)
            if not parity["ok"]:
                raise ModelLoadError(
                    f"export failed verification: max |logit diff| {parity['max_abs_diff']:.3g}"
                    f" > {parity['tolerance']} or greedy tokens differ"
                )
        cuda: dict[str, Any] = {}
        if cuda_graph:
            cuda = {"graph": CUDA_GRAPH, "precision": "fp16"}
            if verify:
                say(f"verifying {CUDA_GRAPH} against PyTorch over {verify_steps} tokens")
                cuda_parity = verify_parity(
                    model, tmp, "fp16", cache, steps=verify_steps, graph=CUDA_GRAPH
                )
                if not cuda_parity["ok"]:
                    raise ModelLoadError(
                        f"{CUDA_GRAPH} failed verification: max |logit diff| "
                        f"{cuda_parity['max_abs_diff']:.3g} > {cuda_parity['tolerance']}"
                    )
                cuda["parity"] = cuda_parity
        meta = model_toml(model.config, tokenizer, precision, parity, cache, cuda)
        (tmp / "model.toml").write_text(meta)
        for name, text in (tokenizer_files or {}).items():  # remi-bpe's trained BPE (issue 15)
            (tmp / Path(name).name).write_text(text)
        tmp.chmod(0o755)  # mkdtemp makes it private; a model folder is ordinary data
        replace_folder(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir, parity


def export_checkpoint(
    ckpt_path: str | Path,
    out_dir: str | Path,
    precision: str = "fp32",
    verify: bool = False,
    progress: Callable[[str], None] | None = None,
    attention: str = "auto",
    cuda_graph: bool = False,
) -> tuple[Path, dict[str, Any]]:
    """`livegen export --onnx CKPT -o DIR`: load, export, optionally verify."""
    check_model_folder(Path(out_dir), (Path(ckpt_path),))  # before the long work
    model, ckpt = load_checkpoint(ckpt_path)
    tokenizer = ckpt.get("tokenizer")
    if not isinstance(tokenizer, dict):
        raise ModelLoadError(f"{ckpt_path}: checkpoint has no tokenizer config")
    return export_model_dir(
        model,
        tokenizer,
        out_dir,
        precision,
        verify,
        progress=progress,
        attention=attention,
        tokenizer_files=ckpt.get("tokenizer_files"),
        cuda_graph=cuda_graph,
    )


def verify_parity(
    model: Transformer,
    folder: Path,
    precision: str,
    cache: str = "fixed",
    steps: int = 300,
    seed: int = 0,
    graph: str = "model.onnx",
) -> dict[str, Any]:
    """Run PyTorch (KVCache) and onnxruntime (the engine's runner) in lockstep.

    A 16-token prompt, then `steps` greedy decode steps; twice during the run both roll back
    40 tokens and continue with the runner-up token, so steps after a rollback are covered.
    The PyTorch token is fed to both, so fp16/int8 runs stay aligned; `greedy_agreement` is the
    share of steps where both argmaxes agree. fp32 must agree at every step.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # single-token steps: extra threads only add contention
    try:
        return _lockstep(model, folder, precision, cache, steps, seed, graph)
    finally:
        torch.set_num_threads(threads)


def _lockstep(
    model: Transformer,
    folder: Path,
    precision: str,
    cache: str,
    steps: int,
    seed: int,
    graph: str = "model.onnx",
) -> dict[str, Any]:
    from livegen.inference.engine import DECODE_GRAPH, make_session, open_runner
    from livegen.inference.model_dir import ModelInfo

    c = model.config
    steps = min(steps, c.context - 16)
    rng = np.random.default_rng(seed)
    info = ModelInfo(folder, precision, OPSET, cache, to_mapping(c), {})
    decode = folder / DECODE_GRAPH
    runner = open_runner(
        info,
        make_session(folder / graph)[0],
        decode_session=make_session(decode)[0] if decode.is_file() else None,
    )
    cache = KVCache(model)
    prompt = rng.integers(0, c.vocab_size, size=16)
    ours = runner.feed(prompt[None, :])[0, -1]
    theirs = cache.feed(torch.from_numpy(prompt)[None, :])[0, -1].numpy()
    diffs, agree = [], 0
    rollbacks = {steps // 2, (3 * steps) // 4}
    for step in range(steps):
        diffs.append(float(np.abs(ours - theirs).max()))
        agree += int(ours.argmax() == theirs.argmax())
        token = int(theirs.argmax())
        if step in rollbacks:
            back = cache.position - 40
            cache.rollback(back)
            runner.rollback(back)
            token = int(np.argsort(theirs)[-2])  # a different continuation
        ours = runner.feed(np.array([[token]]))[0, -1]
        theirs = cache.feed(torch.tensor([[token]]))[0, -1].numpy()
    max_diff = max(diffs)
    tolerance = TOLERANCES[precision]
    agreement = agree / steps
    ok = max_diff <= tolerance and (precision != "fp32" or agreement == 1.0)
    return {
        "steps": steps,
        "rollbacks": len(rollbacks),
        "max_abs_diff": max_diff,
        "mean_abs_diff": float(np.mean(diffs)),
        "tolerance": tolerance,
        "greedy_agreement": agreement,
        "ok": ok,
    }
