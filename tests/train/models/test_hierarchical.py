"""The hierarchical model: events grouped by token kind, exact next-token logits, exact caches.

Token streams are real MIDI files from the shared test data, encoded by the tokenizer.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from livegen.train.models.hierarchical import (
    HierarchicalTransformer,
    HierCache,
    HierConfig,
    vocab_fields,
)

from livegen.errors import ConfigError
from livegen.tokenizer import Vocab, encode_notes, read_midi
from livegen.tokenizer.event_groups import EventRules, EventTracker

TESTDATA = Path(os.environ.get("LIVEGEN_TESTDATA", "/work/shared/testdata")) / "midi"
FILES = (
    "tempo_pop909_010.mid",
    "piano_mozart_k265_var1_quantized.mid",
    "short_41_tracks_is_drum.mid",
)
VOCAB = Vocab()


@pytest.fixture(autouse=True)
def _one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def stream(name: str, length: int) -> list[int]:
    tokens = encode_notes(read_midi(TESTDATA / name).notes, bos=True, vocab=VOCAB)
    return tokens[:length]


def tiny(max_event_tokens: int = 6, **overrides) -> HierarchicalTransformer:
    torch.manual_seed(0)
    config = HierConfig(**{
        "vocab_size": VOCAB.size, "pad_id": VOCAB.pad, "n_layer": 2, "n_head": 2, "d_model": 32,
        "d_ff": 64, "context": 160, "token_layers": 2, "token_heads": 2, "token_d_model": 16,
        "token_d_ff": 32, "max_event_tokens": max_event_tokens, **vocab_fields(VOCAB), **overrides,
    })  # fmt: skip
    return HierarchicalTransformer(config).eval()


def test_a_note_with_its_release_and_the_time_after_it_is_one_event() -> None:
    names = ["BOS", "NOTE_ON_60", "VELOCITY_8", "TIME_SHIFT_12", "NOTE_OFF_60", "TIME_SHIFT_6",
             "CHANNEL_9", "NOTE_ON_36", "VELOCITY_3", "BAR", "NOTE_ON_62"]  # fmt: skip
    rules = EventRules.from_vocab(VOCAB, max_tokens=16)
    offsets = rules.offsets(np.array([VOCAB.id_of(n) for n in names]))
    assert offsets.tolist() == [0, 0, 1, 2, 3, 4, 0, 1, 2, 0, 0]


def test_a_long_rest_is_cut_every_max_tokens() -> None:
    tokens = [VOCAB.note_on(60), VOCAB.velocity(3)] + [VOCAB.shift(96)] * 7
    offsets = EventRules.from_vocab(VOCAB, max_tokens=4).offsets(np.array(tokens))
    assert offsets.tolist() == [0, 1, 2, 3, 0, 1, 2, 3, 0]


@pytest.mark.parametrize("name", FILES)
def test_the_tracker_groups_one_token_at_a_time_as_the_window_does(name: str) -> None:
    tokens = np.array(stream(name, 400))
    rules = EventRules.from_vocab(VOCAB, max_tokens=5)
    tracker = EventTracker(rules)
    assert [tracker.opens(t) for t in tokens.tolist()] == (rules.offsets(tokens) == 0).tolist()


@pytest.mark.parametrize("name", FILES)
def test_events_are_several_times_fewer_than_tokens(name: str) -> None:
    tokens = np.array(stream(name, 2000))
    events = int((EventRules.from_vocab(VOCAB, 16).offsets(tokens) == 0).sum())
    assert len(tokens) / events > 2.0


def test_the_model_predicts_each_next_token_from_the_tokens_before_it_only() -> None:
    model = tiny()
    tokens = torch.tensor([stream("piano_mozart_k265_var1_quantized.mid", 80)])
    full, _ = model(tokens)
    changed = tokens.clone()
    changed[0, 50:] = VOCAB.note_on(1)  # a different future leaves earlier logits alone
    again, _ = model(changed)
    torch.testing.assert_close(full[:, :50], again[:, :50], atol=1e-5, rtol=0)
    assert not torch.allclose(full[:, 50:], again[:, 50:])


def test_loss_is_the_mean_next_token_nll_ignoring_pad() -> None:
    model = tiny()
    tokens = torch.tensor([stream("short_melody.mid", 41)])
    x, y = tokens[:, :-1], tokens[:, 1:].clone()
    y[0, 30:] = VOCAB.pad
    logits, loss = model(x, y)
    expected = torch.nn.functional.cross_entropy(logits[0, :30], y[0, :30])
    torch.testing.assert_close(loss, expected)


def test_a_batch_of_windows_with_different_groupings_gives_each_rows_own_logits() -> None:
    model = tiny()
    rows = [stream(name, 48) for name in FILES]
    batch, _ = model(torch.tensor(rows))
    for i, row in enumerate(rows):
        alone, _ = model(torch.tensor([row]))
        torch.testing.assert_close(batch[i], alone[0], atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", FILES)
def test_cached_decoding_equals_the_full_pass(name: str) -> None:
    model = tiny(max_event_tokens=5)
    tokens = torch.tensor([stream(name, 150)])
    full, _ = model(tokens)
    cache = HierCache(model)
    prefill = cache.feed(tokens[:, :40])
    steps = [cache.feed(tokens[:, i : i + 1]) for i in range(40, 150)]
    torch.testing.assert_close(torch.cat([prefill, *steps], dim=1), full, atol=1e-5, rtol=0)


@pytest.mark.parametrize("back_to", [0, 1, 37, 38, 39, 95])
def test_rolling_back_to_any_token_then_going_on_equals_the_full_pass(back_to: int) -> None:
    model = tiny(max_event_tokens=5)
    tokens = torch.tensor([stream("piano_mozart_k265_var1_quantized.mid", 120)])
    other = torch.tensor([stream("short_41_tracks_is_drum.mid", 120)])
    cache = HierCache(model)
    cache.feed(other[:, :back_to])  # the shared past: the other file's first tokens
    cache.feed(tokens[:, back_to:100])  # a future that will be taken back
    cache.rollback(back_to)
    assert cache.position == back_to
    went_on = cache.feed(tokens[:, back_to:])
    expected, _ = model(torch.cat([other[:, :back_to], tokens[:, back_to:]], dim=1))
    torch.testing.assert_close(went_on, expected[:, back_to:], atol=1e-5, rtol=0)


def test_a_full_event_cache_says_so() -> None:
    model = tiny(context=4)
    cache = HierCache(model)
    with pytest.raises(ValueError, match="cache full"):
        cache.feed(torch.tensor([stream("short_melody.mid", 60)]))


def test_bad_shapes_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="token_d_model 30 not divisible by token_heads 4"):
        HierConfig(token_d_model=30, token_heads=4, opening_ids=(1,))
    with pytest.raises(ConfigError, match="max_event_tokens must be >= 2"):
        HierConfig(max_event_tokens=1, opening_ids=(1,))
