"""Fixtures for the daemon's tests: a tiny random exported model (real ONNX, no training)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """LIVEGEN_TEST_MODEL may name an exported folder to reuse (saves the export's seconds)."""
    reuse = os.environ.get("LIVEGEN_TEST_MODEL")
    if reuse:
        return Path(reuse)
    tiny = pytest.importorskip("livegen.export.tiny", reason="export extra (torch) not installed")
    return tiny.make_tiny_model_dir(tmp_path_factory.mktemp("tiny") / "model", context=512)
