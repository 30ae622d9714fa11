"""What every ONNX exporter shares: quantizing a graph file and swapping a finished folder in.

An exporter (one module per model family, e.g. transformer_onnx.py) writes its graphs and
model.toml into a temp folder beside the target, then calls `replace_folder`. The target is
checked first (`check_model_folder`): only a new name, an empty folder or an earlier model folder
(one with a model.toml) is replaced, never a folder that holds the export's own input, so
`-o ~` or `-o RUN_FOLDER` is one error line instead of a deleted folder.
"""

from __future__ import annotations

import shutil
import time
import warnings
from pathlib import Path

import onnx

from livegen.errors import OutputError


def quantize(src: Path, dst: Path, precision: str) -> None:
    """fp16: weights and activations in half precision; int8: dynamic int8 MatMul weights."""
    if precision == "int8":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(
            str(src),
            str(dst),
            weight_type=QuantType.QInt8,
            # 7-bit weights: onnxruntime's u8s8 MatMul on AVX2 without VNNI (most laptops)
            # multiplies with VPMADDUBSW, which adds two u8*s8 products into a saturating int16;
            # 255*127*2 overflows it, 255*64*2 cannot. Same numbers on every CPU (VNNI included),
            # measured: 8-bit weights gave logits off by 1.95 on AVX2 and 0.19 with VNNI.
            reduce_range=True,
            # one scale per output column wins back the bit reduce_range costs (max logit diff of
            # the default model 0.34 vs 0.44 per-tensor)
            per_channel=True,
            # contrib ops (GroupQueryAttention) defeat shape inference: say the tensors are float
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    elif precision == "fp16":
        from onnxconverter_common import float16

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "-3.4e38 truncated": the mask value, by design
            model = float16.convert_float_to_float16(onnx.load(str(src)), keep_io_types=False)
        onnx.save(model, str(dst))
    else:
        shutil.copyfile(src, dst)


def check_model_folder(out_dir: Path, inputs: tuple[Path, ...] = ()) -> None:
    """OutputError unless `out_dir` may be replaced by a model folder (see module docstring)."""
    target = out_dir.resolve()
    for source in inputs:
        if source.resolve().is_relative_to(target):
            raise OutputError(
                f"cannot export into {out_dir}: it holds the input {source}; name another folder"
            )
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise OutputError(f"cannot export into {out_dir}: it is not a folder")
    if not (out_dir / "model.toml").is_file() and any(out_dir.iterdir()):
        raise OutputError(
            f"cannot export into {out_dir}: not a model folder (no model.toml) and not empty; "
            "name a new or empty folder, or an earlier export"
        )


def replace_folder(tmp: Path, out_dir: Path) -> None:
    """Rename the finished `tmp` to `out_dir`, moving an existing `out_dir` aside first."""
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}.old.{time.time_ns()}")
        out_dir.rename(old)
        tmp.rename(out_dir)
        shutil.rmtree(old)
    else:
        tmp.rename(out_dir)
