"""The cache layout choice, third candidate: onnxruntime's GroupQueryAttention contrib op.

Builds a decode graph of the default model's shape (random weights; cost does not depend on
values) with com.microsoft.GroupQueryAttention, rotary inside the op, and the KV cache as one
preallocated (1, kv_heads, context, head_size) buffer per layer that is bound, through IO
binding, as both past and present (the op's shared-buffer mode writes the new row in place).
Prints p50/p90 ms per token at contexts 64/256/512/1000, to set beside `livegen bench`, which
measures the engine's own layout on the same shape.

    .venv/bin/python bench/gqa_layout.py [--layers 4 --d-model 256 --heads 4 --kv-heads 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper


def build(layers: int, d: int, heads: int, kv_heads: int, d_ff: int, vocab: int, ctx: int):
    rng = np.random.default_rng(0)
    hs = d // heads
    kv = kv_heads * hs
    inits, nodes = [], []

    def weight(name: str, *shape: int) -> str:
        inits.append(numpy_helper.from_array((rng.normal(0, 0.02, shape)).astype(np.float32), name))
        return name

    def ones(name: str, n: int, value: float = 1.0) -> str:
        inits.append(numpy_helper.from_array(np.full(n, value, np.float32), name))
        return name

    angles = np.outer(np.arange(ctx), 1.0 / (10000 ** (np.arange(0, hs, 2) / hs)))
    inits.append(numpy_helper.from_array(np.cos(angles).astype(np.float32), "cos"))
    inits.append(numpy_helper.from_array(np.sin(angles).astype(np.float32), "sin"))
    inits.append(numpy_helper.from_array(np.array([d, kv, kv], np.int64), "split"))
    nodes.append(helper.make_node("Gather", [weight("emb", vocab, d), "tokens"], ["x0"]))
    inputs = [
        helper.make_tensor_value_info("tokens", TensorProto.INT64, [1, 1]),
        helper.make_tensor_value_info("seqlens_k", TensorProto.INT32, [1]),
        helper.make_tensor_value_info("total_len", TensorProto.INT32, []),
    ]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1, vocab])]
    x = "x0"
    for i in range(layers):
        p = f"l{i}_"
        cache_shape = [1, kv_heads, ctx, hs]
        for kind in ("k", "v"):
            inputs.append(helper.make_tensor_value_info(f"past_{kind}_{i}", TensorProto.FLOAT, cache_shape))
            outputs.append(helper.make_tensor_value_info(f"present_{kind}_{i}", TensorProto.FLOAT, cache_shape))
        nodes += [
            helper.make_node("LayerNormalization", [x, ones(p + "g1", d), ones(p + "b1", d, 0)], [p + "h"], axis=-1),
            helper.make_node("MatMul", [p + "h", weight(p + "wqkv", d, d + 2 * kv)], [p + "qkv"]),
            helper.make_node("Split", [p + "qkv", "split"], [p + "q", p + "k", p + "v"], axis=-1),
            helper.make_node(
                "GroupQueryAttention",
                [p + "q", p + "k", p + "v", f"past_k_{i}", f"past_v_{i}", "seqlens_k", "total_len", "cos", "sin"],
                [p + "att", f"present_k_{i}", f"present_v_{i}"],
                domain="com.microsoft", num_heads=heads, kv_num_heads=kv_heads, do_rotary=1,
            ),
            helper.make_node("MatMul", [p + "att", weight(p + "wo", d, d)], [p + "o"]),
            helper.make_node("Add", [x, p + "o"], [p + "x1"]),
            helper.make_node("LayerNormalization", [p + "x1", ones(p + "g2", d), ones(p + "b2", d, 0)], [p + "h2"], axis=-1),
            helper.make_node("MatMul", [p + "h2", weight(p + "wup", d, d_ff)], [p + "u"]),
            helper.make_node("Gelu", [p + "u"], [p + "g"], domain="com.microsoft"),
            helper.make_node("MatMul", [p + "g", weight(p + "wdown", d_ff, d)], [p + "m"]),
            helper.make_node("Add", [p + "x1", p + "m"], [f"x{i + 1}"]),
        ]
        x = f"x{i + 1}"
    nodes += [
        helper.make_node("LayerNormalization", [x, ones("gf", d), ones("bf", d, 0)], ["hf"], axis=-1),
        helper.make_node("MatMul", ["hf", weight("head", d, vocab)], ["logits"]),
    ]
    graph = helper.make_graph(nodes, "gqa_decode", inputs, outputs, inits)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    )
    return model.SerializeToString()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--d-model", type=int, default=256)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--kv-heads", type=int, default=1)
    parser.add_argument("--d-ff", type=int, default=1280)
    parser.add_argument("--vocab", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=500)
    args = parser.parse_args()
    ctx = 1024
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    model = build(args.layers, args.d_model, args.heads, args.kv_heads, args.d_ff, args.vocab, ctx)
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    hs = args.d_model // args.heads
    binding = session.io_binding()
    caches = []
    for i in range(args.layers):
        for kind in ("k", "v"):
            buffer = ort.OrtValue.ortvalue_from_numpy(
                np.zeros((1, args.kv_heads, ctx, hs), np.float32)
            )
            binding.bind_ortvalue_input(f"past_{kind}_{i}", buffer)
            binding.bind_ortvalue_output(f"present_{kind}_{i}", buffer)  # shared buffer
            caches.append(buffer)
    binding.bind_output("logits")
    tokens = np.array([[5]], np.int64)
    binding.bind_cpu_input("tokens", tokens)
    print(f"GroupQueryAttention, shared past/present buffers, IO binding "
          f"({args.layers} layers, d={args.d_model}, {args.heads} heads, {args.kv_heads} kv heads)")
    for position in (64, 256, 512, 1000):
        seqlens = np.array([position], np.int32)
        total = np.array(position + 1, np.int32)
        binding.bind_cpu_input("seqlens_k", seqlens)
        binding.bind_cpu_input("total_len", total)
        for _ in range(20):
            session.run_with_iobinding(binding)
        times = []
        for _ in range(args.repeats):
            started = time.perf_counter_ns()
            session.run_with_iobinding(binding)
            times.append(time.perf_counter_ns() - started)
        ms = np.asarray(times) / 1e6
        print(f"  context {position:>4}: p50 {np.median(ms):.3f} ms  p90 {np.percentile(ms, 90):.3f} ms")


if __name__ == "__main__":
    main()
