"""`data prepare --tokenizer NAME` for a language other than events: its settings, BPE learned on
the train split, and the worker's encoding (the events path stays in prepare.py as it was).

remi-bpe learns its merges once, on the files of the train split (never val or test), and saves
MidiTok's JSON beside the manifest before any file is tokenized; a resumed or extended run reads
that file again instead of learning anew, so token ids keep their meaning across runs.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from livegen.data.shards import TOKEN_DTYPE
from livegen.data.split import split_of
from livegen.languages import Language, language_from, new_language
from livegen.tokenizer.midi_file import read_midi

DEFAULT_BPE_VOCAB = 1000
_cache: dict[str, Language] = {}  # per worker process: settings -> language


def language_settings(
    name: str,
    out: Path,
    files: Sequence[tuple[Path, str]],
    fractions: dict[str, float],
    bpe_vocab_size: int = DEFAULT_BPE_VOCAB,
    progress: bool = True,
) -> dict[str, Any]:
    """The `tokenizer` entry for language `name`; remi-bpe's trained JSON is written into out.

    `files` are (path, path inside its source) of every file found (the split is decided as
    for the shards)."""
    if name != "remi-bpe":
        return new_language(name).settings()
    from livegen.languages.remi import BPE_FILE, RemiBpeLanguage

    saved = out / BPE_FILE
    if saved.is_file():
        language = RemiBpeLanguage.from_text(saved.read_text())
        if language.size != bpe_vocab_size and progress:
            print(
                f"{saved} holds a BPE of {language.size} tokens: kept (delete the folder to "
                "learn another)",
                file=sys.stderr,
            )
        return language.settings()
    train = [
        path for path, rel in files if split_of(rel, fractions["val"], fractions["test"]) == "train"
    ]
    if progress:
        print(
            f"learning BPE ({bpe_vocab_size} tokens) on {len(train)} train files", file=sys.stderr
        )
    language = RemiBpeLanguage.train(_readable(train), bpe_vocab_size)
    out.mkdir(parents=True, exist_ok=True)
    language.save_files(out)
    return language.settings()


def _readable(paths: Sequence[Path]):
    """The train files' scores; unreadable ones are left to the tokenizing pass to report."""
    for path in paths:
        try:
            yield read_midi(path)
        except Exception:  # reported by tokenize_in with its reason, file by file
            continue


def tokenize_in(path: str, settings: dict[str, Any], folder: str | None):
    """Worker: (tokens, notes, "") or (None, 0, reason), as prepare.tokenize_file."""
    key = json.dumps(settings, sort_keys=True)
    try:
        language = _cache.get(key) or _cache.setdefault(key, language_from(settings, folder))
        score = read_midi(path)
        if not score.notes:
            return None, 0, "no notes"
        tokens = np.asarray(language.encode(score), dtype=np.int64)
    except Exception as err:  # a bad file is reported, never fatal
        return None, 0, f"{type(err).__name__}: {err}"[:300]
    if tokens.size and (tokens.min() < 0 or tokens.max() >= min(language.size, 2**16)):
        return None, 0, "token id out of range"
    return tokens.astype(TOKEN_DTYPE), len(score.notes), ""
