"""The torch-free inference engine: an onnxruntime session driving a preallocated KV cache.

Cache. The exported graph reads the cache and returns the new keys/values; each runner owns
one preallocated buffer (n_layer, context, batch*kv_dim) for keys and one for values, passes
the first `position` rows of each layer to onnxruntime (a contiguous view: no copy) and writes
the new rows after them. Rolling back is moving the position: O(1), nothing is recomputed.

Context overflow. When a live session fills the context, the engine slides a window: the last
`keep` tokens are prefilled into a second, spare cache, which then takes over. With
`overflow="background"` (the live path) that prefill starts on a worker thread `margin` tokens
before the cache is full, while decoding goes on in the current cache; the next step after it
finishes hands over atomically (one reference swap) and feeds the few tokens decoded meanwhile
together with the new token in one run. So there is no latency spike, only a step that carries
a few extra tokens. This works for every position variant (rope, learned, relative) because the
window restarts at position 0, unlike an attention-sink cache, which needs relative positions.
`overflow="sync"` slides in place when full (deterministic; offline generation uses it).

Positions are absolute over the whole session (`position` keeps growing past `context`), so
the daemon's bookkeeping of where it may roll back to survives a slide.

A hierarchical model folder (event.onnx + token.onnx) runs through hier_runner.HierRunner,
which keeps this contract: its `context` counts tokens, so the same slides apply.

Long because the three cache layouts' runners and the overflow worker share one cache protocol.
"""

from __future__ import annotations

import collections
import contextlib
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from livegen.errors import DeviceError, ModelLoadError
from livegen.inference.hier_runner import HierRunner, graph_paths
from livegen.inference.model_dir import ModelInfo, read_model_dir
from livegen.percentiles import percentiles

DEVICES = ("cpu", "cuda", "auto")
OVERFLOW = ("background", "sync")
DECODE_GRAPH = "decode.onnx"  # optional single-token graph beside model.onnx
DEFAULT_THREADS = 1  # measured: 1 intra-op thread beats 2 for single-token decode on 2 cores


