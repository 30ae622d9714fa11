"""Training side (PyTorch): model families (`models/`), data loading, the training loop, evaluation.

Installed as `livegen.train`; the runtime under `livegen/` never imports it.
"""
