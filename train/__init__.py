"""Training side (PyTorch): models, data loading, the training loop and evaluation.

Installed as `livegen.train`; the runtime under `livegen/` never imports it.
"""
