"""The hierarchical model's exporter: a checkpoint to a folder with two KV-cached ONNX graphs.

  event.onnx  event_tokens (B, N, L) int64 (N closed events, PAD-padded to L tokens),
              past_k_<l>, past_v_<l> (P, B*kv_dim): the event cache of events 0..P-1
              -> hidden (B, N, d_model), new_k, new_v (n_layer, N, B*kv_dim)
  token.onnx  hidden (B, d_model): the previous event's state, tokens (B, T) of the open event,
              past_k_<l>, past_v_<l> (P, B*token_d_model): its first P tokens (reset per event)
              -> logits (B, T, vocab), new_k, new_v (token_layers, T, B*token_d_model)

Both are the PyTorch model's own `event_step` / `token_step` traced (train/models/
hierarchical.py), so torch and onnxruntime share one definition; the runtime drives them with
livegen/inference/hier_runner.py. model.toml records `kind = "hierarchical"`, the model config
(with the event grouping as token ids), the tokenizer, precision and parity. `--verify` runs
PyTorch (HierCache) and onnxruntime (HierRunner) in lockstep as for the flat model: fp32 within
1e-4 and greedy-identical over 300 tokens with two rollbacks.
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
import torch
from livegen.export.onnx_folder import check_model_folder, quantize, replace_folder
from livegen.export.transformer_onnx import OPSET, TOLERANCES
from livegen.train.checkpoint import read_torch_file
from livegen.train.models.hierarchical import HierarchicalTransformer, HierCache, HierConfig
from torch import nn

from livegen.config import dump_toml, to_mapping
from livegen.errors import ModelLoadError
from livegen.inference.hier_runner import EVENT_GRAPH, TOKEN_GRAPH
from livegen.inference.model_dir import FORMAT_VERSION, PRECISIONS

KIND = "hierarchical"


class _EventGraph(nn.Module):
    def __init__(self, model: HierarchicalTransformer) -> None:
        super().__init__()
        self.model = model

    def forward(self, event_tokens: torch.Tensor, *pasts: torch.Tensor):
        n = self.model.config.n_layer
        return self.model.event_step(event_tokens, list(pasts[:n]), list(pasts[n:]))


class _TokenGraph(nn.Module):
    def __init__(self, model: HierarchicalTransformer) -> None:
        super().__init__()
        self.model = model

    def forward(self, hidden: torch.Tensor, tokens: torch.Tensor, *pasts: torch.Tensor):
        n = self.model.config.token_layers
        return self.model.token_step(hidden, tokens, list(pasts[:n]), list(pasts[n:]))


def is_hierarchical_checkpoint(path: str | Path) -> bool:
    try:
        return read_torch_file(Path(path)).get("model_kind") == KIND
    except (OSError, RuntimeError, pickle.UnpicklingError, ModelLoadError):
        return False


def load_checkpoint(path: str | Path) -> tuple[HierarchicalTransformer, dict[str, Any]]:
    """The model of a hierarchical training checkpoint (eval mode, fp32) and the dict."""
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"checkpoint not found: {path}")
    try:
        ckpt = read_torch_file(path)
        model = HierarchicalTransformer(HierConfig(**ckpt["model_config"]))
        model.load_state_dict(ckpt["model"])
    except (KeyError, RuntimeError, TypeError, ValueError, EOFError, OSError) as err:
        raise ModelLoadError(f"{path}: not a hierarchical livegen checkpoint ({err})") from err
    return model.eval().float(), ckpt


def _names(n_layer: int) -> list[str]:
    layers = range(n_layer)
    return [*(f"past_k_{i}" for i in layers), *(f"past_v_{i}" for i in layers)]


def export_graphs(model: HierarchicalTransformer, folder: Path) -> None:
    """Trace both cached steps into folder/event.onnx and folder/token.onnx (fp32)."""
    c = model.config
    ev, tok = c.event_config(), c.token_config()
    ev_names, tok_names = _names(ev.n_layer), _names(tok.n_layer)
    ev_dynamic: dict[str, dict[int, str]] = {
        "event_tokens": {0: "batch", 1: "events", 2: "length"},
        "hidden": {0: "batch", 1: "events"},
        "new_k": {1: "events", 2: "batch_x_kv_dim"},
        "new_v": {1: "events", 2: "batch_x_kv_dim"},
    }
    tok_dynamic: dict[str, dict[int, str]] = {
        "hidden": {0: "batch"},
        "tokens": {0: "batch", 1: "tokens"},
        "logits": {0: "batch", 1: "tokens"},
        "new_k": {1: "tokens", 2: "batch_x_kv_dim"},
        "new_v": {1: "tokens", 2: "batch_x_kv_dim"},
    }
    for name in ev_names:
        ev_dynamic[name] = {0: "past", 1: "batch_x_kv_dim"}
    for name in tok_names:
        tok_dynamic[name] = {0: "past", 1: "batch_x_kv_dim"}
    ev_past = torch.zeros(4, ev.kv_dim)
    tok_past = torch.zeros(2, tok.kv_dim)
    jobs = (
        (
            _EventGraph(model),
            (torch.full((1, 2, 3), c.pad_id, dtype=torch.long), *([ev_past] * 2 * ev.n_layer)),
            ["event_tokens", *ev_names],
            ["hidden", "new_k", "new_v"],
            ev_dynamic,
            folder / EVENT_GRAPH,
        ),
        (
            _TokenGraph(model),
            (torch.zeros(1, c.d_model), torch.zeros(1, 3, dtype=torch.long),
             *([tok_past] * 2 * tok.n_layer)),
            ["hidden", "tokens", *tok_names],
            ["logits", "new_k", "new_v"],
            tok_dynamic,
            folder / TOKEN_GRAPH,
        ),
    )  # fmt: skip
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notices
        for graph, args, inputs, outputs, dynamic, path in jobs:
            torch.onnx.export(
                graph.eval(),
                args,
                str(path),
                input_names=inputs,
                output_names=outputs,
                dynamic_axes=dynamic,
                opset_version=OPSET,
                dynamo=False,
            )


def export_hierarchical(
    ckpt_path: str | Path,
    out_dir: str | Path,
    precision: str = "fp32",
    verify: bool = False,
    progress: Callable[[str], None] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """`livegen export --onnx CKPT -o DIR` for a hierarchical checkpoint."""
    out_dir = Path(out_dir)
    check_model_folder(out_dir, (Path(ckpt_path),))
    model, ckpt = load_checkpoint(ckpt_path)
    tokenizer = ckpt.get("tokenizer")
    if not isinstance(tokenizer, dict):
        raise ModelLoadError(f"{ckpt_path}: checkpoint has no tokenizer config")
    return export_model_dir(model, tokenizer, out_dir, precision, verify, progress)


def export_model_dir(
    model: HierarchicalTransformer,
    tokenizer: dict[str, Any],
    out_dir: Path,
    precision: str = "fp32",
    verify: bool = False,
    progress: Callable[[str], None] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Write the folder atomically (temp folder beside it, then rename)."""
    if precision not in PRECISIONS:
        raise ModelLoadError(f"precision {precision!r} not one of {', '.join(PRECISIONS)}")
    say = progress or (lambda _msg: None)
    model = model.eval().float()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        say(f"tracing the event and token graphs, {precision}")
        raw = tmp / "fp32"
        raw.mkdir()
        export_graphs(model, raw)
        for name in (EVENT_GRAPH, TOKEN_GRAPH):
            quantize(raw / name, tmp / name, precision)
        shutil.rmtree(raw)
        meta: dict[str, Any] = {
            "format": FORMAT_VERSION,
            "kind": KIND,
            "precision": precision,
            "opset": OPSET,
            "cache": "fixed",
            "exported_with": f"torch {torch.__version__}",
            "model": to_mapping(model.config),
            "tokenizer": tokenizer,
        }
        if verify:
            say("verifying against PyTorch over 300 tokens")
            meta["parity"] = verify_parity(model, tmp, meta, precision)
            if not meta["parity"]["ok"]:
                raise ModelLoadError(
                    f"export failed verification: max |logit diff| "
                    f"{meta['parity']['max_abs_diff']:.3g} > {meta['parity']['tolerance']} "
                    "or greedy tokens differ"
                )
        (tmp / "model.toml").write_text(dump_toml(meta))
        tmp.chmod(0o755)
        replace_folder(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir, meta.get("parity", {})


def verify_parity(
    model: HierarchicalTransformer,
    folder: Path,
    meta: dict[str, Any],
    precision: str,
    steps: int = 300,
    seed: int = 0,
) -> dict[str, Any]:
    """PyTorch (HierCache) and onnxruntime (HierRunner) in lockstep, as the flat exporter's
    verify: a 16-token prompt, `steps` greedy steps, two rollbacks of 40 tokens each followed by
    the runner-up token. fp32 must agree on every greedy token."""
    from livegen.inference.engine import make_session
    from livegen.inference.hier_runner import HierRunner
    from livegen.inference.model_dir import ModelInfo

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        c = model.config
        info = ModelInfo(folder, precision, OPSET, "fixed", meta["model"], {}, kind=KIND)
        runner = HierRunner(
            info, make_session(folder / EVENT_GRAPH)[0], make_session(folder / TOKEN_GRAPH)[0]
        )
        cache = HierCache(model)
        steps = min(steps, c.context - 16)
        rng = np.random.default_rng(seed)
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
                back = max(cache.position - 40, 0)
                cache.rollback(back)
                runner.rollback(back)
                token = int(np.argsort(theirs)[-2])
            ours = runner.feed(np.array([[token]]))[0, -1]
            theirs = cache.feed(torch.tensor([[token]]))[0, -1].numpy()
    finally:
        torch.set_num_threads(threads)
    max_diff = max(diffs)
    tolerance = TOLERANCES[precision]
    agreement = agree / steps
    return {
        "steps": steps,
        "rollbacks": len(rollbacks),
        "max_abs_diff": max_diff,
        "mean_abs_diff": float(np.mean(diffs)),
        "tolerance": tolerance,
        "greedy_agreement": agreement,
        "ok": max_diff <= tolerance and (precision != "fp32" or agreement == 1.0),
    }
