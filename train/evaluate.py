"""`livegen eval`: a model's NLL and accuracy beside a 4-gram baseline, and how it continues music.

Scoring. Every token of every document except its first (BOS, or the first token of a raw MIDI
file) is predicted, by the model and by the n-gram alike, so the two NLLs (nats per token) are
over the same tokens. A document longer than the model's context is scored in sliding windows
with a stride of half the context; each window scores only the tokens the previous one did not,
with at least half a context of history.

Continuations: train/continuations.py.

Collections. Every scored token counts for its document's collection: a prepared folder's
manifest names it; a plain MIDI folder is one collection named after the folder, or one per
first-level subfolder (`--collection-by subfolder`) or file-name prefix before the first "_"
(`--collection-by prefix`). Per collection the same NLL, accuracy, n-gram NLL and ratio; the
token counts add up to `tokens`.

The n-gram is fitted on `--ngram-data`: a prepared folder's train split, or every file of a
plain MIDI folder (never the folder being scored). Without it: --data when prepared, else the
model's own training data.

Accompaniment (`--accompaniment`): train/accompaniment.py.

A plain folder's files that cannot be read or hold no notes are left out and listed with the
reason (`skipped`), as `data prepare` does.

JSON keys: files, skipped[{file, reason}] (a plain MIDI folder's files left out), tokens, nll,
accuracy, perplexity, ngram_nll, ngram_data, nll_ratio (model / n-gram), split, model, data,
collections{name: {files, tokens, nll, accuracy, ngram_nll, nll_ratio}}, kinds{token kind: {tokens,
nll, accuracy, confidence, ngram_nll}} (confidence: the mean probability of the model's top token
where the target is of that kind; above the accuracy = overconfident), continuations{prompts,
pitch_class_overlap, note_density, note_density_prompt, on_grid, on_grid_prompt, polyphony,
polyphony_prompt, out_of_range, stuck_notes, stuck_notes_prompt, open_notes, open_notes_prompt,
open_note_age, open_note_age_prompt, velocity_spread, velocity_spread_prompt, real{note_density,
polyphony, out_of_range, stuck_notes, open_notes, open_note_age}: the document's own next tokens},
and with --accompaniment accompaniment{files,
single_part_files, unreadable_files, missing_files, target_channels, tokens, tokens_alone,
nll_given_others, nll_alone, nll_ratio, accuracy_given_others, accuracy_alone, and where a
file's target plays in the bars after the cold entry cold_files, cold_tokens,
cold_nll_given_player, cold_nll_alone, cold_nll_ratio}.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from livegen.data.progress import progress_bar
from livegen.data.shards import is_prepared, load_split, read_manifest
from livegen.errors import ConfigError
from livegen.tokenizer import (
    TokenizerConfig,
    Vocab,
    check_compatible,
)

from .checkpoint import load_checkpoint
from .continuations import Sampler, continuation_stats
from .dataset import structure_mask
from .engine_model import EngineModel
from .eval_breakdown import collection_results, collection_table, kind_results, kind_table
from .models import DEFAULT_KIND, model_family
from .models.transformer import Transformer
from .ngram import KneserNey, fit_on_prepared
from .samples import generate

COLLECTION_BY = ("folder", "subfolder", "prefix")


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
    collection_by: str = "folder"  # a plain MIDI folder's collections: COLLECTION_BY
    accompaniment: bool = False
    # continuations: end a note held this long (livegen.inference.hold); 0 = the model's own
    # releases only, what the figures before stop 27 measured
    max_hold_beats: float = 0.0
    # continuations: the sampling temperature (1 = the model's own distribution; `generate`
    # and `serve` play at 0.9)
    temperature: float = 1.0


def load_torch_model(path: str | Path) -> tuple[Transformer, dict[str, Any]]:
    """A model from a checkpoint file or run folder ('default': the shipped checkpoint).

    `--model` may also name an exported model folder (model.toml + model.onnx); it is then
    scored token by token through livegen.inference.engine (slower, but exactly what `serve` runs).
    """
    from .loop import default_checkpoint_path

    source = default_checkpoint_path() if str(path) == "default" else Path(path)
    state = load_checkpoint(source)
    family = model_family(state.get("model_kind", DEFAULT_KIND))  # flat or hierarchical
    model = family.build(family.config(**state["model_config"]))
    model.load_state_dict({k: v.float() for k, v in state["model"].items()})
    model.eval()
    return model, state


def _is_model_folder(path: str | Path) -> bool:
    from .loop import default_checkpoint_path

    if str(path) == "default":
        return not default_checkpoint_path().is_file()
    return (Path(path) / "model.toml").is_file()


@dataclass(frozen=True)
class Documents:
    """The scored documents: flat tokens, offsets (n_docs + 1), and per document its collection
    and its MIDI file (None where a prepared folder no longer knows where the file is); for a
    plain MIDI folder, the files left out as (path in the folder, reason)."""

    tokens: np.ndarray
    offsets: np.ndarray
    collections: tuple[str, ...]
    paths: tuple[Path | None, ...]
    skipped: tuple[tuple[str, str], ...] = ()

    @property
    def n_docs(self) -> int:
        return len(self.offsets) - 1


def load_documents(
    data: str | Path,
    split: str,
    tokenizer: TokenizerConfig,
    max_files: int,
    progress: bool,
    collection_by: str = "folder",
) -> Documents:
    """A prepared split (collections from its manifest), or a MIDI folder tokenized now.

    A plain folder is one collection named after it; with collection_by="subfolder" one per
    first-level subfolder, with "prefix" one per file-name prefix up to the first "_" (`band_`,
    `piano_` in the shared test MIDI); files with neither keep the folder's name.
    """
    data = Path(data)
    if is_prepared(data):
        manifest = read_manifest(data)
        check_compatible(manifest["tokenizer"], tokenizer)
        part = load_split(data, split)
        n = part.n_docs if not max_files else min(max_files, part.n_docs)
        offsets = np.asarray(part.offsets[: n + 1], dtype=np.int64)
        tokens = np.asarray(part.tokens[: offsets[-1]], dtype=np.int64)
        return Documents(tokens, offsets, part.collections[:n], _source_paths(manifest, split, n))
    if collection_by not in COLLECTION_BY:
        raise ConfigError(
            f"collection_by {collection_by!r}: choose one of {', '.join(COLLECTION_BY)}"
        )
    from livegen.data.prepare import find_midi_files, tokenize_file

    files = find_midi_files(data)
    if max_files:
        files = files[:max_files]
    docs, collections, paths, skipped = [], [], [], []
    bar = progress_bar(len(files), "tokenize", enabled=progress)
    for path in files:
        tokens, _, reason = tokenize_file((str(path), tokenizer.to_dict()))
        if tokens is not None and tokens.size > 1:
            docs.append(tokens.astype(np.int64))
            collections.append(_plain_collection(data, path, collection_by))
            paths.append(path)
        else:
            skipped.append((str(path.relative_to(data)), reason or "no notes"))
        bar.update()
    bar.close()
    if not docs:
        raise ConfigError(f"{data}: no readable MIDI files with notes ({len(skipped)} skipped)")
    offsets = np.concatenate([[0], np.cumsum([d.size for d in docs])]).astype(np.int64)
    return Documents(
        np.concatenate(docs), offsets, tuple(collections), tuple(paths), tuple(skipped)
    )


def _plain_collection(root: Path, path: Path, collection_by: str) -> str:
    rel = path.relative_to(root).parts
    if collection_by == "subfolder" and len(rel) > 1:
        return rel[0]
    if collection_by == "prefix" and "_" in path.name:
        return path.name.split("_", 1)[0]
    return root.resolve().name


def _source_paths(manifest: dict[str, Any], split: str, n: int) -> tuple[Path | None, ...]:
    """Where each of the first n documents of a prepared split came from, if still there."""
    roots = {name: entry["root"] for name, entry in manifest.get("sources", {}).items()}
    paths: list[Path | None] = [None] * n
    for record in manifest["files"]:
        if record["split"] != split or record["doc"] >= n:
            continue
        root = roots.get(record.get("origin", ""), manifest.get("root"))
        if root is not None and (Path(root) / record["source"]).is_file():
            paths[record["doc"]] = Path(root) / record["source"]
    return tuple(paths)


@torch.no_grad()
def score_model(
    model: Transformer,
    tokens: np.ndarray,
    offsets: np.ndarray,
    batch_size: int,
    progress: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-token NLL (nats), correctness and confidence (the top token's probability) of every
    token but each document's first."""
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
    nll_parts, hit_parts, confidence_parts = [], [], []
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
            top = lp.max(-1)
            hit_parts.append((top.indices == target).numpy())
            confidence_parts.append(top.values.exp().numpy())
        bar.update(len(chunk))
    bar.close()
    if not nll_parts:
        return np.zeros(0), np.zeros(0, dtype=bool), np.zeros(0)
    return np.concatenate(nll_parts), np.concatenate(hit_parts), np.concatenate(confidence_parts)


