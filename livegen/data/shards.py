"""Token shards on disk: one flat uint16 file per split plus document offsets, and the manifest.

Layout of a prepared folder:
    manifest.json       tokenizer settings, one record per source file (source, collection,
                        origin, split, notes, tokens, doc index), per-split and per-collection
                        totals, and the skipped files with reasons
    <split>.bin         uint16 token ids of all documents of the split, back to back
    <split>.idx.npy     int64 offsets into <split>.bin, n_docs + 1 entries (doc i is
                        bin[idx[i]:idx[i+1]])
Readers memory-map the .bin files, so a split larger than RAM still works.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from livegen.errors import ConfigError

MANIFEST = "manifest.json"
TOKEN_DTYPE = np.uint16


@dataclass(frozen=True)
class Split:
    """One split of a prepared folder: a flat token memmap and document offsets."""

    name: str
    tokens: np.ndarray  # (n_tokens,) uint16, memory-mapped
    offsets: np.ndarray  # (n_docs + 1,) int64
    collections: tuple[str, ...] = ()  # collection of each document (n_docs,)

    @property
    def n_docs(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_tokens(self) -> int:
        return int(self.offsets[-1])

    def doc(self, i: int) -> np.ndarray:
        return self.tokens[self.offsets[i] : self.offsets[i + 1]]


LIVEGEN_MANIFEST_KEYS = ("tokenizer", "splits", "files")


def is_prepared(folder: str | Path) -> bool:
    """Whether `folder` is a prepared data folder: its manifest.json is livegen's.

    Why not just "has a manifest.json": a plain folder of MIDI may carry someone else's (the
    shared test MIDI's lists each file's source), and `livegen eval --data DIR` must take it as
    the MIDI it is. A manifest that does not parse is taken as ours, damaged, so reading it says
    so instead of scoring the folder's MIDI in its place.
    """
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return False
    try:
        manifest = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return True
    return isinstance(manifest, dict) and any(k in manifest for k in LIVEGEN_MANIFEST_KEYS)


def read_manifest(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise ConfigError(
            f"{folder}: not a prepared data folder (no {MANIFEST}); run "
            "`livegen data prepare --source ... --out ...` first"
        )
    try:
        manifest = json.loads(path.read_bytes())
    except (OSError, ValueError) as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ConfigError(f"{path}: unreadable ({_reason(err)}); prepare the folder again") from err
    missing = [
        k for k in LIVEGEN_MANIFEST_KEYS if not isinstance(manifest, dict) or k not in manifest
    ]
    if missing:
        raise ConfigError(
            f"{path}: not a livegen manifest (no {', '.join(missing)}); prepare the folder again"
        )
    return manifest


def _reason(err: Exception) -> str:
    if isinstance(err, OSError):
        return err.strerror or str(err)
    return str(err).splitlines()[0] if str(err) else type(err).__name__


def file_collection(record: dict[str, Any], manifest: dict[str, Any]) -> str:
    """The collection of a manifest file record; manifests before collections derive it."""
    if "collection" in record:
        return record["collection"]
    if manifest.get("source") == "music21":
        return record["source"].split("/", 1)[0]
    return Path(manifest.get("root") or manifest.get("source", "")).name


def load_split(folder: str | Path, name: str) -> Split:
    folder = Path(folder)
    manifest = read_manifest(folder)
    if name not in manifest["splits"]:
        raise ConfigError(
            f"{folder}: no split {name!r}; available: {', '.join(manifest['splits'])}"
        )
    idx_path, bin_path = folder / f"{name}.idx.npy", folder / f"{name}.bin"
    again = "prepare the folder again"
    try:
        offsets = np.load(idx_path)
    except (OSError, ValueError) as err:
        raise ConfigError(f"{idx_path}: unreadable ({_reason(err)}); {again}") from err
    if offsets.ndim != 1 or len(offsets) == 0 or offsets.dtype.kind not in "iu":
        raise ConfigError(f"{idx_path}: not a document index; {again}")
    n_tokens = int(offsets[-1])
    if n_tokens == 0:
        tokens = np.zeros(0, dtype=TOKEN_DTYPE)
    else:
        try:
            size = bin_path.stat().st_size
        except OSError as err:
            raise ConfigError(f"{bin_path}: unreadable ({_reason(err)}); {again}") from err
        itemsize = np.dtype(TOKEN_DTYPE).itemsize
        if size < n_tokens * itemsize:
            raise ConfigError(
                f"{bin_path}: truncated ({size // itemsize} of {n_tokens} tokens); {again}"
            )
        tokens = np.memmap(bin_path, dtype=TOKEN_DTYPE, mode="r", shape=(n_tokens,))
    collections = [""] * (len(offsets) - 1)
    for record in manifest["files"]:
        if record["split"] == name:
            collections[record["doc"]] = file_collection(record, manifest)
    return Split(name, tokens, offsets, tuple(collections))