def no_cuda_message(available: list[str]) -> str:
    """Why `--device cuda` cannot run, and the fix. onnxruntime-gpu must replace onnxruntime,
    not sit beside it: both install the one `onnxruntime` package, and the CPU build installed
    last (or reinstalled by a dependency update) hides the CUDA provider."""
    from importlib import metadata

    installed = []
    for dist in ("onnxruntime", "onnxruntime-gpu"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            installed.append(f"{dist} {metadata.version(dist)}")
    both = len(installed) == 2
    fix = (
        "pip uninstall -y onnxruntime onnxruntime-gpu && pip install 'onnxruntime-gpu>=1.17'"
        if both
        else "pip uninstall -y onnxruntime && pip install 'onnxruntime-gpu>=1.17'"
    )
    return (
        f"device 'cuda' asked for but onnxruntime has no CUDA provider (installed: "
        f"{', '.join(installed) or 'no onnxruntime distribution'}"
        f"{'; the CPU build hides the GPU one' if both else ''}; providers: "
        f"{', '.join(available)}); the GPU build replaces the CPU one: {fix}"
    )


def resolve_device(device: str) -> str:
    """ "cpu" or "cuda": where `device` ("cpu", "cuda", "auto") runs with this onnxruntime;
    DeviceError when it cannot."""
    if device not in DEVICES:
        raise DeviceError(f"device {device!r} not one of {', '.join(DEVICES)}")
    available = ort.get_available_providers()
    has_cuda = "CUDAExecutionProvider" in available
    if device == "cuda" and not has_cuda:
        raise DeviceError(no_cuda_message(available))
    return "cuda" if device == "cuda" or (device == "auto" and has_cuda) else "cpu"


def make_session(
    path: str | Path, device: str = "cpu", threads: int | None = None
) -> tuple[ort.InferenceSession, str]:
    """An onnxruntime session on `device`; returns it and the device actually used."""
    use_cuda = resolve_device(device) == "cuda"
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or DEFAULT_THREADS
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if use_cuda else None
    try:
        session = ort.InferenceSession(
            str(path), options, providers=providers or ["CPUExecutionProvider"]
        )
    except Exception as err:  # onnxruntime raises its own untyped errors
        raise ModelLoadError(f"{path}: onnxruntime cannot load it ({err})") from err
    return session, "cuda" if use_cuda else "cpu"


class CacheRunner:
    """One preallocated cache and a position; feeds tokens through a shared session."""

    def __init__(
        self,
        session: ort.InferenceSession,
        n_layer: int,
        kv_dim: int,
        context: int,
        batch: int = 1,
        decode_session: ort.InferenceSession | None = None,
    ) -> None:
        self.session = session
        # the single-token graph (static shapes, far fewer nodes) when the folder has one
        self.decode_session = decode_session if batch == 1 else None
        self.context = context
        self.batch = batch
        self.n_layer = n_layer
        dtype = np.float16 if session.get_inputs()[1].type == "tensor(float16)" else np.float32
        shape = (n_layer, context, batch * kv_dim)
        self.k = np.zeros(shape, dtype=dtype)
        self.v = np.zeros(shape, dtype=dtype)
        self.position = 0
        self._names = [(f"past_k_{i}", f"past_v_{i}") for i in range(n_layer)]

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        n_layer: int,
        kv_dim: int,
        context: int,
        batch: int = 1,
        threads: int | None = None,
    ) -> CacheRunner:
        session, _ = make_session(path, "cpu", threads)
        decode = Path(path).with_name(DECODE_GRAPH)
        decode_session = make_session(decode, "cpu", threads)[0] if decode.is_file() else None
        return cls(session, n_layer, kv_dim, context, batch, decode_session)

    def feed(self, tokens: np.ndarray) -> np.ndarray:
        """tokens (B, T) at the current position -> logits (B, T, vocab) as float32."""
        count = tokens.shape[1]
        end = self.position + count
        if end > self.context:
            raise ValueError(f"cache full: {end} > context {self.context}")
        p = self.position
        feeds: dict[str, Any] = {"tokens": np.ascontiguousarray(tokens, dtype=np.int64)}
        for layer, (k_name, v_name) in enumerate(self._names):
            feeds[k_name] = self.k[layer, :p]  # views of the first p rows: no copy
            feeds[v_name] = self.v[layer, :p]
        session = self.session
        if self.decode_session is not None and count == 1:
            session = self.decode_session
        logits, new_k, new_v = session.run(None, feeds)
        self.k[:, p:end] = new_k
        self.v[:, p:end] = new_v
        self.position = end
        return logits.astype(np.float32, copy=False)

    def rollback(self, position: int) -> None:
        if not 0 <= position <= self.position:
            raise ValueError(f"cannot roll back to {position}; the cache holds 0..{self.position}")
        self.position = position


class _OneTokenFeeds:
    """The single-token run's inputs and output, as arrays bound once (SharedCacheRunner)."""

    def __init__(self, batch: int, vocab: int, logits_dtype: type) -> None:
        self.tokens = np.zeros((batch, 1), dtype=np.int64)
        self.seqlens = np.zeros(batch, dtype=np.int32)
        self.total = np.zeros((), dtype=np.int32)
        self.logits = np.zeros((batch, 1, vocab), dtype=logits_dtype)
        # OrtValues over the arrays' memory (no copy): writing the arrays feeds the next run
        self._values = {
            name: ort.OrtValue.ortvalue_from_numpy(array)
            for name, array in (
                ("tokens", self.tokens),
                ("seqlens_k", self.seqlens),
                ("total_len", self.total),
                ("logits", self.logits),
            )
        }

    def bind(self, binding: Any) -> None:
        for name in ("tokens", "seqlens_k", "total_len"):
            binding.bind_ortvalue_input(name, self._values[name])
        binding.bind_ortvalue_output("logits", self._values["logits"])