def ngram_for(
    ngram_data: str | Path | None, tokenizer: TokenizerConfig, progress: bool
) -> KneserNey | None:
    """The 4-gram fitted on a prepared folder's train split (cached there) or on every file of a
    MIDI folder (tokenized now, nothing written into it); None without data."""
    if ngram_data is None or not Path(ngram_data).is_dir():
        return None
    vocab_size = Vocab(tokenizer).size
    if is_prepared(ngram_data):
        return fit_on_prepared(ngram_data, vocab_size, 4)
    docs = load_documents(ngram_data, "train", tokenizer, 0, progress)
    return KneserNey.fit(docs.tokens, docs.offsets, 4, vocab_size)


def _scored_targets(tokens: np.ndarray, offsets: np.ndarray, vocab: Vocab) -> np.ndarray:
    """Which of score_model's targets (every token but each document's first) count: all but
    KEY/CHORD tokens, which are given, not predicted."""
    starts = np.zeros(tokens.size, dtype=bool)
    starts[offsets[:-1][np.diff(offsets) > 0]] = True
    return ~structure_mask(vocab)[tokens[~starts]]


def evaluate_model(
    model_path: str | Path, data: str | Path, options: EvalOptions = EvalOptions()
) -> dict[str, Any]:
    """Everything `livegen eval` reports, as one JSON-able dict (keys: module docstring)."""
    ngram_data = options.ngram_data
    if (
        ngram_data is not None
        and not is_prepared(ngram_data)
        and Path(ngram_data).resolve() == Path(data).resolve()
    ):  # said before the scoring, not minutes into it
        raise ConfigError(
            f"--ngram-data {ngram_data}: the MIDI folder being scored; an n-gram fitted on "
            "the scored files knows them by heart (give other files of the same collection)"
        )
    model: Transformer | EngineModel
    if _is_model_folder(model_path):
        model = EngineModel(model_path)
        state: dict[str, Any] = {"tokenizer": model.tokenizer}
    else:
        model, state = load_torch_model(model_path)
    tokenizer = TokenizerConfig.from_dict(state["tokenizer"], where=f"{model_path} tokenizer")
    # KEY/CHORD tokens are given (by the user, the daemon or the data), never predicted: plain MIDI
    # is tokenized without them, so models with and without them score the same stream (their ids
    # come after every other token), and where a prepared folder holds them they are not scored,
    # as in training.
    doc_tokenizer = tokenizer if is_prepared(data) else replace(tokenizer, structure_tokens=False)
    docs = load_documents(
        data,
        options.split,
        doc_tokenizer,
        options.max_files,
        options.progress,
        options.collection_by,
    )

    def score(tokens: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if isinstance(model, EngineModel):
            return model.score(tokens, offsets, options.progress)
        return score_model(model, tokens, offsets, options.batch_size, options.progress)

    nll, hits, confidence = score(docs.tokens, docs.offsets)
    scored = _scored_targets(docs.tokens, docs.offsets, Vocab(doc_tokenizer))
    ngram_source = options.ngram_data
    if ngram_source is None:
        trained_on = state.get("train_config", {}).get("data", {}).get("path")
        ngram_source = str(data) if is_prepared(data) else trained_on
    ngram = ngram_for(ngram_source, doc_tokenizer, options.progress) if nll.size else None
    ngram_lp = ngram.token_log_probs(docs.tokens, docs.offsets) if ngram is not None else None
    ngram_nll = float(-ngram_lp[scored].mean()) if ngram_lp is not None else None
    mean_nll = float(nll[scored].mean()) if scored.any() else float("nan")
    report: dict[str, Any] = {
        "model": str(model_path),
        "data": str(data),
        "split": options.split if is_prepared(data) else None,
        "files": docs.n_docs,
        "skipped": [{"file": name, "reason": reason} for name, reason in docs.skipped],
        "tokens": int(np.count_nonzero(scored)),
        "nll": mean_nll,
        "perplexity": float(math.exp(mean_nll)) if scored.any() else None,
        "accuracy": float(hits[scored].mean()) if scored.any() else None,
        "ngram_nll": ngram_nll,
        "ngram_data": ngram_source if ngram is not None else None,
        "nll_ratio": mean_nll / ngram_nll if ngram_nll else None,
        "model_step": state.get("step"),
        "model_params": None if isinstance(model, EngineModel) else model.num_params(),
        "collections": collection_results(docs, nll, hits, ngram_lp, scored),
        "kinds": kind_results(docs, nll, hits, confidence, ngram_lp, scored, Vocab(doc_tokenizer)),
    }
    if isinstance(model, EngineModel):
        sample: Sampler = partial(
            model.generate,
            max_hold_beats=options.max_hold_beats,
            temperature=options.temperature,
        )
        context = model.context
    else:
        sample = partial(
            generate,
            model,
            stop_at_eos=True,
            max_hold_beats=options.max_hold_beats,
            temperature=options.temperature,
        )
        context = model.config.context
    report["continuations"] = continuation_stats(
        sample, context, docs.tokens, docs.offsets, tokenizer, options
    )
    if options.accompaniment:
        from .accompaniment import accompaniment_nll

        paths = [p for p in docs.paths if p is not None]
        report["accompaniment"] = accompaniment_nll(paths, doc_tokenizer, score, options.progress)
        report["accompaniment"]["missing_files"] = docs.n_docs - len(paths)
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
    if report["skipped"]:
        lines.append(f"  skipped {len(report['skipped'])} files:")
        lines.extend(f"    {s['file']}: {s['reason']}" for s in report["skipped"])
    if report["collections"]:
        lines += collection_table(report["collections"])
    if report.get("kinds"):
        lines += kind_table(report["kinds"])
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
            f"    open at end   {c['open_notes']} (prompt {c['open_notes_prompt']}), median age "
            f"{f(c['open_note_age'], '.1f')} beats (prompt {f(c['open_note_age_prompt'], '.1f')})",
            f"    velocity std  {f(c['velocity_spread'], '.1f')} "
            f"(prompt {f(c['velocity_spread_prompt'], '.1f')})",
        ]
        r = c["real"]
        lines.append(
            f"    the music read on: density {f(r['note_density'], '.2f')}, polyphony "
            f"{f(r['polyphony'], '.2f')}, out of range {f(r['out_of_range'], '.3f')}, "
            f"stuck {r['stuck_notes']}, open at end {r['open_notes']}"
        )
    a = report.get("accompaniment")
    if a is not None:
        channels = ", ".join(f"{ch} ({n} files)" for ch, n in a["target_channels"].items())
        lines += [
            f"  accompaniment: {a['files']} files with 2+ parts ({a['single_part_files']} with "
            f"one, {a['unreadable_files']} unreadable, {a['missing_files']} not found)",
            f"    {a['tokens']:,} target tokens; target MIDI channel {channels or 'n/a'}",
        ]
        if a["tokens"]:
            lines.append(
                f"    NLL given the other parts {f(a['nll_given_others'])}  alone "
                f"{f(a['nll_alone'])}  ratio {f(a['nll_ratio'], '.3f')}  (accuracy "
                f"{f(a['accuracy_given_others'], '.3f')} vs {f(a['accuracy_alone'], '.3f')})"
            )
        if a.get("cold_tokens"):
            lines.append(
                f"    coming in cold ({a['cold_files']} files, first bars): NLL given the "
                f"player {f(a['cold_nll_given_player'])}  alone {f(a['cold_nll_alone'])}  "
                f"ratio {f(a['cold_nll_ratio'], '.3f')}"
            )
    return "\n".join(lines)
