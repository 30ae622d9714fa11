"""The Kneser-Ney n-gram baseline: a proper distribution, document-aware, saved losslessly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from livegen.train.ngram import KneserNey, fit_on_prepared

V = 12


def _corpus(seed: int = 0, docs: int = 40) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    parts = []
    for _ in range(docs):
        motif = rng.integers(0, V, 4)
        body = np.concatenate([motif] * int(rng.integers(3, 10)))
        noise = rng.random(body.size) < 0.1
        body[noise] = rng.integers(0, V, noise.sum())
        parts.append(body)
    offsets = np.concatenate([[0], np.cumsum([p.size for p in parts])])
    return np.concatenate(parts), offsets


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_probabilities_of_all_next_tokens_sum_to_one(order: int) -> None:
    tokens, offsets = _corpus()
    model = KneserNey.fit(tokens, offsets, order, V)
    for start in (0, 5, 17):
        history = tokens[start : start + 6]
        total = 0.0
        for w in range(V):
            seq = np.append(history, w)
            total += np.exp(model.token_log_probs(seq, np.array([0, seq.size]))[-1])
        assert total == pytest.approx(1.0, abs=1e-9)


def test_first_token_of_each_document_is_not_scored() -> None:
    tokens, offsets = _corpus()
    model = KneserNey.fit(tokens, offsets, 4, V)
    assert model.token_log_probs(tokens, offsets).size == tokens.size - (offsets.size - 1)


def _markov(seed: int, n: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
    """Text of a fixed, peaked second-order Markov chain (the same chain for every seed)."""
    table = np.random.default_rng(99).dirichlet(np.full(V, 0.1), size=(V, V))
    rng = np.random.default_rng(seed)
    out = [0, 1]
    for _ in range(n - 2):
        out.append(int(rng.choice(V, p=table[out[-2], out[-1]])))
    return np.array(out), np.array([0, n // 2, n])


def test_higher_orders_model_a_second_order_source_better_on_held_out_data() -> None:
    train, train_off = _markov(0)
    held, held_off = _markov(1)
    nll = [KneserNey.fit(train, train_off, n, V).nll(held, held_off) for n in (1, 2, 3, 4)]
    assert nll[0] > nll[1] > nll[2]
    assert nll[3] < nll[1]
    assert nll[0] <= np.log(V) + 0.05


def test_unseen_tokens_still_get_probability() -> None:
    model = KneserNey.fit(np.array([0, 1, 0, 1, 0, 1]), np.array([0, 6]), 4, 5)
    lp = model.token_log_probs(np.array([0, 4, 3]), np.array([0, 3]))
    assert np.all(np.isfinite(lp))


def test_save_and_load_give_identical_scores(tmp_path: Path) -> None:
    tokens, offsets = _corpus()
    model = KneserNey.fit(tokens, offsets, 4, V)
    model.save(tmp_path / "kn.npz")
    loaded = KneserNey.load(tmp_path / "kn.npz")
    assert loaded.nll(tokens, offsets) == model.nll(tokens, offsets)


def test_fit_on_prepared_caches_beside_the_data(prepared: Path) -> None:
    model = fit_on_prepared(prepared, 551, 4)
    assert model is not None and (prepared / "ngram4.npz").is_file()
    again = fit_on_prepared(prepared, 551, 4)
    assert again is not None and again.vocab == model.vocab
