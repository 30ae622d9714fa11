"""The model at run time: model folder, onnxruntime engine, sampler, offline generation.

May import: numpy, onnxruntime, livegen.config, livegen.errors, livegen.music, livegen.tokenizer.
Never imports livegen.live, livegen.tui, livegen.commands, torch, train or export.
"""
