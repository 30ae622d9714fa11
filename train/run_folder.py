"""A run folder belongs to one run at a time: its lock, its leftovers, the data it trains on.

The lock is an `flock` on `OUT/.lock`, held by rank 0 for the whole run and released by the
kernel when the process ends however it ends (kill -9 included), so a stale lock cannot block
the next run. Temp files of an interrupted checkpoint save (`.tmp-*.pt`) are removed once the
lock is held. The data a run trains on is identified by its folder and its manifest's digest,
recorded in the checkpoint, so `--resume` on other data is noticed.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from livegen.data.shards import MANIFEST
from livegen.errors import ConfigError

LOCK = ".lock"


@contextmanager
def locked_run_folder(out_dir: Path) -> Iterator[None]:
    """Hold `out_dir`'s lock (ConfigError if another run holds it); clean leftover temp saves."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        handle = (out_dir / LOCK).open("a+")
    except OSError as err:
        raise ConfigError(f"cannot use {out_dir} as the run folder: {err.strerror or err}") from err
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            handle.seek(0)
            holder = handle.read().strip()
            who = f" (pid {holder})" if holder else ""
            raise ConfigError(
                f"{out_dir} is in use by another training run{who}; wait for it to finish "
                "or choose another --out"
            ) from err
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        for leftover in out_dir.glob(".tmp-*.pt"):
            leftover.unlink(missing_ok=True)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def data_identity(data_dir: Path) -> dict[str, str]:
    """The prepared folder (resolved) and its manifest's sha256: what a resumed run must match."""
    digest = hashlib.sha256((data_dir / MANIFEST).read_bytes()).hexdigest()
    return {"path": str(data_dir.resolve()), "manifest_sha256": digest}


def check_same_data(state: dict[str, Any], data_dir: Path, out_dir: Path) -> None:
    """ConfigError if the checkpoint in `out_dir` was trained on data other than `data_dir`."""
    now = data_identity(data_dir)
    saved = state.get("data")
    if saved is None:  # a checkpoint from before the data was recorded: its config's path
        path = state.get("train_config", {}).get("data", {}).get("path")
        saved = {"path": str(Path(path).resolve())} if path else {}
    hint = "; pass --allow-data-change to continue on it anyway"
    if saved.get("path") and saved["path"] != now["path"]:
        raise ConfigError(
            f"--resume: the run in {out_dir} trained on {saved['path']}, not {data_dir}{hint}"
        )
    if saved.get("manifest_sha256") and saved["manifest_sha256"] != now["manifest_sha256"]:
        raise ConfigError(
            f"--resume: {data_dir} changed since the run in {out_dir} trained on it "
            f"(its {MANIFEST} differs){hint}"
        )
