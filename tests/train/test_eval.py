"""`livegen eval`: NLL over exactly the scored tokens, the n-gram beside it, continuation stats."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from livegen.train.evaluate import (
    EvalOptions,
    _compare,
    evaluate_model,
    load_torch_model,
    score_model,
)
from livegen.train.models.transformer import ModelConfig, Transformer

from livegen.cli import cli
from livegen.data.shards import load_split
from livegen.tokenizer import Note

QUIET = EvalOptions(prompts=2, continuation_tokens=24, progress=False)


def test_report_has_the_documented_keys_and_consistent_numbers(smoke_run, prepared) -> None:
    report = evaluate_model(smoke_run, prepared, QUIET)
    test = load_split(prepared, "test")
    assert report["files"] == test.n_docs
    assert report["tokens"] == test.n_tokens - test.n_docs  # every token but each BOS
    assert 0 < report["nll"] < np.log(551) + 1
    assert 0 <= report["accuracy"] <= 1
    assert report["ngram_nll"] > 0
    assert report["nll_ratio"] == pytest.approx(report["nll"] / report["ngram_nll"])
    cont = report["continuations"]
    assert cont["prompts"] >= 1
    assert 0 <= cont["pitch_class_overlap"] <= 1 and 0 <= cont["on_grid"] <= 1
    assert isinstance(cont["stuck_notes"], int)


def test_sliding_windows_score_each_token_once_and_match_a_full_pass() -> None:
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=40, n_layer=1, n_head=2, d_model=16, d_ff=32, context=200)
    model = Transformer(config).eval()
    rng = np.random.default_rng(0)
    tokens = rng.integers(1, 40, 150)
    offsets = np.array([0, 60, 150])
    nll, hits = score_model(model, tokens, offsets, 4, False)
    assert nll.size == hits.size == 150 - 2
    with torch.no_grad():
        logits = model(torch.from_numpy(tokens[None, 60:150]))[0][0]
    expected = torch.nn.functional.cross_entropy(
        logits[:-1], torch.from_numpy(tokens[61:150]), reduction="none"
    )
    assert np.allclose(nll[59:], expected.numpy(), atol=1e-5)
    short = Transformer(ModelConfig(**{**config.__dict__, "context": 32})).eval()
    short.load_state_dict(model.state_dict())
    nll_short, _ = score_model(short, tokens, offsets, 4, False)
    assert nll_short.size == nll.size  # windows of 32, stride 16: still one score per token
    assert np.allclose(nll_short[:31], nll[:31], atol=1e-5)  # the first window is identical


def test_a_plain_midi_folder_is_tokenized_on_the_fly(smoke_run, midi_folder) -> None:
    report = evaluate_model(smoke_run, midi_folder, QUIET)
    assert report["files"] == 10  # the readable files with notes
    assert report["split"] is None
    assert report["ngram_nll"] is not None  # fitted on the run's own training data


def test_cli_json_prints_one_object(smoke_run: Path, prepared: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "eval",
            "--model",
            str(smoke_run / "checkpoint.pt"),
            "--data",
            str(prepared),
            "--split",
            "val",
            "--prompts",
            "1",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    for key in ("files", "tokens", "nll", "accuracy", "ngram_nll", "continuations"):
        assert key in report
    for key in ("pitch_class_overlap", "on_grid", "stuck_notes"):
        assert key in report["continuations"]


def test_loading_a_missing_model_is_a_one_line_error(tmp_path: Path) -> None:
    from livegen.errors import ModelLoadError

    with pytest.raises(ModelLoadError, match="not found"):
        load_torch_model(tmp_path / "nope.pt")


def test_comparison_of_identical_music_is_perfect() -> None:
    notes = [Note(60 + (i % 5), i * 0.5, i * 0.5 + 0.5, 80) for i in range(16)]
    later = [Note(n.pitch, n.start_beat + 8, n.end_beat + 8, 80) for n in notes]
    row = _compare(notes, 8.0, later, 8.0, 24)
    assert row["pc_overlap"] == pytest.approx(1.0)
    assert row["density"] == row["density_prompt"] == 2.0
    assert row["on_grid"] == row["on_grid_prompt"] == 1.0
    assert row["out_of_range"] == 0.0 and row["stuck"] == 0
    far = [Note(n.pitch + 30, n.start_beat, n.start_beat + 9, 80) for n in later]
    row = _compare(notes, 8.0, far, 8.0, 24)
    assert row["out_of_range"] == 1.0 and row["stuck"] == 16


def test_an_exported_model_folder_scores_like_its_checkpoint(smoke_run, prepared, tmp_path):
    pytest.importorskip("onnx")
    from livegen.export.transformer_onnx import export_checkpoint

    folder, _ = export_checkpoint(smoke_run / "checkpoint.pt", tmp_path / "model")
    options = EvalOptions(split="test", prompts=1, continuation_tokens=8, progress=False)
    torch_report = evaluate_model(smoke_run, prepared, options)
    onnx_report = evaluate_model(folder, prepared, options)
    assert onnx_report["tokens"] == torch_report["tokens"]
    assert onnx_report["nll"] == pytest.approx(torch_report["nll"], abs=1e-3)


def test_model_card_states_data_config_steps_and_both_nlls(smoke_run, prepared) -> None:
    from livegen.train.checkpoint import load_checkpoint
    from livegen.train.model_card import render

    report = evaluate_model(smoke_run, prepared, QUIET)
    state = load_checkpoint(smoke_run)
    records = [json.loads(x) for x in (smoke_run / "metrics.jsonl").read_text().splitlines()]
    manifest = json.loads((prepared / "manifest.json").read_text())
    card = render(state, records, report, manifest, "test CPU")
    assert "30 optimizer steps" in card and "test CPU" in card
    assert f"{report['nll']:.4f}" in card and f"{report['ngram_nll']:.4f}" in card
    assert f"{records[-1]['ngram_nll']:.4f}" in card  # the val n-gram NLL
    assert "version 1.0" in card


def test_model_card_counts_works_by_the_manifests_collection() -> None:
    from livegen.train.model_card import works_by_collection

    manifest = {
        "source": "mixed",
        "files": [
            {"source": "001/001.mid", "collection": "pop909", "tokens": 10},
            {"source": "002/002.mid", "collection": "pop909", "tokens": 20},
            {"source": "bach/bwv66.6.mid", "collection": "bach", "tokens": 5},
        ],
    }
    assert works_by_collection(manifest) == {"pop909": (2, 30), "bach": (1, 5)}
    old_music21 = {"source": "music21", "files": [{"source": "bach/a.mid", "tokens": 3}]}
    assert works_by_collection(old_music21) == {"bach": (1, 3)}
