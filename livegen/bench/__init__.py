"""Benchmarks behind `livegen bench`: engine against baselines; the live path through JACK.

May import: livegen.inference, livegen.live, livegen.machine, livegen.tokenizer. The PyTorch
baselines live in livegen.export.bench_baselines and are handed in by the command.
"""
