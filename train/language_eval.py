"""`livegen eval` for a model of a token language other than events (issue 15).

NLL over the documents of a prepared split in the model's language (or a MIDI folder encoded in
it), every token but each document's first, each document from its start (windows of the context
with half-context overlap, as train/evaluate.py's score_model). Reported per token and **per
note** in bits, so languages with different token counts compare: bits per note = summed NLL
over the scored tokens / the documents' notes / ln 2. Continuations, accompaniment and the n-gram
baseline are written over events ids and are left out.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from livegen.config import read_toml
from livegen.data.shards import is_prepared, load_split, read_manifest
from livegen.errors import ConfigError, TokenizerMismatchError
from livegen.languages import Language, language_from, language_name
from livegen.tokenizer import read_midi

from .checkpoint import load_checkpoint


def recorded_settings(model_path: str | Path) -> tuple[dict[str, Any], dict[str, str]]:
    """The tokenizer entry of a model folder or checkpoint, and the files it names (remi-bpe)."""
    path = Path(model_path)
    if (path / "model.toml").is_file():
        settings = dict(read_toml(path / "model.toml").get("tokenizer", {}))
        name = settings.get("file")
        return settings, {name: (path / name).read_text()} if name and (
            path / name
        ).is_file() else {}
    if str(model_path) == "default" or not path.exists():
        return {}, {}
    state = load_checkpoint(path)
    return dict(state.get("tokenizer", {})), dict(state.get("tokenizer_files") or {})


def model_language(model_path: str | Path) -> Language:
    settings, files = recorded_settings(model_path)
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in files.items():
            (Path(tmp) / Path(name).name).write_text(text)
        return language_from(settings, tmp)


def speaks_other_language(model_path: str | Path) -> bool:
    settings, _ = recorded_settings(model_path)
    return bool(settings) and language_name(settings) != "events"


def _documents(language: Language, data: Path, split: str, max_files: int):
    """(tokens, offsets, notes, files) of a prepared split or a MIDI folder."""
    if is_prepared(data):
        saved = read_manifest(data)["tokenizer"]
        if saved != language.settings():
            raise TokenizerMismatchError(
                f"{data} holds {language_name(saved)} tokens; the model speaks {language.name} "
                f"(prepare the data with --tokenizer {language.name})"
            )
        docs = load_split(data, split)
        offsets = np.asarray(docs.offsets, dtype=np.int64)
        notes = [f["notes"] for f in read_manifest(data)["files"] if f["split"] == split]
        if max_files:
            offsets, notes = offsets[: max_files + 1], notes[:max_files]
        return np.asarray(docs.tokens, dtype=np.int64), offsets, sum(notes), len(notes)
    if not data.is_dir():
        raise ConfigError(f"--data {data}: neither a prepared folder nor a folder of MIDI files")
    from livegen.data.prepare import find_midi_files

    chunks, notes = [], 0
    for path in find_midi_files(data)[: max_files or None]:
        score = read_midi(path)
        if score.notes:
            chunks.append(np.asarray(language.encode(score), dtype=np.int64))
            notes += len(score.notes)
    offsets = np.cumsum([0] + [c.size for c in chunks], dtype=np.int64)
    tokens = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int64)
    return tokens, offsets, notes, len(chunks)


def _score_engine(model_path: Path, tokens: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    from livegen.inference.engine import Engine

    engine = Engine.load(model_path, overflow="sync", check_tokenizer=False)
    nll = []
    for d in range(len(offsets) - 1):
        doc = tokens[offsets[d] : offsets[d + 1]].tolist()
        if len(doc) < 2:
            continue
        engine.reset()
        logits = engine.prefill([doc[0]])
        for target in doc[1:]:
            top = logits.max()
            nll.append(float(top + np.log(np.exp(logits - top).sum()) - logits[target]))
            logits = engine.step(target)
    return np.asarray(nll)


def evaluate_in_language(
    model_path: str | Path,
    data: str | Path,
    *,
    split: str = "test",
    max_files: int = 0,
    batch_size: int = 8,
    progress: bool = True,
) -> dict[str, Any]:
    language = model_language(model_path)
    tokens, offsets, notes, files = _documents(language, Path(data), split, max_files)
    if (Path(model_path) / "model.toml").is_file():
        nll = _score_engine(Path(model_path), tokens, offsets)
        step = None
    else:
        from .evaluate import load_torch_model, score_model

        model, state = load_torch_model(model_path)
        nll, *_ = score_model(model, tokens, offsets, batch_size, progress)
        step = state.get("step")
    total = float(nll.sum())
    return {
        "model": str(model_path),
        "data": str(data),
        "language": language.name,
        "split": split if is_prepared(Path(data)) else None,
        "files": files,
        "tokens": int(nll.size),
        "notes": notes,
        "nll": total / nll.size if nll.size else None,
        "bits_per_token": total / nll.size / math.log(2) if nll.size else None,
        "bits_per_note": total / notes / math.log(2) if notes else None,
        "model_step": step,
    }


def format_language_report(report: dict[str, Any]) -> str:
    def show(value: float | None, digits: int) -> str:
        return "n/a" if value is None else f"{value:.{digits}f}"

    return "\n".join(
        [
            f"model {report['model']} ({report['language']} tokens, step "
            f"{report['model_step'] if report['model_step'] is not None else 'n/a'})",
            f"data  {report['data']}" + (f" [{report['split']}]" if report["split"] else ""),
            f"{report['files']} files, {report['tokens']} tokens scored, {report['notes']} notes",
            f"NLL {show(report['nll'], 4)} nats/token = {show(report['bits_per_token'], 3)} "
            f"bits/token = {show(report['bits_per_note'], 2)} bits/note",
        ]
    )