class SharedCacheRunner:
    """The same contract for a GroupQueryAttention graph (`cache = "shared"` in model.toml).

    One (batch, kv_heads, context, head_size) buffer per layer and kind is bound through IO
    binding as both the past input and the present output: the op writes the new rows in place
    and reads no further than `total_len`, so rolling back is just a smaller position.
    """

    def __init__(
        self,
        session: ort.InferenceSession,
        n_layer: int,
        kv_heads: int,
        head_size: int,
        context: int,
        batch: int = 1,
        device: str = "cpu",
    ) -> None:
        self.session = session
        self.context = context
        self.batch = batch
        self.position = 0
        is_half = session.get_inputs()[3].type == "tensor(float16)"
        dtype = np.float16 if is_half else np.float32
        shape = (batch, kv_heads, context, head_size)
        self.binding = session.io_binding()
        self.binding.bind_output("logits")  # first, so it is output 0
        self._buffers = []
        for layer in range(n_layer):
            for kind in ("k", "v"):
                if device == "cuda":
                    buffer = ort.OrtValue.ortvalue_from_shape_and_type(shape, dtype, "cuda", 0)
                else:
                    buffer = ort.OrtValue.ortvalue_from_numpy(np.zeros(shape, dtype=dtype))
                self.binding.bind_ortvalue_input(f"past_{kind}_{layer}", buffer)
                self.binding.bind_ortvalue_output(f"present_{kind}_{layer}", buffer)
                self._buffers.append(buffer)
        # One token at a time is the live hot path (~200 runs a second): its inputs and logits
        # live in arrays bound once and written in place, instead of three arrays bound and an
        # output allocated and fetched per run (a fifth of the decode step's Python time). CPU
        # only: onnxruntime copies a CPU input to the GPU when it is bound, not when it runs.
        self._one: _OneTokenFeeds | None = None
        if device == "cpu":
            logits_type = session.get_outputs()[0].type
            vocab = session.get_outputs()[0].shape[-1]
            if isinstance(vocab, int):
                self._one = _OneTokenFeeds(
                    batch, vocab, np.float16 if logits_type == "tensor(float16)" else np.float32
                )
        self._one_bound = False

    def feed(self, tokens: np.ndarray) -> np.ndarray:
        """tokens (B, T) at the current position -> logits (B, T, vocab) as float32."""
        if self.batch > 1 and self.position > 0 and tokens.shape[1] > 1:
            # the op takes several new tokens after a past only for batch 1: go one by one
            return np.concatenate(
                [self._run(tokens[:, t : t + 1]) for t in range(tokens.shape[1])], axis=1
            )
        return self._run(tokens)

    def _run(self, tokens: np.ndarray) -> np.ndarray:
        end = self.position + tokens.shape[1]
        if end > self.context:
            raise ValueError(f"cache full: {end} > context {self.context}")
        binding = self.binding
        one = self._one
        if one is not None and tokens.shape[1] == 1:
            if not self._one_bound:
                one.bind(binding)
                self._one_bound = True
            one.tokens[:] = tokens
            one.seqlens[:] = end - 1
            one.total[...] = end
            self.session.run_with_iobinding(binding)
            self.position = end
            return one.logits.astype(np.float32)  # a copy: the next run overwrites the buffer
        self._one_bound = False
        binding.bind_cpu_input("tokens", np.ascontiguousarray(tokens, dtype=np.int64))
        binding.bind_cpu_input("seqlens_k", np.full(self.batch, end - 1, dtype=np.int32))
        binding.bind_cpu_input("total_len", np.array(end, dtype=np.int32))
        binding.bind_output("logits")  # its shape changes with T: let onnxruntime allocate it
        self.session.run_with_iobinding(binding)
        self.position = end
        return binding.get_outputs()[0].numpy().astype(np.float32, copy=False)

    def rollback(self, position: int) -> None:
        if not 0 <= position <= self.position:
            raise ValueError(f"cannot roll back to {position}; the cache holds 0..{self.position}")
        self.position = position


Runner = CacheRunner | SharedCacheRunner | HierRunner
# a hierarchical model runs two graphs: (event session, token session)
Sessions = ort.InferenceSession | tuple[ort.InferenceSession, ort.InferenceSession]


