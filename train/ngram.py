"""A token n-gram baseline (interpolated Kneser-Ney), the yardstick for the transformer's NLL.

Counts are numpy arrays of packed n-gram keys (`key = ((t0*V + t1)*V + t2)*V + t3`) looked up
with `searchsorted`, so fitting and scoring millions of tokens take seconds, not minutes.

Model (Chen & Goodman's interpolated Kneser-Ney, one discount per order):
    P_n(w | h) = max(c(h w) - D_n, 0) / c(h) + D_n * N1+(h .) / c(h) * P_{n-1}(w | h')
for the highest order with raw counts c, and the same recursion with continuation counts
N1+(. h' w) (how many distinct tokens precede h' w) for the lower orders. The unigram level is
interpolated with the uniform distribution so every token has a non-zero probability. A history
that has never been seen falls back to the lower order entirely. Histories never cross a
document boundary: the first tokens of a document use the shorter history they have.

Documents are given as a flat token array plus `offsets` (len n_docs + 1), the prepared-data
layout. The first token of every document (BOS) is context only and never scored.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class _Table:
    """Sorted unique keys with values, plus per-history totals and distinct-successor counts."""

    keys: np.ndarray
    counts: np.ndarray
    hist_keys: np.ndarray
    hist_totals: np.ndarray
    hist_types: np.ndarray
    discount: float


def _lookup(keys: np.ndarray, values: np.ndarray, query: np.ndarray) -> np.ndarray:
    """values[key] for each query key, 0 where the key is absent."""
    if keys.size == 0:
        return np.zeros(query.shape, dtype=values.dtype)
    idx = np.searchsorted(keys, query)
    idx_c = np.minimum(idx, keys.size - 1)
    found = keys[idx_c] == query
    return np.where(found, values[idx_c], 0)


def _grams(tokens: np.ndarray, offsets: np.ndarray, order: int, vocab: int) -> np.ndarray:
    """Packed keys of every `order`-gram lying inside one document."""
    n = tokens.size
    if n < order:
        return np.zeros(0, dtype=np.int64)
    key = np.zeros(n - order + 1, dtype=np.int64)
    for j in range(order):
        key = key * vocab + tokens[j : n - order + 1 + j].astype(np.int64)
    start = np.arange(n - order + 1)
    doc = np.searchsorted(offsets, start, side="right") - 1
    inside = start + order - 1 < offsets[doc + 1]
    return key[inside]


def _discount(counts: np.ndarray) -> float:
    n1 = int(np.count_nonzero(counts == 1))
    n2 = int(np.count_nonzero(counts == 2))
    if n1 == 0:
        return 0.5
    return float(np.clip(n1 / (n1 + 2 * n2), 0.05, 0.95))


def _table(keys: np.ndarray, counts: np.ndarray, vocab: int) -> _Table:
    hist = keys // vocab
    # keys are sorted, so histories are sorted too and reduceat gives per-history sums
    hist_keys, first = np.unique(hist, return_index=True)
    totals = np.add.reduceat(counts, first) if counts.size else counts
    types = np.diff(np.append(first, counts.size))
    return _Table(keys, counts, hist_keys, totals, types, _discount(counts))


class KneserNey:
    """An interpolated Kneser-Ney n-gram model over token ids `0..vocab-1`."""

    def __init__(self, order: int, vocab: int, tables: list[_Table], unigram: np.ndarray) -> None:
        self.order = order
        self.vocab = vocab
        self._tables = tables  # tables[k-2] for orders 2..order
        self._unigram = unigram  # (vocab,) probabilities

    @classmethod
    def fit(cls, tokens: np.ndarray, offsets: np.ndarray, order: int = 4, vocab: int = 0):
        tokens = np.asarray(tokens)
        offsets = np.asarray(offsets, dtype=np.int64)
        vocab = vocab or int(tokens.max()) + 1
        if vocab**order >= 2**62:
            raise ValueError(f"vocab {vocab} too large for packed {order}-gram keys")
        uniq: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for k in range(1, order + 1):
            keys, counts = np.unique(_grams(tokens, offsets, k, vocab), return_counts=True)
            uniq[k] = (keys, counts.astype(np.int64))
        tables = []
        for k in range(2, order + 1):
            if k == order:
                keys, counts = uniq[k]
            else:
                # continuation count of h'w: distinct tokens x with x h' w seen
                suffix = uniq[k + 1][0] % (vocab**k)
                keys, counts = np.unique(suffix, return_counts=True)
            tables.append(_table(keys, counts.astype(np.int64), vocab))
        if order == 1:  # plain counts: there is no higher order to take continuations from
            cont_uni = np.bincount(uniq[1][0], weights=uniq[1][1], minlength=vocab).astype(float)
        else:  # continuation counts: how many distinct tokens precede each token
            w, c = np.unique(uniq[2][0] % vocab, return_counts=True)
            cont_uni = np.zeros(vocab, dtype=np.float64)
            cont_uni[w] = c
        d = _discount(cont_uni[cont_uni > 0].astype(np.int64))
        total = cont_uni.sum()
        seen = np.count_nonzero(cont_uni)
        if total > 0:
            unigram = np.maximum(cont_uni - d, 0) / total + d * seen / total / vocab
        else:
            unigram = np.full(vocab, 1.0 / vocab)
        return cls(order, vocab, tables, unigram)

    def token_log_probs(self, tokens: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Natural-log probability of every token but the first of each document."""
        tokens = np.asarray(tokens).astype(np.int64)
        offsets = np.asarray(offsets, dtype=np.int64)
        n = tokens.size
        pos = np.arange(n)
        doc_start = offsets[np.searchsorted(offsets, pos, side="right") - 1]
        target = np.clip(tokens, 0, self.vocab - 1)
        prob = self._unigram[target]
        for k in range(2, self.order + 1):
            table = self._tables[k - 2]
            valid = pos - (k - 1) >= doc_start
            # packed key of t[i-k+1] ... t[i], most significant first
            key = np.zeros(n, dtype=np.int64)
            for j in range(k - 1, -1, -1):
                shifted = np.zeros(n, dtype=np.int64)
                shifted[j:] = target[: n - j]
                key = key * self.vocab + shifted
            hist = key // self.vocab
            count = _lookup(table.keys, table.counts, key).astype(np.float64)
            total = _lookup(table.hist_keys, table.hist_totals, hist).astype(np.float64)
            types = _lookup(table.hist_keys, table.hist_types, hist).astype(np.float64)
            seen = valid & (total > 0)
            safe = np.where(seen, total, 1.0)
            interp = (
                np.maximum(count - table.discount, 0) / safe + table.discount * types / safe * prob
            )
            prob = np.where(seen, interp, prob)
        keep = pos != doc_start
        return np.log(prob[keep])

    def nll(self, tokens: np.ndarray, offsets: np.ndarray) -> float:
        """Mean negative log-likelihood in nats per scored token."""
        return float(-self.token_log_probs(tokens, offsets).mean())

    def save(self, path: str | Path) -> None:
        arrays: dict[str, np.ndarray] = {
            "meta": np.array([self.order, self.vocab]),
            "unigram": self._unigram,
        }
        for i, t in enumerate(self._tables):
            for name in ("keys", "counts", "hist_keys", "hist_totals", "hist_types"):
                arrays[f"t{i}_{name}"] = getattr(t, name)
            arrays[f"t{i}_discount"] = np.array([t.discount])
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, **arrays)
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path) -> KneserNey:
        with np.load(path) as data:
            order, vocab = (int(x) for x in data["meta"])
            tables = []
            for i in range(order - 1):
                tables.append(
                    _Table(
                        *(data[f"t{i}_{n}"] for n in ("keys", "counts", "hist_keys")),
                        data[f"t{i}_hist_totals"],
                        data[f"t{i}_hist_types"],
                        float(data[f"t{i}_discount"][0]),
                    )
                )
            return cls(order, vocab, tables, data["unigram"])


def fit_on_prepared(folder: str | Path, vocab: int, order: int = 4) -> KneserNey | None:
    """The n-gram fitted on a prepared folder's train split, cached there as ngram<order>.npz.

    None when the folder holds no train tokens. The cache is refitted when the manifest is newer;
    a read-only folder just means no cache.
    """
    import contextlib

    from livegen.data.shards import MANIFEST, load_split

    folder = Path(folder)
    cache = folder / f"ngram{order}.npz"
    if cache.is_file() and cache.stat().st_mtime >= (folder / MANIFEST).stat().st_mtime:
        model = KneserNey.load(cache)
        if model.vocab == vocab and model.order == order:
            return model
    train = load_split(folder, "train")
    if train.n_tokens == 0:
        return None
    model = KneserNey.fit(np.asarray(train.tokens), train.offsets, order, vocab)
    with contextlib.suppress(OSError):
        model.save(cache)
    return model
