"""Training in a token language other than events (issue 15): plain windows, saved-language checks.

The flat transformer does not care what an id means, so remi, remi-bpe and triplet train on the
same loop; what the loop does with events ids (transposition, stretch, channel permutation,
KEY/CHORD tokens, grammar-masked samples) rewrites events ids and is left out for them.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

import numpy as np

from livegen.data.shards import Split
from livegen.errors import TokenizerMismatchError
from livegen.languages import Language, language_name
from livegen.tokenizer import TokenizerConfig, check_compatible

from .dataset import TrainBatches


class PlainBatches(TrainBatches):
    """Deterministic windows of the token stream as they are: `batch(step, micro, rank)`."""

    def __init__(
        self,
        split: Split,
        pad: int,
        *,
        seq_len: int,
        batch_size: int,
        seed: int,
        collection_weights: Mapping[str, float] | None = None,
    ) -> None:
        if split.n_tokens == 0:
            raise ValueError(f"split {split.name!r} holds no tokens")
        self.tokens = split.tokens
        self.channels = np.zeros(split.n_tokens, dtype=np.int8)  # no channel state to track
        self.pad = pad
        self.seq_len = seq_len
        self.batch_size = batch_size
        self.seed = seed
        self.augmenter = None
        self.shares: dict[str, float] = {}
        if collection_weights:
            self._weigh(split, collection_weights)

    def batch(self, step: int, micro: int = 0, rank: int = 0) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, step, micro, rank])
        width = self.seq_len + 1
        rows = np.full((self.batch_size, width), self.pad, dtype=np.int64)
        for i in range(self.batch_size):
            tokens, _ = self.window(self.start(rng), width)
            rows[i, : tokens.size] = tokens
        return rows[:, :-1], rows[:, 1:]


def check_saved_language(
    saved: dict[str, Any], language: Language, tokenizer: TokenizerConfig | None
) -> None:
    """A checkpoint's language (resume, --init-from) must be the data's, setting for setting."""
    if tokenizer is not None and language_name(saved) == "events":
        check_compatible(saved, tokenizer)
        return
    if saved != language.settings():
        raise TokenizerMismatchError(
            f"model was made with the {language_name(saved)} token language "
            f"({saved.get('vocab_size', '?')} tokens), the data speaks {language.name} "
            f"({language.size} tokens)"
        )


def language_entries(language: Language) -> dict[str, Any]:
    """What a checkpoint keeps of the language: its settings, and its files (remi-bpe's JSON),
    so export can write a model folder that needs nothing else."""
    entries: dict[str, Any] = {"tokenizer": language.settings()}
    if language.files():
        entries["tokenizer_files"] = language.files()
    return entries


class LanguageVocab:
    """The fields of tokenizer.Vocab the loop reads (size, PAD, BOS, EOS, kinds), for another
    language: every kind is 0, so no id counts as a KEY or CHORD token."""

    def __init__(self, language: Language) -> None:
        self.size = language.size
        self.pad, self.bos, self.eos = language.pad, language.bos, language.eos
        self.kinds = np.zeros(language.size, dtype=np.int8)


def plain_batches(language: Language, augment: Any) -> Any:
    """A TrainBatches-shaped factory for `language` (its events-only options are dropped)."""
    if augment is not None:
        print(
            f"[data] augment is for the events language; the {language.name} data is not augmented",
            file=sys.stderr,
            flush=True,
        )

    def make(split: Split, _tokenizer: Any, **options: Any) -> PlainBatches:
        return PlainBatches(
            split,
            language.pad,
            seq_len=options["seq_len"],
            batch_size=options["batch_size"],
            seed=options["seed"],
            collection_weights=options.get("collection_weights"),
        )

    return make
