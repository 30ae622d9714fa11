"""Where a model's NLL comes from: `livegen eval`'s results per collection and per token kind.

A mean over all tokens hides both a collection the model does not know (pop beside folk) and a
token kind it is confidently wrong about (VELOCITY for a model trained on one fixed velocity), so
the report breaks the scored targets down both ways, with the 4-gram's NLL on the same tokens.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from livegen.tokenizer import TokenKind, Vocab

if TYPE_CHECKING:
    from .evaluate import Documents


def collection_results(
    docs: Documents,
    nll: np.ndarray,
    hits: np.ndarray,
    ngram_lp: np.ndarray | None,
    scored: np.ndarray | None = None,
) -> dict[str, dict[str, Any]]:
    """{collection: {files, tokens, nll, accuracy, ngram_nll, nll_ratio}}, in name order.

    Token i of `nll` belongs to the document whose scored tokens (all but its first) hold it;
    `scored` leaves out the targets that are not predicted (KEY/CHORD).
    """
    per_doc = np.maximum(np.diff(docs.offsets) - 1, 0)
    names = np.asarray(docs.collections, dtype=object)
    token_names = np.repeat(names, per_doc)
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(set(docs.collections)):
        mine = token_names == name
        if scored is not None:
            mine &= scored
        model_nll = float(nll[mine].mean()) if mine.any() else None
        ngram_nll = float(-ngram_lp[mine].mean()) if ngram_lp is not None and mine.any() else None
        out[name] = {
            "files": int(np.count_nonzero(names == name)),
            "tokens": int(np.count_nonzero(mine)),
            "nll": model_nll,
            "accuracy": float(hits[mine].mean()) if mine.any() else None,
            "ngram_nll": ngram_nll,
            "nll_ratio": model_nll / ngram_nll if model_nll is not None and ngram_nll else None,
        }
    return out


def kind_results(
    docs: Documents,
    nll: np.ndarray,
    hits: np.ndarray,
    confidence: np.ndarray,
    ngram_lp: np.ndarray | None,
    scored: np.ndarray,
    vocab: Vocab,
) -> dict[str, dict[str, Any]]:
    """{token kind: {tokens, nll, accuracy, confidence, ngram_nll}} of the scored targets, in
    vocabulary order: where the model is confidently wrong (a high NLL on a kind it mostly gets
    right, as VELOCITY was for a model trained on music21's fixed velocities) shows here, not in
    the mean. confidence (the mean probability of the top token) above accuracy is
    overconfidence; calibrated, the two agree."""
    starts = np.zeros(docs.tokens.size, dtype=bool)
    starts[docs.offsets[:-1][np.diff(docs.offsets) > 0]] = True
    target_kinds = vocab.kinds[docs.tokens[~starts]]
    out: dict[str, dict[str, Any]] = {}
    for kind in TokenKind:
        mine = (target_kinds == int(kind)) & scored
        if not mine.any():
            continue
        out[kind.name] = {
            "tokens": int(np.count_nonzero(mine)),
            "nll": float(nll[mine].mean()),
            "accuracy": float(hits[mine].mean()),
            "confidence": float(confidence[mine].mean()),
            "ngram_nll": float(-ngram_lp[mine].mean()) if ngram_lp is not None else None,
        }
    return out


def collection_table(collections: dict[str, dict[str, Any]]) -> list[str]:
    def f(value: Any, fmt: str) -> str:
        return "n/a" if value is None else format(value, fmt)

    width = max(len("collection"), *map(len, collections))
    lines = [
        f"  {'collection':<{width}}  {'files':>6}  {'tokens':>10}  {'NLL':>7}  {'4-gram':>7}  "
        f"{'ratio':>6}  {'acc':>5}"
    ]
    for name, c in collections.items():
        lines.append(
            f"  {name:<{width}}  {c['files']:>6}  {c['tokens']:>10,}  {f(c['nll'], '7.4f')}  "
            f"{f(c['ngram_nll'], '7.4f')}  {f(c['nll_ratio'], '6.3f')}  "
            f"{f(c['accuracy'], '5.3f')}"
        )
    return lines


def kind_table(kinds: dict[str, dict[str, Any]]) -> list[str]:
    def f(value: Any, fmt: str) -> str:
        return "n/a" if value is None else format(value, fmt)

    lines = ["  by token kind   tokens   NLL     4-gram  accuracy  confidence"]
    lines.extend(
        f"    {name:<12} {k['tokens']:>7,}  {f(k['nll'], '6.3f')}  "
        f"{f(k['ngram_nll'], '6.3f')}  {f(k['accuracy'], '.3f')}     "
        f"{f(k['confidence'], '.3f')}"
        for name, k in kinds.items()
    )
    return lines
