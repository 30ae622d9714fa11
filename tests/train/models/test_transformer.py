"""The transformer: every variant learns shapes right, ignores PAD, and caches exactly."""

from __future__ import annotations

import pytest
import torch
from livegen.train.models.transformer import (
    BLOCKS,
    POSITIONS,
    KVCache,
    ModelConfig,
    Transformer,
    skew,
)

from livegen.errors import ConfigError


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny models: extra torch threads only contend for the shared cores (5x slower here)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


VARIANTS = [(p, b) for p in POSITIONS for b in BLOCKS]
# (n_head, n_kv_head): multi-head, multi-query, grouped-query attention
HEADS = [(2, 0), (2, 1), (4, 2)]


def tiny(position: str, block: str, **overrides) -> Transformer:
    torch.manual_seed(0)
    config = ModelConfig(**{
        "vocab_size": 37, "n_layer": 2, "n_head": 2, "d_model": 16, "d_ff": 32, "context": 48,
        "position": position, "block": block, **overrides,
    })  # fmt: skip
    return Transformer(config).eval()


@pytest.mark.parametrize("position, block", VARIANTS, ids=lambda v: v)
def test_forward_shapes_and_loss(position: str, block: str) -> None:
    model = tiny(position, block)
    idx = torch.randint(0, 37, (3, 20))
    logits, loss = model(idx, idx)
    assert logits.shape == (3, 20, 37)
    assert loss is not None and torch.isfinite(loss)


def test_loss_ignores_pad_targets() -> None:
    model = tiny("rope", "sequential", pad_id=0)
    idx = torch.randint(1, 37, (2, 12))
    targets = idx.clone()
    targets[:, 6:] = 0  # PAD
    logits, loss = model(idx, targets)
    expected = torch.nn.functional.cross_entropy(logits[:, :6].reshape(-1, 37), idx[:, :6].ravel())
    torch.testing.assert_close(loss, expected)


def test_skew_puts_distances_on_key_positions() -> None:
    T = 5
    by_distance = torch.arange(T, dtype=torch.float32).expand(1, 1, T, T)  # col c = dist c-(T-1)
    out = skew(by_distance.clone())
    for i in range(T):
        for j in range(i + 1):
            assert out[0, 0, i, j] == (T - 1) - (i - j)


@pytest.mark.parametrize("position", POSITIONS)
def test_every_position_variant_sees_token_order(position: str) -> None:
    """Without a position signal causal attention is blind to the order of earlier tokens."""
    model = tiny(position, "sequential")
    with torch.no_grad():
        for name, param in model.named_parameters():  # sharpen attention so order can show
            if name.endswith(("qkv.weight", "rel")):
                param.mul_(30)
    idx = torch.tensor([[3, 9, 4, 7, 1, 5]])
    swapped = torch.tensor([[9, 3, 4, 7, 1, 5]])
    assert not torch.allclose(model(idx)[0][0, -1], model(swapped)[0][0, -1], atol=1e-4)


@pytest.mark.parametrize("heads", HEADS, ids=lambda h: f"heads{h[0]}-kv{h[1]}")
@pytest.mark.parametrize("position, block", VARIANTS, ids=lambda v: v)
def test_cached_logits_equal_full_forward_including_after_rollback(
    position: str, block: str, heads: tuple[int, int]
) -> None:
    model = tiny(position, block, n_head=heads[0], n_kv_head=heads[1])
    seq = torch.randint(0, 37, (2, 40))
    full, _ = model(seq)
    cache = KVCache(model, batch=2)
    got = [cache.feed(seq[:, :17])]  # prefill
    got += [cache.feed(seq[:, t : t + 1]) for t in range(17, 30)]  # decode one at a time
    got.append(cache.feed(seq[:, 30:40]))  # a multi-token block mid-sequence
    torch.testing.assert_close(torch.cat(got, dim=1), full, atol=1e-5, rtol=1e-5)

    # roll back to 21 and continue differently: must equal the full pass of the new sequence
    cache.rollback(21)
    other = torch.cat([seq[:, :21], torch.randint(0, 37, (2, 27))], dim=1)
    full_other, _ = model(other)
    got = [cache.feed(other[:, t : t + 1]) for t in range(21, 48)]  # up to the full context
    torch.testing.assert_close(torch.cat(got, dim=1), full_other[:, 21:], atol=1e-5, rtol=1e-5)


def test_cache_refuses_to_overflow_and_to_roll_forward() -> None:
    model = tiny("rope", "sequential")
    cache = KVCache(model)
    cache.feed(torch.zeros(1, 48, dtype=torch.long))
    with pytest.raises(ValueError, match="context"):
        cache.feed(torch.zeros(1, 1, dtype=torch.long))
    with pytest.raises(ValueError, match="roll back"):
        cache.rollback(49)


def test_weight_tying_shares_the_embedding() -> None:
    model = tiny("learned", "parallel")
    assert model.lm_head.weight is model.tok_emb.weight
    untied = tiny("learned", "parallel", tie_weights=False)
    assert untied.lm_head.weight is not untied.tok_emb.weight


@pytest.mark.parametrize(
    "bad",
    [
        {"position": "alibi"},
        {"block": "mixed"},
        {"d_model": 30, "n_head": 4},
        {"n_kv_head": 3, "n_head": 4},
    ],
)
def test_bad_config_names_the_problem(bad: dict) -> None:
    with pytest.raises(ConfigError, match=next(iter(bad))):
        ModelConfig(**bad)


def test_dropout_is_active_only_in_training() -> None:
    model = tiny("rope", "sequential", dropout=0.5)
    idx = torch.randint(0, 37, (1, 10))
    torch.testing.assert_close(model(idx)[0], model(idx)[0])
    model.train()
    assert not torch.allclose(model(idx)[0], model(idx)[0])
