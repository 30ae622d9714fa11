"""Train/val/test assignment by a stable hash of each source file's relative path.

The same file lands in the same split on every machine and every run, and adding files to a
folder never moves the old ones between splits (no leakage when a dataset grows).
"""

from __future__ import annotations

import hashlib

SPLITS: tuple[str, ...] = ("train", "val", "test")


def split_of(relative_path: str, val_fraction: float = 0.05, test_fraction: float = 0.05) -> str:
    """`train`, `val` or `test` for a POSIX relative path (separators normalised to '/')."""
    key = relative_path.replace("\\", "/").encode("utf-8")
    # first 8 bytes of sha1 as a fraction in [0, 1)
    fraction = int.from_bytes(hashlib.sha1(key).digest()[:8], "big") / 2**64
    if fraction < val_fraction:
        return "val"
    if fraction < val_fraction + test_fraction:
        return "test"
    return "train"
