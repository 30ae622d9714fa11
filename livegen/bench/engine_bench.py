"""`livegen bench`: the engine's decode cost against the usual ways, measured in one run.

Measured on one model folder (the shipped default unless --model):
- decode ms/token p50/p99 at contexts 64, 256, 512 and 1000 (one new token after `ctx` cached
  ones, rolled back and repeated; a model with a shorter context is measured at its last
  position, recorded as the entry's "context"), prefill of 256 tokens, sustained tokens/s with
  sampling;
- the cache layout choice: the GroupQueryAttention graph with shared buffers ("shared"), the
  portable graph reading a prefix view of the engine's buffer ("fixed"), and the portable graph
  with a "growing past" (copied in, present concatenated out, as most exports do);
- in a fresh runtime-only subprocess (torch never imported): peak RSS and cold start, the wall
  time from launching the process to the first sampled token;
- ms per note at 64, 512 and 2048 notes of context (note_bench.py), for both model families;
  a hierarchical model's `decode_ms` is per token averaged over whole notes, and it has no
  PyTorch baselines or layout comparison;
- the machine: CPU model, cores and ISA features (livegen.machine), since every figure here
  depends on them;
- when torch is installed, baselines with the same weights (if the folder has the training
  checkpoint) or random weights of the same shape (cost does not depend on values): PyTorch
  recomputing the whole sequence per token, and PyTorch with a KV cache.
torch lives in livegen.export.bench_baselines, handed in by the CLI when torch is installed.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from livegen.bench.note_bench import NOTE_CONTEXTS, ms_per_note, ms_per_token_in_notes, music_stream
from livegen.inference.engine import Engine
from livegen.inference.model_dir import DEFAULT_MODEL_DIR, read_model_dir
from livegen.machine import cpu_info
from livegen.percentiles import percentiles

CONTEXTS = (64, 256, 512, 1000)
GOALS = {
    "decode_p50_512_ms": 0.5,
    "p99_over_p50": 2.0,
    "vs_recompute_512": 50.0,
    "vs_torch_kv_512": 3.0,
    "rss_mb": 200.0,
    "cold_start_s": 1.5,
    "flat_1000_over_64": 2.0,
}

_CHILD = """
import json, resource, sys, time
launched = float(sys.argv[2])


def peak_rss_mb():
    # VmHWM restarts at exec; ru_maxrss would carry the parent's peak over on Linux
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

from livegen.inference.engine import Engine
from livegen.inference.sampler import Sampler, SamplingParams
from livegen.tokenizer import Grammar, TokenizerConfig, Vocab
engine = Engine.load(sys.argv[1], threads=int(sys.argv[3]), check_tokenizer=False)
vocab = Vocab(TokenizerConfig.from_dict(engine.tokenizer_config))  # the model's own tokens
grammar = Grammar(vocab)
sampler = Sampler(0)
logits = engine.prefill([vocab.bos])
token = sampler.sample(logits, SamplingParams(), grammar.mask_after(vocab.bos)[: engine.vocab_size])
first = time.time()
for _ in range(300):
    logits = engine.step(token)
    token = sampler.sample(logits, SamplingParams(), grammar.mask_after(token)[: engine.vocab_size])
