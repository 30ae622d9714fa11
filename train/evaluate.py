"""`livegen eval`: a model's NLL and accuracy beside a 4-gram baseline, and how it continues music.

Scoring. Every token of every document except its first (BOS, or the first token of a raw MIDI
file) is predicted, by the model and by the n-gram alike, so the two NLLs (nats per token) are
over the same tokens. A document longer than the model's context is scored in sliding windows
with a stride of half the context; each window scores only the tokens the previous one did not,
with at least half a context of history.

Continuations. For `prompts` held-out documents (evenly spread, long enough), the first
`prompt_tokens` tokens are the prompt and the model samples `continuation_tokens` more
(temperature 1, top-p 0.95, grammar mask). The notes starting after the prompt are compared with
the prompt's own notes:
- pitch_class_overlap: sum over the 12 pitch classes of min(prompt share, continuation share),
  non-drum notes (1 = same histogram, 0 = disjoint), mean over prompts;
- note_density: notes per beat (prompt and continuation);
- on_grid: share of onsets on the 16th-note grid (steps_per_beat / 4), continuation and prompt;
- polyphony: mean number of notes sounding at each onset (prompt and continuation);
- out_of_range: share of continuation notes more than an octave outside the prompt's range;
- stuck_notes: continuation notes held 8 beats or more (prompt's count beside it).

JSON keys: files, tokens, nll, accuracy, perplexity, ngram_nll, ngram_data, nll_ratio
(model / n-gram), split, model, data, continuations{prompts, pitch_class_overlap, note_density,
note_density_prompt, on_grid, on_grid_prompt, polyphony, polyphony_prompt, out_of_range,
stuck_notes, stuck_notes_prompt}.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from livegen.data.progress import progress_bar
from livegen.data.shards import is_prepared, load_split, read_manifest
from livegen.errors import ConfigError
from livegen.tokenizer import Note, TokenizerConfig, Vocab, check_compatible, decode_tokens

from .checkpoint import load_checkpoint
from .models.transformer import ModelConfig, Transformer
from .ngram import KneserNey, fit_on_prepared
from .samples import generate

STUCK_BEATS = 8.0


@dataclass(frozen=True)
class EvalOptions:
    split: str = "test"
    ngram_data: str | None = None
    prompts: int = 16
    prompt_tokens: int = 256
    continuation_tokens: int = 256
    max_files: int = 0
    batch_size: int = 8
    seed: int = 0
    progress: bool = True


def load_torch_model(path: str | Path) -> tuple[Transformer, dict[str, Any]]:
    """A model from a checkpoint file or run folder ('default': the shipped checkpoint).

    `--model` may also name an exported model folder (model.toml + model.onnx); it is then
    scored token by token through livegen.inference.engine (slower, but exactly what `serve` runs).
    """
    from .loop import default_checkpoint_path

    source = default_checkpoint_path() if str(path) == "default" else Path(path)
    state = load_checkpoint(source)
    model = Transformer(ModelConfig(**state["model_config"]))
    model.load_state_dict({k: v.float() for k, v in state["model"].items()})
    model.eval()
    return model, state


class EngineModel:
    """An exported model folder, scored and sampled through onnxruntime (inference.engine)."""

    def __init__(self, path: str | Path) -> None:
        from livegen.inference.engine import Engine

        self.engine = Engine.load(path, overflow="sync")
        self.context = self.engine.context
        self.tokenizer = dict(self.engine.tokenizer_config)

    def score(
        self, tokens: np.ndarray, offsets: np.ndarray, progress: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """Token by token through the KV cache (the engine slides its window past the context)."""
        nll, hits = [], []
        bar = progress_bar(len(offsets) - 1, "score", enabled=progress)
        for d in range(len(offsets) - 1):
            doc = tokens[offsets[d] : offsets[d + 1]].tolist()
            if len(doc) < 2:
                bar.update()
                continue
            self.engine.reset()
            logits = self.engine.prefill([doc[0]])
            for target in doc[1:]:
                logp = logits - _logsumexp(logits)
                nll.append(-float(logp[target]))
                hits.append(int(np.argmax(logits)) == target)
                logits = self.engine.step(target)
            bar.update()
        bar.close()
        return np.asarray(nll), np.asarray(hits, dtype=bool)

    def generate(self, prompt: list[int], n_tokens: int, vocab: Vocab, seed: int) -> list[int]:
        from livegen.inference.sampler import Sampler, SamplingParams
        from livegen.tokenizer import Grammar

        grammar = Grammar(vocab)
        sampler = Sampler(seed)
        params = SamplingParams(temperature=1.0, top_p=0.95)
        self.engine.reset()
        logits = self.engine.prefill(prompt)
        out: list[int] = []
        prev = prompt[-1]
        while len(out) < n_tokens:
            token = sampler.sample(logits, params, grammar.mask_after(prev))
            out.append(token)
            if token == vocab.eos:
                break
            prev = token
            logits = self.engine.step(token)
        return out


def _logsumexp(x: np.ndarray) -> float:
    top = float(np.max(x))
    return top + float(np.log(np.exp(x.astype(np.float64) - top).sum()))


def _is_model_folder(path: str | Path) -> bool:
    from .loop import default_checkpoint_path

    if str(path) == "default":
        return not default_checkpoint_path().is_file()
    return (Path(path) / "model.toml").is_file()


def load_documents(
    data: str | Path, split: str, tokenizer: TokenizerConfig, max_files: int, progress: bool
) -> tuple[np.ndarray, np.ndarray, int]:
    """(tokens, offsets, files) of a prepared split, or of a MIDI folder tokenized now."""
    data = Path(data)
    if is_prepared(data):
        check_compatible(read_manifest(data)["tokenizer"], tokenizer)
        part = load_split(data, split)
        n = part.n_docs if not max_files else min(max_files, part.n_docs)
        offsets = np.asarray(part.offsets[: n + 1], dtype=np.int64)
        return np.asarray(part.tokens[: offsets[-1]], dtype=np.int64), offsets, n
    from livegen.data.prepare import find_midi_files, tokenize_file

    files = find_midi_files(data)
    if max_files:
        files = files[:max_files]
    docs = []
    bar = progress_bar(len(files), "tokenize", enabled=progress)
    for path in files:
        tokens, _, _ = tokenize_file((str(path), tokenizer.to_dict()))
        if tokens is not None and tokens.size > 1:
            docs.append(tokens.astype(np.int64))
        bar.update()
    bar.close()
    if not docs:
        raise ConfigError(f"--data {data}: no readable MIDI files with notes")
    offsets = np.concatenate([[0], np.cumsum([d.size for d in docs])]).astype(np.int64)
    return np.concatenate(docs), offsets, len(docs)


@torch.no_grad()
def score_model(
    model: Transformer,
    tokens: np.ndarray,
    offsets: np.ndarray,
    batch_size: int,
    progress: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-token NLL (nats) and correctness of every token but each document's first."""
    context = model.config.context
    stride = max(context // 2, 1)
    jobs: list[tuple[int, int, int]] = []  # (window start, window end, first scored index)
    for d in range(len(offsets) - 1):
        a, b = int(offsets[d]), int(offsets[d + 1])
        if b - a < 2:
            continue
        start, scored_from = a, a + 1
        while True:
            end = min(start + context, b)
            jobs.append((start, end, scored_from))
            if end == b:
                break
            scored_from = end
            start = end - stride
    nll_parts, hit_parts = [], []
    bar = progress_bar(len(jobs), "score", unit="windows", enabled=progress)
    for i in range(0, len(jobs), batch_size):
        chunk = jobs[i : i + batch_size]
        width = max(e - s for s, e, _ in chunk)
        x = np.zeros((len(chunk), width), dtype=np.int64)
        for row, (s, e, _) in enumerate(chunk):
            x[row, : e - s] = tokens[s:e]
        logits = model(torch.from_numpy(x))[0].float()
        logp = torch.log_softmax(logits, dim=-1)
        for row, (s, e, first) in enumerate(chunk):
            # logits at window index j predict token s + j + 1
            j0, j1 = first - s - 1, e - s - 1
            target = torch.from_numpy(tokens[first:e])
            lp = logp[row, j0:j1]
            nll_parts.append(-lp.gather(1, target[:, None])[:, 0].numpy())
            hit_parts.append((lp.argmax(-1) == target).numpy())
        bar.update(len(chunk))
    bar.close()
    if not nll_parts:
        return np.zeros(0), np.zeros(0, dtype=bool)
    return np.concatenate(nll_parts), np.concatenate(hit_parts)


def ngram_for(ngram_data: str | Path | None, vocab: Vocab) -> KneserNey | None:
    """The 4-gram fitted on a prepared folder's train split (cached there), or None."""
    if ngram_data is None or not is_prepared(ngram_data):
        return None
    return fit_on_prepared(ngram_data, vocab.size, 4)


def continuation_stats(
    model: Transformer | EngineModel,
    tokens: np.ndarray,
    offsets: np.ndarray,
    tokenizer: TokenizerConfig,
    options: EvalOptions,
) -> dict[str, Any]:
    vocab = Vocab(tokenizer)
    spb = tokenizer.steps_per_beat
    lengths = np.diff(offsets)
    eligible = np.flatnonzero(lengths >= options.prompt_tokens + 16)
    if options.prompts == 0 or eligible.size == 0:
        return {"prompts": 0, "pitch_class_overlap": None, "on_grid": None, "stuck_notes": None}
    picks = eligible[
        np.linspace(0, eligible.size - 1, min(options.prompts, eligible.size)).astype(int)
    ]
    context = model.context if isinstance(model, EngineModel) else model.config.context
    prompt_len = min(options.prompt_tokens, context // 2)
    n_new = min(options.continuation_tokens, context - prompt_len)
    rows: list[dict[str, float]] = []
    bar = progress_bar(len(picks), "continue", unit="prompts", enabled=options.progress)
    for i, doc in enumerate(picks):
        prompt = tokens[offsets[doc] : offsets[doc] + prompt_len].tolist()
        if isinstance(model, EngineModel):
            new = model.generate(prompt, n_new, vocab, seed=options.seed + i)
        else:
            new = generate(model, prompt, n_new, vocab, seed=options.seed + i, stop_at_eos=True)
        prompt_notes = decode_tokens(prompt, tokenizer)
        prompt_end = _end_beat(prompt, vocab, spb)
        whole = decode_tokens(prompt + new, tokenizer)
        cont = [n for n in whole if n.start_beat >= prompt_end]
        cont_end = _end_beat(prompt + new, vocab, spb)
        rows.append(_compare(prompt_notes, prompt_end, cont, cont_end - prompt_end, spb))
        bar.update()
    bar.close()

    def mean(key: str) -> float | None:
        values = [r[key] for r in rows if r[key] is not None and not math.isnan(r[key])]
        return float(np.mean(values)) if values else None

    return {
        "prompts": len(rows),
        "prompt_tokens": prompt_len,
        "continuation_tokens": n_new,
        "pitch_class_overlap": mean("pc_overlap"),
        "note_density": mean("density"),
        "note_density_prompt": mean("density_prompt"),
        "on_grid": mean("on_grid"),
        "on_grid_prompt": mean("on_grid_prompt"),
        "polyphony": mean("polyphony"),
        "polyphony_prompt": mean("polyphony_prompt"),
        "out_of_range": mean("out_of_range"),
        "stuck_notes": int(sum(r["stuck"] for r in rows)),
        "stuck_notes_prompt": int(sum(r["stuck_prompt"] for r in rows)),
    }


def _end_beat(tokens: list[int], vocab: Vocab, spb: int) -> float:
    from livegen.tokenizer import TokenKind

    kinds = vocab.kinds[np.asarray(tokens)]
    steps = np.where(kinds == TokenKind.TIME_SHIFT, vocab.args[np.asarray(tokens)], 0)
    return float(steps.sum()) / spb


def _pc_hist(notes: list[Note]) -> np.ndarray:
    hist = np.bincount([n.pitch % 12 for n in notes if n.channel != 9], minlength=12)
    return hist / hist.sum() if hist.sum() else hist.astype(float)


def _on_grid(notes: list[Note], spb: int) -> float:
    if not notes:
        return float("nan")
    grid = max(spb // 4, 1)
    steps = [round(n.start_beat * spb) for n in notes]
    return float(np.mean([s % grid == 0 for s in steps]))


def _polyphony(notes: list[Note]) -> float:
    if not notes:
        return float("nan")
    starts = np.array([n.start_beat for n in notes])
    ends = np.array([n.end_beat for n in notes])
    return float(np.mean([np.sum((starts <= t) & (ends > t)) for t in np.unique(starts)]))


def _compare(
    prompt: list[Note], prompt_beats: float, cont: list[Note], cont_beats: float, spb: int
) -> dict[str, float]:
    pitched = [n.pitch for n in prompt if n.channel != 9]
    low, high = (min(pitched) - 12, max(pitched) + 12) if pitched else (0, 127)
    cont_pitched = [n for n in cont if n.channel != 9]
    outside = [n for n in cont_pitched if not low <= n.pitch <= high]
    has_both = bool(pitched) and bool(cont_pitched)
    return {
        "pc_overlap": float(np.minimum(_pc_hist(prompt), _pc_hist(cont)).sum())
        if has_both
        else float("nan"),
        "density": len(cont) / cont_beats if cont_beats > 0 else float("nan"),
        "density_prompt": len(prompt) / prompt_beats if prompt_beats > 0 else float("nan"),
        "on_grid": _on_grid(cont, spb),
        "on_grid_prompt": _on_grid(prompt, spb),
        "polyphony": _polyphony(cont),
        "polyphony_prompt": _polyphony(prompt),
        "out_of_range": len(outside) / len(cont_pitched) if cont_pitched else float("nan"),
        "stuck": sum(n.end_beat - n.start_beat >= STUCK_BEATS for n in cont),
        "stuck_prompt": sum(n.end_beat - n.start_beat >= STUCK_BEATS for n in prompt),
    }


def evaluate_model(
    model_path: str | Path, data: str | Path, options: EvalOptions = EvalOptions()
) -> dict[str, Any]:
    """Everything `livegen eval` reports, as one JSON-able dict (keys: module docstring)."""
    model: Transformer | EngineModel
    if _is_model_folder(model_path):
        model = EngineModel(model_path)
        state: dict[str, Any] = {"tokenizer": model.tokenizer}
    else:
        model, state = load_torch_model(model_path)
    tokenizer = TokenizerConfig.from_dict(state["tokenizer"], where=f"{model_path} tokenizer")
    vocab = Vocab(tokenizer)
    tokens, offsets, files = load_documents(
        data, options.split, tokenizer, options.max_files, options.progress
    )
    if isinstance(model, EngineModel):
        nll, hits = model.score(tokens, offsets, options.progress)
    else:
        nll, hits = score_model(model, tokens, offsets, options.batch_size, options.progress)
    ngram_source = options.ngram_data
    if ngram_source is None:
        trained_on = state.get("train_config", {}).get("data", {}).get("path")
        ngram_source = str(data) if is_prepared(data) else trained_on
    ngram = ngram_for(ngram_source, vocab)
    ngram_nll = ngram.nll(tokens, offsets) if ngram is not None and nll.size else None
    mean_nll = float(nll.mean()) if nll.size else float("nan")
    report: dict[str, Any] = {
        "model": str(model_path),
        "data": str(data),
        "split": options.split if is_prepared(data) else None,
        "files": int(files),
        "tokens": int(nll.size),
        "nll": mean_nll,
        "perplexity": float(math.exp(mean_nll)) if nll.size else None,
        "accuracy": float(hits.mean()) if hits.size else None,
        "ngram_nll": ngram_nll,
        "ngram_data": ngram_source if ngram is not None else None,
        "nll_ratio": mean_nll / ngram_nll if ngram_nll else None,
        "model_step": state.get("step"),
        "model_params": None if isinstance(model, EngineModel) else model.num_params(),
    }
    report["continuations"] = continuation_stats(model, tokens, offsets, tokenizer, options)
    return report


def format_report(report: dict[str, Any]) -> str:
    """Human-readable summary of evaluate_model's dict."""

    def f(value: Any, fmt: str = ".4f") -> str:
        return "n/a" if value is None else format(value, fmt)

    lines = [
        f"model {report['model']} (step {report['model_step']}, "
        f"{f(report['model_params'], ',')} parameters) on {report['data']} "
        f"[{report['split'] or 'MIDI folder'}]: "
        f"{report['files']} files, {report['tokens']:,} tokens",
        f"  NLL       model {f(report['nll'])}  4-gram {f(report['ngram_nll'])}  "
        f"ratio {f(report['nll_ratio'], '.3f')}  (nats/token, lower is better)",
        f"  accuracy  model {f(report['accuracy'], '.3f')}",
    ]
    c = report["continuations"]
    if c.get("prompts"):
        lines += [
            f"  continuations of {c['prompts']} prompts ({c['prompt_tokens']} tokens, "
            f"+{c['continuation_tokens']}):",
            f"    pitch-class overlap {f(c['pitch_class_overlap'], '.3f')}",
            f"    note density  {f(c['note_density'], '.2f')} /beat "
            f"(prompt {f(c['note_density_prompt'], '.2f')})",
            f"    on grid       {f(c['on_grid'], '.3f')} (prompt {f(c['on_grid_prompt'], '.3f')})",
            f"    polyphony     {f(c['polyphony'], '.2f')} "
            f"(prompt {f(c['polyphony_prompt'], '.2f')})",
            f"    out of range  {f(c['out_of_range'], '.3f')}",
            f"    stuck notes   {c['stuck_notes']} (prompt {c['stuck_notes_prompt']})",
        ]
    return "\n".join(lines)