def open_runner(
    info: ModelInfo,
    session: Sessions,
    batch: int = 1,
    decode_session: ort.InferenceSession | None = None,
    device: str = "cpu",
) -> Runner:
    """The runner for the model folder's family and cache layout."""
    if isinstance(session, tuple):
        return HierRunner(info, *session, batch)
    if info.cache == "shared":
        return SharedCacheRunner(
            session, info.n_layer, info.kv_heads, info.head_size, info.context, batch, device
        )
    return CacheRunner(session, info.n_layer, info.kv_dim, info.context, batch, decode_session)


@dataclass(frozen=True)
class EngineStats:
    """A snapshot for the TUI: recent decode cost and how full the context is."""

    ms_per_token: float  # median of recent steps
    p99_ms: float
    tokens_per_s: float
    position: int
    context_fill: float  # 0..1 of the current window
    slides: int  # context windows slid so far


class Engine:
    """Prefill, step, roll back: the one API the daemon and offline generation use."""

    def __init__(
        self,
        info: ModelInfo,
        session: Sessions,
        device: str,
        batch: int = 1,
        overflow: str = "background",
        keep: int | None = None,
        margin: int | None = None,
        decode_session: ort.InferenceSession | None = None,
    ) -> None:
        if overflow not in OVERFLOW:
            raise ValueError(f"overflow {overflow!r} not one of {', '.join(OVERFLOW)}")
        self.info = info
        self.device = device
        self.batch = batch
        self.overflow = overflow
        self.keep = keep if keep is not None else info.context // 2
        # a quarter of the context ahead: the worker must finish its prefill before the cache is
        # full even when decoding runs flat out on a busy machine (1/8 was too tight, measured)
        self.margin = margin if margin is not None else info.context // 4
        if not 0 < self.keep < info.context - self.margin:
            raise ValueError(f"keep {self.keep} must leave room before the slide margin")
        self._runner = open_runner(info, session, batch, decode_session, device)
        self._spare = open_runner(info, session, batch, decode_session, device)
        # every token of the session (absolute positions), so windows can be re-prefilled
        self._history = np.zeros((batch, 1024), dtype=np.int64)
        self._position = 0
        self._offset = 0  # absolute position of the current cache's slot 0
        self._slide: _Slide | None = None
        self._slides = 0
        self._step_ns: collections.deque[int] = collections.deque(maxlen=256)

    @classmethod
    def load(
        cls,
        model: str | Path = "default",
        device: str = "cpu",
        threads: int | None = None,
        batch: int = 1,
        overflow: str = "background",
        check_tokenizer: bool = True,
    ) -> Engine:
        """Open a model folder (or "default"); its tokenizer must match the runtime's."""
        info = read_model_dir(model)
        if check_tokenizer:
            from livegen.languages import refuse_other_language
            from livegen.tokenizer import check_compatible

            refuse_other_language(info.tokenizer, info.path)
            check_compatible(info.tokenizer)
        if info.kind == "hierarchical":
            (event, used), (token, _) = (
                make_session(p, device, threads) for p in graph_paths(info.path)
            )
            return cls(info, (event, token), used, batch, overflow)
        # on CUDA the folder's fp16 CUDA graph when it has one (GroupQueryAttention computes in
        # fp16/bf16 there; an int8 model.onnx is for CPUs)
        session, used = make_session(info.graph_for(resolve_device(device)), device, threads)
        decode_session = None
        if batch == 1 and (info.path / DECODE_GRAPH).is_file():
            decode_session = make_session(info.path / DECODE_GRAPH, device, threads)[0]
        return cls(info, session, used, batch, overflow, decode_session=decode_session)

    # --- what callers read -------------------------------------------------------------
    @property
    def position(self) -> int:
        """Tokens fed so far in this session (absolute; keeps growing past the context)."""
        return self._position

    @property
    def context(self) -> int:
        return self.info.context

    @property
    def vocab_size(self) -> int:
        return self.info.vocab_size

    @property
    def tokenizer_config(self) -> dict[str, Any]:
        return self.info.tokenizer

    @property
    def window_start(self) -> int:
        """Absolute position of the oldest token the model still sees."""
        return self._offset

    def history(self) -> np.ndarray:
        """Every token fed so far, (batch, position)."""
        return self._history[:, : self._position]

    @property
    def stats(self) -> EngineStats:
        """Recent decode cost; safe to read from another thread (e.g. the TUI)."""
        # list() copies in one C call, so another thread's step cannot mutate it midway
        recent = np.array(list(self._step_ns), dtype=np.float64) / 1e6
        p50, p99 = percentiles(recent).values()
        return EngineStats(
            ms_per_token=p50,
            p99_ms=p99,
            tokens_per_s=1000.0 / p50 if p50 > 0 else 0.0,
            position=self._position,
            context_fill=self._runner.position / self.context,
            slides=self._slides,
        )

    # --- the work ----------------------------------------------------------------------
    def prefill(self, tokens: Any) -> np.ndarray:
        """Feed tokens ((T,) or (B, T)) at the current position; logits of the last one."""
        block = self._as_block(tokens)
        if block.shape[1] == 0:
            raise ValueError("prefill needs at least one token")
        if self._runner.position + block.shape[1] <= self.context - self.margin:
            return self._last(self._feed(block))
        logits = None
        # a prompt that reaches the context goes in pieces, so windows can slide in between
        for begin in range(0, block.shape[1], self.margin):
            logits = self._feed(block[:, begin : begin + self.margin])
        return self._last(logits)

    def step(self, token: Any) -> np.ndarray:
        """Feed one token (an int, or (B,) for a batch); the logits for the next one."""
        started = time.perf_counter_ns()
        logits = self._feed(self._as_block(token, single=True))
        self._step_ns.append(time.perf_counter_ns() - started)
        return self._last(logits)

    def rollback(self, position: int) -> None:
        """Forget every token from absolute `position` on. O(1) inside the current window."""
        if not 0 <= position <= self._position:
            raise ValueError(f"cannot roll back to {position}; the session is at {self._position}")
        if self._slide is not None:  # first, so the worker never catches up on dropped tokens
            self._slide.low_water = min(self._slide.low_water, position)
        self._position = position
        if position >= self._offset:
            self._runner.rollback(position - self._offset)
            return
        # before the window: rebuild a window ending at `position` (rare, costs a prefill)
        self._cancel_slide()
        start = max(0, position - self.keep)
        self._runner.rollback(0)
        self._offset = start
        if position > start:
            self._runner.feed(self._history[:, start:position])

    def reset(self) -> None:
        """Start a new session: empty cache, position 0."""
        self._cancel_slide()
        self._runner.rollback(0)
        self._position = self._offset = 0

    def close(self) -> None:
        """Finish any background work; the engine stays usable."""
        self._cancel_slide()

    def wait_for_slide(self) -> None:
        """Block until a background slide (if any) has finished its prefill (tests, shutdown)."""
        if self._slide is not None:
            self._slide.thread.join()

    # --- internals ---------------------------------------------------------------------
    def _as_block(self, tokens: Any, single: bool = False) -> np.ndarray:
        arr = np.asarray(tokens, dtype=np.int64)
        if single:
            arr = arr.reshape(-1, 1)
        elif arr.ndim == 1:
            arr = arr[None, :]
        if arr.shape[0] != self.batch:
            raise ValueError(f"expected a batch of {self.batch}, got {arr.shape[0]}")
        if arr.size and (arr.min() < 0 or arr.max() >= self.vocab_size):
            raise ValueError(f"token ids must be in 0..{self.vocab_size - 1}")
        return arr

    def _last(self, logits: np.ndarray) -> np.ndarray:
        last = logits[:, -1, :]
        return last[0] if self.batch == 1 else last

    def _remember(self, block: np.ndarray) -> None:
        end = self._position + block.shape[1]
        if end > self._history.shape[1]:
            grown = np.zeros((self.batch, max(end, 2 * self._history.shape[1])), dtype=np.int64)
            grown[:, : self._position] = self._history[:, : self._position]
            self._history = grown
        self._history[:, self._position : end] = block

    def _feed(self, block: np.ndarray) -> np.ndarray:
        count = block.shape[1]
        run = self._with_catch_up(block, self._hand_over())
        if self._runner.position + run.shape[1] > self.context:
            if self._slide is not None:  # the cache filled before the worker finished
                self._slide.thread.join()
                run = self._with_catch_up(block, self._hand_over())
            if self._runner.position + run.shape[1] > self.context:
                self._slide_in_place(count)
                run = block
        self._remember(block)
        logits = self._runner.feed(run)[:, -count:]
        self._position += count
        if (
            self.overflow == "background"
            and self._slide is None
            and self._runner.position >= self.context - self.margin
        ):
            self._start_slide()
        return logits

    @staticmethod
    def _with_catch_up(block: np.ndarray, catch_up: np.ndarray | None) -> np.ndarray:
        return block if catch_up is None else np.concatenate([catch_up, block], axis=1)

    def _slide_in_place(self, incoming: int) -> None:
        """Synchronous slide: re-prefill the last `keep` tokens so `incoming` more fit."""
        self._cancel_slide()
        keep = min(self.keep, self.context - incoming, self._position)
        start = self._position - keep
        self._runner.rollback(0)
        self._offset = start
        self._slides += 1
        if keep:
            self._runner.feed(self._history[:, start : self._position])

    def _start_slide(self) -> None:
        start = self._position - self.keep
        window = self._history[:, start : self._position].copy()
        self._slide = _Slide(self, self._spare, start, window)

    def _cancel_slide(self) -> None:
        if self._slide is not None:
            self._slide.thread.join()
            self._slide = None

    def _hand_over(self) -> np.ndarray | None:
        """Swap in a finished background window; returns the tokens it still has to catch up
        on (decoded while it prefilled), to be fed together with the next token."""
        slide = self._slide
        if slide is None or slide.thread.is_alive():
            return None
        self._slide = None
        if slide.error is not None:
            raise slide.error
        valid_until = min(slide.low_water, self._position)  # rollbacks invalidate the tail
        if valid_until < slide.start:
            return None
        spare = slide.runner
        spare.rollback(min(spare.position, valid_until - slide.start))
        self._spare, self._runner = self._runner, spare
        self._offset = slide.start
        self._slides += 1
        missing = self._history[:, slide.start + spare.position : self._position]
        return missing if missing.shape[1] else None


