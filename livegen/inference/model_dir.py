"""Find and read an exported model folder (model.onnx + model.toml); the default ships inside."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from livegen.config import read_toml
from livegen.errors import ConfigError, ModelLoadError

FORMAT_VERSION = 1
PRECISIONS = ("fp32", "fp16", "int8")
# "shared": GroupQueryAttention graph, past/present share one bound buffer
# (export/transformer_gqa.py);
# "fixed": the portable traced graph reading a prefix view of the engine's buffer.
CACHE_LAYOUTS = ("shared", "fixed")
# model families the engine runs, and the graph files each needs in its folder
GRAPHS = {
    "transformer": ("model.onnx",),
    "hierarchical": ("event.onnx", "token.onnx"),  # export/hierarchical_onnx.py
}
# the fp16 GroupQueryAttention graph a folder may hold beside model.onnx for CUDA, where the op
# computes in fp16/bf16 only (`livegen export --cuda-graph`; model.toml's [cuda] names it)
CUDA_GRAPH = "model.cuda.onnx"
DEFAULT_MODEL_DIR = Path(__file__).parents[1] / "assets" / "models" / "default"


@dataclass(frozen=True)
class ModelInfo:
    """What the runtime needs from model.toml (the model config stays a plain dict: it belongs to
    the torch side, and the runtime must not import it)."""

    path: Path
    precision: str
    opset: int
    cache: str
    model: dict[str, Any]
    tokenizer: dict[str, Any]
    parity: dict[str, Any] = field(default_factory=dict)
    kind: str = "transformer"
    cuda_graph: str = ""  # file name of the graph to run on CUDA instead ("" = model.onnx)
    # [live] density: the model's own scale on the density knob, live (1 = as it samples). A
    # model that plays more than a bandmate should beside a melody is calibrated here, so the
    # knob's 1 means the same for every model (the shipped default's card says how it was set)
    live_density: float = 1.0

    @property
    def onnx_path(self) -> Path:
        return self.path / "model.onnx"

    def graph_for(self, device: str) -> Path:
        """The graph to run on `device` ("cpu" or "cuda"): the CUDA graph there when the
        folder has one, else model.onnx."""
        if device == "cuda" and self.cuda_graph:
            return self.path / self.cuda_graph
        return self.onnx_path

    @property
    def n_layer(self) -> int:
        return int(self.model["n_layer"])

    @property
    def n_head(self) -> int:
        return int(self.model["n_head"])

    @property
    def d_model(self) -> int:
        return int(self.model["d_model"])

    @property
    def head_size(self) -> int:
        return int(self.model["d_model"]) // self.n_head

    @property
    def position(self) -> str:
        return str(self.model.get("position", "rope"))

    @property
    def kv_heads(self) -> int:
        return int(self.model.get("n_kv_head", 0)) or self.n_head

    @property
    def kv_dim(self) -> int:
        """Cache width per position and batch row: key/value heads x head size."""
        return self.kv_heads * self.head_size

    @property
    def context(self) -> int:
        return int(self.model["context"])

    @property
    def vocab_size(self) -> int:
        return int(self.model["vocab_size"])


def resolve_model_dir(model: str | Path) -> Path:
    """`"default"` -> the shipped model; anything else is a folder path."""
    if str(model) == "default":
        if not (DEFAULT_MODEL_DIR / "model.toml").is_file():
            raise ModelLoadError(
                f"the default model is not installed ({DEFAULT_MODEL_DIR} is missing); "
                "pass --model DIR with a folder written by `livegen export`"
            )
        return DEFAULT_MODEL_DIR
    path = Path(model)
    if not path.is_dir():
        raise ModelLoadError(f"model folder not found: {path} (expected 'default' or a folder)")
    return path


def read_model_dir(model: str | Path) -> ModelInfo:
    """Read and check model.toml; a missing or incomplete folder is a one-line ModelLoadError."""
    path = resolve_model_dir(model)
    toml_path = path / "model.toml"
    if not toml_path.is_file():
        raise ModelLoadError(f"{path}: not a model folder (needs model.onnx and model.toml)")
    try:
        meta = read_toml(toml_path)
    except ConfigError as err:
        raise ModelLoadError(str(err)) from err
    kind = str(meta.get("kind", "transformer"))
    if kind not in GRAPHS:
        raise ModelLoadError(
            f"{path}: a {kind!r} model; the engine runs {', '.join(GRAPHS)} models"
        )
    missing = [name for name in GRAPHS[kind] if not (path / name).is_file()]
    if missing:
        raise ModelLoadError(
            f"{path}: not a model folder (needs {' and '.join(GRAPHS[kind])} and model.toml)"
        )
    if meta.get("format") != FORMAT_VERSION:
        raise ModelLoadError(
            f"{toml_path}: format {meta.get('format')!r}, this livegen reads {FORMAT_VERSION}"
        )
    try:
        info = ModelInfo(
            path=path,
            precision=meta["precision"],
            opset=int(meta["opset"]),
            cache=meta["cache"],
            model=dict(meta["model"]),
            tokenizer=dict(meta["tokenizer"]),
            parity=dict(meta.get("parity", {})),
            kind=kind,
            cuda_graph=str(dict(meta.get("cuda", {})).get("graph", "")),
            live_density=float(dict(meta.get("live", {})).get("density", 1.0)),
        )
        for key in ("n_layer", "n_head", "d_model", "context", "vocab_size"):
            int(info.model[key])
    except (KeyError, TypeError, ValueError) as err:
        raise ModelLoadError(f"{toml_path}: missing or bad entry {err}") from err
    if info.cuda_graph and not (path / info.cuda_graph).is_file():
        raise ModelLoadError(f"{toml_path}: [cuda] graph {info.cuda_graph!r} is not in {path}")
    if not 0 < info.live_density <= 4:
        raise ModelLoadError(f"{toml_path}: [live] density {info.live_density} not in (0, 4]")
    if info.cache not in CACHE_LAYOUTS:
        raise ModelLoadError(f"{toml_path}: cache {info.cache!r} not one of {CACHE_LAYOUTS}")
    if info.precision not in PRECISIONS:
        raise ModelLoadError(f"{toml_path}: precision {info.precision!r} not one of {PRECISIONS}")
    return info
