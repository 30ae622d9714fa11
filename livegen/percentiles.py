"""Percentiles of measured times: the one way the daemon and the benchmarks take them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np


def percentiles(
    values: Iterable[float] | np.ndarray, points: Sequence[int] = (50, 99)
) -> dict[str, float]:
    """{"p50": ..., "p99": ...} for `points`, linearly interpolated; zeros when empty."""
    arr = _array(values)
    if arr.size == 0:
        return {f"p{p}": 0.0 for p in points}
    return {f"p{p}": float(np.percentile(arr, p)) for p in points}


def summary(values: Iterable[float] | np.ndarray) -> dict[str, float]:
    """n, p50, p99 and max: how a timing report states a distribution (zeros when empty)."""
    arr = _array(values)
    return {
        "n": int(arr.size),
        **percentiles(arr),
        "max": float(arr.max()) if arr.size else 0.0,
    }


def _array(values: Iterable[float] | np.ndarray) -> np.ndarray:
    return np.asarray(values if isinstance(values, np.ndarray) else list(values), dtype=np.float64)
