"""Export of trained models to self-describing model folders; installed as `livegen.export`.

One exporter module per model family: `transformer_onnx.py` (with `transformer_gqa.py`, its
GroupQueryAttention graph) exports the flat transformer of `livegen.train.models.transformer`;
`onnx_folder.py` holds what every ONNX exporter shares (quantizing, swapping the folder in).
`bench_baselines.py` and `tiny.py` serve benchmarks and tests.

May import: the runtime (`config`, `errors`, `tokenizer`, `inference`) and `livegen.train`.
"""
