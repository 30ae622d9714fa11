"""Run by test_transformer_onnx under `qemu-x86_64 -cpu Haswell` (an AVX2 CPU without AVX-512/VNNI):
export the tiny test model at int8 and print its parity figures as JSON."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from livegen.export.transformer_onnx import export_model_dir, verify_parity

sys.path.insert(0, str(Path(__file__).parent))
from test_transformer_onnx import TOKENIZER, tiny

with tempfile.TemporaryDirectory() as tmp:
    folder, _ = export_model_dir(tiny("rope"), TOKENIZER, Path(tmp) / "m", precision="int8")
    print(json.dumps(verify_parity(tiny("rope"), folder, "int8", cache="shared")))
