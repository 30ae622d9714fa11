"""The resumable state of a `data prepare` run: files done, where their tokens are, their stamps.

Saved atomically as `<out>/.partial/state.json` (see prepare.py's docstring for how a run uses it).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from livegen.config import write_atomic
from livegen.data.shards import MANIFEST, TOKEN_DTYPE
from livegen.data.split import SPLITS

STATE_VERSION = 2
MANIFEST_FORMAT = 2


def file_key(origin: str, rel: str) -> str:
    """A file's key in the state: its source's name and its path inside that source."""
    return f"{origin}/{rel}"


class PrepareState:
    """What a partial run has done: records per file and shard lengths, saved atomically.

    Records and skipped files are keyed by `file_key(origin, rel)`; `stamps` holds the size and
    mtime each file had when this partial run listed it (files taken over from a finished folder
    have none).
    """

    def __init__(self, folder: Path, tokenizer: dict[str, Any], fractions: dict[str, float]):
        self.folder = folder
        self.path = folder / "state.json"
        self.tokenizer = tokenizer
        self.fractions = fractions
        self.records: dict[str, dict[str, Any]] = {}
        self.skipped: dict[str, str] = {}
        self.sizes: dict[str, int] = {s: 0 for s in SPLITS}
        self.stamps: dict[str, list[int]] = {}

    @classmethod
    def open(
        cls,
        folder: Path,
        tokenizer: dict[str, Any],
        fractions: dict[str, float],
        sources: Sequence[Any],
    ) -> PrepareState:
        state = cls(folder, tokenizer, fractions)
        if state.path.is_file():
            saved = json.loads(state.path.read_text())
            same = saved.get("tokenizer") == tokenizer
            same = same and saved.get("split_fractions", fractions) == fractions
            if same and saved.get("version") != STATE_VERSION:
                same = state._migrate(saved, sources)
            if same:
                state.records = saved["records"]
                state.skipped = saved["skipped"]
                state.sizes = saved["sizes"]
                state.stamps = saved.get("stamps", {})
            else:  # another tokenizer or split: the partial tokens mean other things
                shutil.rmtree(folder)
        elif is_finished_folder(folder.parent, tokenizer, fractions):
            state._seed_from(folder.parent)
        folder.mkdir(parents=True, exist_ok=True)
        for split in SPLITS:
            bin_path = folder / f"{split}.bin"
            with bin_path.open("ab") as handle:
                handle.truncate(state.sizes[split] * np.dtype(TOKEN_DTYPE).itemsize)
        return state

    @staticmethod
    def _migrate(saved: dict[str, Any], sources: Sequence[Any]) -> bool:
        """A single-source state of the first version (keyed by path): rekey it in place."""
        if len(sources) != 1:
            return False
        source = sources[0]
        for rec in saved["records"].values():
            rec["collection"], rec["origin"] = source.collection(rec["source"]), source.name
        saved["records"] = {file_key(source.name, k): v for k, v in saved["records"].items()}
        saved["skipped"] = {file_key(source.name, k): v for k, v in saved["skipped"].items()}
        return True

    def _seed_from(self, out: Path) -> None:
        """Start from a finished folder: its records, and copies of its shards to append to."""
        manifest = json.loads((out / MANIFEST).read_text())
        self.folder.mkdir(parents=True, exist_ok=True)
        for split in SPLITS:
            offsets = np.load(out / f"{split}.idx.npy")
            self.sizes[split] = int(offsets[-1])
            for rec in manifest["files"]:
                if rec["split"] == split:
                    key = file_key(rec["origin"], rec["source"])
                    self.records[key] = {**rec, "offset": int(offsets[rec["doc"]])}
                    del self.records[key]["doc"]
            shutil.copyfile(out / f"{split}.bin", self.folder / f"{split}.bin")
        for skip in manifest["skipped"]:
            self.skipped[file_key(skip["origin"], skip["source"])] = skip["reason"]
        self.save()  # the copies are complete: from here on this is an ordinary partial run

    def save(self) -> None:
        data = {
            "version": STATE_VERSION,
            "tokenizer": self.tokenizer,
            "split_fractions": self.fractions,
            "records": self.records,
            "skipped": self.skipped,
            "sizes": self.sizes,
            "stamps": self.stamps,
        }
        write_atomic(self.path, json.dumps(data))

    def forget_stale(self, stamps: dict[str, list[int]]) -> int:
        """Forget stamped files whose stamp is not `stamps`' (changed or gone); how many.

        A forgotten record's tokens stay in the partial shard as a gap `_finish` leaves out."""
        stale = [key for key, stamp in self.stamps.items() if stamps.get(key) != stamp]
        for key in stale:
            self.records.pop(key, None)
            self.skipped.pop(key, None)
            del self.stamps[key]
        return len(stale)


def is_finished_folder(out: Path, tokenizer: dict[str, Any], fractions: dict[str, float]) -> bool:
    """Does `out` hold a finished prepare (this format) that new files can be added to?"""
    if not (out / MANIFEST).is_file():
        return False
    manifest = json.loads((out / MANIFEST).read_text())
    return (
        manifest.get("format") == MANIFEST_FORMAT
        and manifest.get("tokenizer") == tokenizer
        and manifest.get("split_fractions") == fractions
    )