class _Slide:
    """A window prefill running on a worker thread (onnxruntime releases the GIL).

    After the window it catches up on the tokens the live thread decoded meanwhile, in shrinking
    rounds, so the hand-over step carries at most a few extra tokens. Tokens at or after
    `low_water` (the lowest position rolled back to since the slide began) may have changed;
    the hand-over trims them, and the live thread lowers `low_water` before it rolls back.
    """

    CLOSE_ENOUGH = 4  # tokens left for the hand-over step to feed

    def __init__(self, engine: Engine, runner: Runner, start: int, window: np.ndarray):
        self.engine = engine
        self.runner = runner
        self.start = start
        self.low_water = sys.maxsize
        self.error: BaseException | None = None
        runner.rollback(0)
        # not a daemon: interpreter exit waits for it (a prefill, well under a second) instead of
        # killing a thread inside onnxruntime, which aborts the process
        self.thread = threading.Thread(target=self._run, args=(window,), name="livegen-slide")
        self.thread.start()

    def _run(self, window: np.ndarray) -> None:
        _lower_thread_priority()
        try:
            self.runner.feed(window)
            room = self.runner.context - self.engine.margin // 2
            while True:
                upto = min(self.engine._position, self.low_water)
                have = self.start + self.runner.position
                if upto - have <= self.CLOSE_ENOUGH or upto - self.start > room:
                    return
                self.runner.feed(self.engine._history[:, have:upto].copy())
        except BaseException as err:  # handed to the live thread at hand-over
            self.error = err


def _lower_thread_priority() -> None:
    """Let the live thread win the CPU over the worker (Linux applies nice per thread)."""
    # not Linux, or not allowed: the worker runs at normal priority
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
