"""Offline generation and the model CLI (export, generate, bench) on tiny exported models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from livegen.cli import main
from livegen.inference.engine import Engine
from livegen.inference.generate import GenerateRequest, generate_midi, generate_tokens
from livegen.inference.sampler import Constraints
from livegen.machine import cpu_info
from livegen.tokenizer import Grammar, TokenKind, Vocab
from livegen.tokenizer.midi_file import read_midi

PROMPTS = sorted((Path(os.environ["LIVEGEN_TESTDATA"]) / "midi").glob("*.mid"))


def test_generated_tokens_follow_the_grammar_and_the_seed(tiny_model) -> None:
    vocab = Vocab()
    request = GenerateRequest(tokens=200, seed=3)
    runs = []
    for _ in range(2):
        engine = Engine.load(tiny_model("rope"), overflow="sync")
        tokens, reason = generate_tokens(engine, [vocab.bos], request, vocab)
        runs.append(tokens)
        # a random model may end the piece (EOS) before the 200 asked for
        assert (reason, len(tokens)) == ("tokens", 200) or (reason == "eos" and len(tokens) < 200)
        assert Grammar(vocab).is_valid(tokens)
    assert runs[0] == runs[1]
    other, _ = generate_tokens(
        Engine.load(tiny_model("rope")), [vocab.bos], GenerateRequest(tokens=200, seed=4), vocab
    )
    assert other != runs[0]


def test_constraints_hold_in_generated_music(tiny_model) -> None:
    vocab = Vocab()
    request = GenerateRequest(
        tokens=400, seed=1, constraints=Constraints(pitch_low=60, pitch_high=72, key="C major")
    )
    tokens, _ = generate_tokens(Engine.load(tiny_model("rope")), [vocab.bos], request, vocab)
    channel = 0
    for token in tokens:
        if vocab.kinds[token] == TokenKind.CHANNEL:
            channel = int(vocab.args[token])
        if vocab.kinds[token] == TokenKind.NOTE_ON and channel != 9:
            pitch = int(vocab.args[token])
            assert 60 <= pitch <= 72 and pitch % 12 in {0, 2, 4, 5, 7, 9, 11}


def test_bars_stop_after_that_much_music(tiny_model, tmp_path: Path) -> None:
    out = tmp_path / "out.mid"
    [result] = generate_midi(None, out, GenerateRequest(bars=2, seed=0), tiny_model("rope"))
    assert result.stopped_by in ("bars", "eos")
    assert all(note.start_beat < 8.0 for note in result.notes)
    assert out.is_file()


@pytest.mark.parametrize("prompt", PROMPTS[:2], ids=lambda p: p.name)
def test_continuation_keeps_the_prompt_and_adds_to_it(
    tiny_model, prompt: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.mid"
    [result] = generate_midi(prompt, out, GenerateRequest(tokens=100, seed=0), tiny_model("rope"))
    written = read_midi(out).notes
    assert result.prompt_notes == len(read_midi(prompt).notes)
    assert len(written) >= result.prompt_notes


def test_a_batch_makes_several_different_continuations(tiny_model, tmp_path: Path) -> None:
    out = tmp_path / "v.mid"
    request = GenerateRequest(tokens=60, seed=5)
    results = generate_midi(None, out, request, tiny_model("rope"), count=3)
    assert [r.path.name for r in results] == ["v-1.mid", "v-2.mid", "v-3.mid"]
    assert all(r.path.is_file() for r in results)
    assert len({tuple(r.tokens) for r in results}) == 3
    vocab = Vocab()
    assert all(Grammar(vocab).is_valid(r.tokens) for r in results)
    again = generate_midi(None, tmp_path / "w.mid", request, tiny_model("rope"), count=3)
    assert [r.tokens for r in again] == [r.tokens for r in results]


def test_cli_generate_writes_a_midi_file(tiny_model, tmp_path: Path, capsys) -> None:
    out = tmp_path / "g.mid"
    argv = ["generate", "-o", str(out), "--tokens", "50", "--seed", "2"]
    assert main([*argv, "--model", str(tiny_model("rope"))]) == 0
    assert out.is_file() and "wrote" in capsys.readouterr().out


def test_cli_generate_without_the_default_model_is_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "livegen", "generate", "-o", str(tmp_path / "x.mid"),
         "--model", str(tmp_path / "nope")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert done.stderr.count("\n") == 1 and "nope" in done.stderr


def test_cli_export_with_verify(tmp_path: Path, capsys) -> None:
    from livegen.train.models.transformer import ModelConfig, Transformer

    config = ModelConfig(vocab_size=Vocab().size, n_layer=1, n_head=2, d_model=32, d_ff=64,
                         context=400)  # fmt: skip
    ckpt = tmp_path / "ckpt.pt"
    torch.save(
        {"model_config": config.__dict__, "tokenizer": Vocab().config.to_dict(),
         "model": Transformer(config).state_dict()},
        ckpt,
    )  # fmt: skip
    out = tmp_path / "model"
    argv = ["export", "--onnx", str(ckpt), "-o", str(out), "--verify", "--attention", "portable"]
    assert main(argv) == 0
    assert "max |logit diff|" in capsys.readouterr().out
    assert Engine.load(out).vocab_size == Vocab().size


@pytest.mark.slow
def test_cli_bench_json_has_the_documented_keys(tiny_model, capsys) -> None:
    argv = ["bench", "--model", str(tiny_model("rope", context=1100)), "--json", "--repeats", "20"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("model", "machine", "device", "decode_ms", "prefill_256_ms", "tokens_per_s",
                "rss_mb", "cold_start_s", "baselines"):  # fmt: skip
        assert key in result
    machine = result["machine"]
    for key in ("model", "cores", "avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile"):
        assert key in machine
    assert machine["describe"] == cpu_info().describe()
    assert set(result["decode_ms"]) == {"64", "256", "512", "1000"}
    assert result["decode_ms"]["512"]["p99"] >= result["decode_ms"]["512"]["p50"] > 0
    assert result["runtime_imported_torch"] is False
    for name in ("torch_recompute", "torch_kv_cache"):
        assert set(result["baselines"][name]["decode_ms"]) == {"64", "256", "512", "1000"}