engine.close()
print(json.dumps({
    "cold_start_s": first - launched,
    "rss_mb": peak_rss_mb(),
    "torch_loaded": "torch" in sys.modules,
}))
"""


def ms_percentiles(samples_ns: list[int]) -> dict[str, float]:
    """p50/p90/p99 in ms of timings in ns (the shape of every `decode_ms` entry)."""
    return percentiles(np.asarray(samples_ns, dtype=np.float64) / 1e6, (50, 90, 99))


def time_calls(fn: Callable[[], Any], repeats: int) -> list[int]:
    out = []
    for _ in range(repeats):
        started = time.perf_counter_ns()
        fn()
        out.append(time.perf_counter_ns() - started)
    return out


def engine_decode(
    engine: Engine, seq: np.ndarray, repeats: int, contexts: tuple[int, ...] = CONTEXTS
) -> dict[str, dict[str, float]]:
    result = {}
    for ctx in contexts:
        at = reachable(ctx, engine.context)
        engine.reset()
        engine.prefill(seq[:at])
        token = int(seq[at])

        def one(at: int = at, token: int = token) -> None:
            engine.rollback(at)
            engine.step(token)

        time_calls(one, 10)  # warm-up
        result[str(ctx)] = {**ms_percentiles(time_calls(one, repeats)), "context": at}
    return result


def reachable(ctx: int, model_context: int) -> int:
    """The context actually measured: a model with a shorter window is measured at its last
    position (the entry's "context" says so)."""
    return min(ctx, model_context - 1)


def compare_portable_layouts(
    folder: Path, threads: int, seq: np.ndarray, repeats: int
) -> dict[str, dict[str, float]]:
    """The portable graph at context 512: the engine's prefix view vs a growing past."""
    engine = Engine.load(folder, threads=threads, overflow="sync", check_tokenizer=False)
    fixed = engine_decode(engine, seq, repeats, contexts=(512,))["512"]
    return {"fixed_512": fixed, "growing_past_512": growing_past_decode(engine, seq, repeats)}


def growing_past_decode(engine: Engine, seq: np.ndarray, repeats: int) -> dict[str, float]:
    """p50/p99 at context 512 when the past is copied in and the present concatenated out."""
    runner = engine._runner
    ctx = reachable(512, engine.context)
    engine.reset()
    engine.prefill(seq[:ctx])

    def one() -> None:
        feeds: dict[str, Any] = {"tokens": np.array([[int(seq[ctx])]], dtype=np.int64)}
        for i in range(runner.n_layer):
            feeds[f"past_k_{i}"] = runner.k[i, :ctx].copy()
            feeds[f"past_v_{i}"] = runner.v[i, :ctx].copy()
        _, new_k, new_v = runner.session.run(None, feeds)
        for i in range(runner.n_layer):
            np.concatenate([feeds[f"past_k_{i}"], new_k[i]])
            np.concatenate([feeds[f"past_v_{i}"], new_v[i]])

    time_calls(one, 10)
    return ms_percentiles(time_calls(one, repeats))


def sustained_tokens_per_s(engine: Engine, seq: np.ndarray, count: int = 500) -> float:
    """Decode + sample (grammar mask, top-p) for `count` tokens after a 64-token prompt."""
    from livegen.inference.sampler import Sampler, SamplingParams
    from livegen.tokenizer import Grammar, TokenizerConfig, Vocab

    vocab = Vocab(TokenizerConfig.from_dict(engine.tokenizer_config))
    grammar = Grammar(vocab) if vocab.size == engine.vocab_size else None
    sampler = Sampler(0)
    params = SamplingParams(temperature=0.9, top_p=0.95)
    engine.reset()
    count = min(count, engine.context - 65)  # stay inside one window: no slides measured
    logits = engine.prefill(seq[:64])
    token = int(seq[63])
    started = time.perf_counter()
    for _ in range(count):
        mask = grammar.mask_after(token) if grammar is not None else None
        token = sampler.sample(logits, params, mask)
        logits = engine.step(token)
    return count / (time.perf_counter() - started)


def runtime_subprocess(model_path: Path, threads: int) -> dict[str, Any]:
    """RSS and cold start of a process that only has the runtime (torch is never imported)."""
    launched = time.time()
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(model_path), repr(launched), str(threads)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"runtime-only subprocess failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


def run_bench(
    model: str | Path = "default",
    device: str = "cpu",
    threads: int = 1,
    repeats: int = 300,
    baselines: bool = True,
    say: Callable[[str], None] = lambda _msg: None,
    random_precision: str = "fp32",
    checkpoint: Path | None = None,
    torch_side: Any = None,
) -> dict[str, Any]:
    """Measure everything; returns the JSON-able result (see the README for the keys).

    `torch_side` is `livegen.export.bench_baselines` when torch is installed (the CLI passes
    it): the PyTorch baselines and the untrained stand-in model live there, so this runtime
    module never imports torch, train or export.
    """
    with tempfile.TemporaryDirectory() as scratch:
        label = str(model)
        if str(model) == "default" and not (DEFAULT_MODEL_DIR / "model.toml").is_file():
            if torch_side is None:
                read_model_dir("default")  # raises the one-line "not installed" error
            say("no trained default model yet: benchmarking a random model of the default size")
            model = torch_side.random_default_model(Path(scratch), random_precision)
            label = "random default-size model (untrained)"
        info = read_model_dir(model)
        engine = Engine.load(info.path, device=device, threads=threads, overflow="sync",
                             check_tokenizer=False)  # fmt: skip
        hierarchical = info.kind == "hierarchical"
        music = music_stream(max(NOTE_CONTEXTS) + 2)
        seq = np.random.default_rng(0).integers(4, info.vocab_size, size=1100)
        say("decode latency at contexts " + ", ".join(map(str, CONTEXTS)))
        if hierarchical:  # per token, averaged over whole notes of music (note_bench.py)
            seq = music
            decode = ms_per_token_in_notes(engine, music, max(repeats // 4, 20), CONTEXTS)
        else:
            decode = engine_decode(engine, seq, repeats)
        layouts = {f"{info.cache}_512": decode["512"]}
        portable = info.path if info.cache == "fixed" and not hierarchical else None
        random_stand_in = label.startswith("random") and torch_side is not None
        if portable is None and random_stand_in and info.position != "relative":
            # the same weights through the portable graph, to compare the layouts in one run
            portable = torch_side.random_default_model(
                Path(scratch), random_precision, "portable", "random-portable"
            )
        if portable is not None:
            say("portable graph: prefix-view cache vs a growing past, at context 512")
            layouts.update(compare_portable_layouts(portable, threads, seq, repeats))
        engine.reset()
        prefill = ms_percentiles(
            time_calls(lambda: (engine.reset(), engine.prefill(seq[:256])), 20)
        )
        say("ms per note at " + ", ".join(map(str, NOTE_CONTEXTS)) + " notes of context")
        per_note = ms_per_note(engine, music, max(repeats // 4, 20))
        say("sustained tokens/s")
        tokens_per_s = sustained_tokens_per_s(engine, seq)
        say("runtime-only subprocess: RSS and cold start")
        child = runtime_subprocess(info.path, threads)
        result: dict[str, Any] = {
            "model": label,
            "machine": cpu_info().to_dict(),
            "device": engine.device,
            "precision": info.precision,
            "threads": threads,
            "kind": info.kind,
            "decode_ms": decode,
            "ms_per_note": per_note,
            "prefill_256_ms": prefill["p50"],
            "tokens_per_s": tokens_per_s,
            "rss_mb": child["rss_mb"],
            "cold_start_s": child["cold_start_s"],
            "runtime_imported_torch": child["torch_loaded"],
            "cache": info.cache,
            "cache_layouts": layouts,
            "baselines": {},
        }
        if not baselines:
            result["baselines_skipped"] = "--no-baselines"
        elif hierarchical:
            result["baselines_skipped"] = "no PyTorch baseline for hierarchical models yet"
        elif torch_side is None:
            result["baselines_skipped"] = "torch is not installed"
        else:
            say("PyTorch baselines (recompute, KV cache)")
            result["baselines"], result["baseline_weights"] = torch_side.torch_baselines(
                info.path, seq, threads, repeats, checkpoint, seeded=label.startswith("random")
            )
        result["ratios"] = ratios(result)
        result["goals"] = goals(result)
        return result


def ratios(result: dict[str, Any]) -> dict[str, float]:
    decode = result["decode_ms"]
    out = {
        "p99_over_p50_512": decode["512"]["p99"] / decode["512"]["p50"],
        "flat_1000_over_64": decode["1000"]["p50"] / decode["64"]["p50"],
    }
    for name, key in (("torch_recompute", "vs_recompute"), ("torch_kv_cache", "vs_torch_kv")):
        if name in result["baselines"]:
            theirs = result["baselines"][name]["decode_ms"]
            for ctx in CONTEXTS:
                out[f"{key}_{ctx}"] = theirs[str(ctx)]["p50"] / decode[str(ctx)]["p50"]
    return out


def goals(result: dict[str, Any]) -> dict[str, bool]:
    r = result["ratios"]
    met = {
        "decode_p50_512_ms": result["decode_ms"]["512"]["p50"] <= GOALS["decode_p50_512_ms"],
        "p99_over_p50": r["p99_over_p50_512"] <= GOALS["p99_over_p50"],
        "rss_mb": result["rss_mb"] <= GOALS["rss_mb"],
        "cold_start_s": result["cold_start_s"] <= GOALS["cold_start_s"],
        "flat_1000_over_64": r["flat_1000_over_64"] <= GOALS["flat_1000_over_64"],
    }
    if "vs_recompute_512" in r:
        met["vs_recompute_512"] = r["vs_recompute_512"] >= GOALS["vs_recompute_512"]
        met["vs_torch_kv_512"] = r["vs_torch_kv_512"] >= GOALS["vs_torch_kv_512"]
    return met


def format_report(result: dict[str, Any]) -> str:
    """The human-readable table `livegen bench` prints."""
    lines = [
        f"model: {result['model']}  ({result['precision']}, {result['device']}, "
        f"{result['threads']} thread(s))",
        f"machine: {result['machine']['describe']}",
        "",
        f"{'context':>8} {'p50 ms':>8} {'p99 ms':>8} {'recompute':>10} {'torch kv':>9}"
        f" {'x recompute':>12} {'x torch kv':>11}",
    ]
    base = result["baselines"]
    for ctx in CONTEXTS:
        ours = result["decode_ms"][str(ctx)]
        label = str(ctx) if ours["context"] == ctx else f"{ctx}->{ours['context']}"
        row = f"{label:>8} {ours['p50']:>8.3f} {ours['p99']:>8.3f}"
        if base:
            rec = base["torch_recompute"]["decode_ms"][str(ctx)]["p50"]
            kv = base["torch_kv_cache"]["decode_ms"][str(ctx)]["p50"]
            row += (
                f" {rec:>10.2f} {kv:>9.3f} {rec / ours['p50']:>11.0f}x {kv / ours['p50']:>10.1f}x"
            )
        lines.append(row)
    layouts = ", ".join(f"{k} {v['p50']:.3f} ms" for k, v in result["cache_layouts"].items())
    notes = ", ".join(
        f"{v['notes']} notes {v['p50']:.2f} ms" for v in result["ms_per_note"].values()
    )
    lines += [
        "",
        f"prefill 256 tokens: {result['prefill_256_ms']:.2f} ms;  "
        f"sustained (with sampling): {result['tokens_per_s']:.0f} tokens/s",
        f"cache layouts at 512 (p50): {layouts}",
        f"ms per note (p50) after: {notes}",
        f"runtime-only process: {result['rss_mb']:.0f} MB RSS, first token "
        f"{result['cold_start_s']:.2f} s after launch (torch imported: "
        f"{result['runtime_imported_torch']})",
    ]
    if not base:
        lines.append(f"baselines: skipped ({result.get('baselines_skipped', 'not run')})")
    else:
        lines.append(f"baselines use {result['baseline_weights']}")
    lines.append("")
    lines.append(
        "goals: " + ", ".join(f"{k} {'ok' if v else 'MISSED'}" for k, v in result["goals"].items())
    )
    return "\n".join(lines)
