"""`livegen data prepare`: MIDI files (or music21's corpus) to token shards, resumably.

Every .mid/.midi file under the source folder (recursive) is read with the tokenizer's
`read_midi`, encoded with `encode_notes` and appended to the shard of its split (see split.py
and shards.py). Files that cannot be read, or hold no notes, are skipped and reported with the
reason; the run goes on. Work is done by a pool of worker processes.

Resuming: tokens are appended to `<out>/.partial/<split>.bin` and a state file, rewritten
atomically every few seconds, records which files are done and how long each shard was at that
moment. A second run with the same tokenizer truncates the shards to the recorded lengths and
skips the finished files; a finished run moves the shards into place and writes the manifest.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from livegen.config import write_atomic
from livegen.data.progress import Progress
from livegen.data.shards import MANIFEST, TOKEN_DTYPE
from livegen.data.split import SPLITS, split_of
from livegen.errors import ConfigError
from livegen.tokenizer import TokenizerConfig, Vocab, encode_notes
from livegen.tokenizer.midi_file import read_midi

MIDI_SUFFIXES = (".mid", ".midi")
STATE_SAVE_INTERVAL_S = 5.0


@dataclass(frozen=True)
class PrepareOptions:
    val_fraction: float = 0.05
    test_fraction: float = 0.05
    workers: int = 2
    progress: bool = True
    stop_after_files: int = 0  # stop early, leaving a resumable partial run (tests, dry runs)


@dataclass
class PrepareReport:
    out: Path
    files: int = 0
    tokens: dict[str, int] = field(default_factory=dict)
    docs: dict[str, int] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    resumed_files: int = 0
    seconds: float = 0.0
    finished: bool = True

    def summary(self) -> str:
        parts = ", ".join(
            f"{s} {self.docs.get(s, 0)} files / {self.tokens.get(s, 0)} tokens" for s in SPLITS
        )
        if not self.finished:
            return (
                f"stopped after {self.files + len(self.skipped)} files; run the same command "
                f"again to resume into {self.out}"
            )
        lines = [
            f"prepared {self.files} files into {self.out} in {self.seconds:.0f} s ({parts})"
            + (
                f"; {self.resumed_files} picked up from an earlier run"
                if self.resumed_files
                else ""
            )
        ]
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} files:")
            lines.extend(f"  {src}: {reason}" for src, reason in self.skipped)
        return "\n".join(lines)


def find_midi_files(root: Path) -> list[Path]:
    """All MIDI files under root, recursive, sorted by relative path (case-insensitive suffix)."""
    if not root.is_dir():
        raise ConfigError(
            f"--source {root}: not a folder (give a folder of MIDI files or 'music21')"
        )
    return sorted(
        (p for p in root.rglob("*") if p.suffix.lower() in MIDI_SUFFIXES and p.is_file()),
        key=lambda p: p.relative_to(root).as_posix(),
    )


def tokenize_file(job: tuple[str, dict[str, Any]]) -> tuple[np.ndarray | None, int, str]:
    """Worker: (tokens, notes, "") or (None, 0, reason) for one MIDI file."""
    path, tok_dict = job
    config = TokenizerConfig.from_dict(tok_dict)
    try:
        score = read_midi(path)
        notes = list(score.notes)
        if not notes:
            return None, 0, "no notes"
        tokens = encode_notes(notes, config, time_signatures=score.meter(), bos=True, eos=True)
    except Exception as err:  # a bad file is reported, never fatal
        return None, 0, f"{type(err).__name__}: {err}"[:300]
    vocab_size = Vocab(config).size
    array = np.asarray(tokens, dtype=np.int64)
    if array.size and (array.min() < 0 or array.max() >= min(vocab_size, 2**16)):
        return None, 0, "token id out of range"
    return array.astype(TOKEN_DTYPE), len(notes), ""


class _State:
    """What a partial run has done: records per file and shard lengths, saved atomically."""

    def __init__(self, folder: Path, tokenizer: dict[str, Any]) -> None:
        self.folder = folder
        self.path = folder / "state.json"
        self.tokenizer = tokenizer
        self.records: dict[str, dict[str, Any]] = {}
        self.skipped: dict[str, str] = {}
        self.sizes: dict[str, int] = {s: 0 for s in SPLITS}

    @classmethod
    def open(cls, folder: Path, tokenizer: dict[str, Any]) -> _State:
        state = cls(folder, tokenizer)
        if state.path.is_file():
            saved = json.loads(state.path.read_text())
            if saved.get("tokenizer") == tokenizer:
                state.records = saved["records"]
                state.skipped = saved["skipped"]
                state.sizes = saved["sizes"]
            else:  # another tokenizer: the partial tokens mean other things
                shutil.rmtree(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for split in SPLITS:
            bin_path = folder / f"{split}.bin"
            with bin_path.open("ab") as handle:
                handle.truncate(state.sizes[split] * np.dtype(TOKEN_DTYPE).itemsize)
        return state

    def save(self) -> None:
        data = {
            "tokenizer": self.tokenizer,
            "records": self.records,
            "skipped": self.skipped,
            "sizes": self.sizes,
        }
        write_atomic(self.path, json.dumps(data))


def prepare(
    source: str | Path,
    out: str | Path,
    *,
    tokenizer: TokenizerConfig | None = None,
    options: PrepareOptions = PrepareOptions(),
    music21_cache: str | Path = "data/music21_midi",
) -> PrepareReport:
    """Tokenize every MIDI file of `source` (a folder, or "music21") into shards under `out`."""
    start = time.monotonic()
    tokenizer = tokenizer or TokenizerConfig()
    tok_dict = tokenizer.to_dict()
    out = Path(out)
    report = PrepareReport(out)
    if str(source) == "music21":
        from livegen.data.music21_source import convert_corpus

        conversion = convert_corpus(
            music21_cache, workers=options.workers, progress=options.progress
        )
        report.skipped.extend(conversion.failures)
        root = Path(music21_cache)
    else:
        root = Path(source)
    files = find_midi_files(root)
    if not files:
        raise ConfigError(f"--source {source}: no .mid/.midi files found")
    out.mkdir(parents=True, exist_ok=True)
    partial = out / ".partial"
    state = _State.open(partial, tok_dict)
    report.resumed_files = len(state.records) + len(state.skipped)
    rel_of = {str(p): p.relative_to(root).as_posix() for p in files}
    todo = [
        p
        for p in files
        if rel_of[str(p)] not in state.records and rel_of[str(p)] not in state.skipped
    ]
    bar = Progress(len(files), "prepare", enabled=options.progress)
    bar.update(len(files) - len(todo))
    handles = {s: (partial / f"{s}.bin").open("ab") for s in SPLITS}
    try:
        last_save = time.monotonic()
        results = zip(todo, _run(todo, tok_dict, options.workers), strict=True)
        for done_now, (path, (tokens, n_notes, reason)) in enumerate(results, start=1):
            rel = rel_of[str(path)]
            if tokens is None:
                state.skipped[rel] = reason
            else:
                split = split_of(rel, options.val_fraction, options.test_fraction)
                handles[split].write(tokens.tobytes())
                state.records[rel] = {
                    "source": rel,
                    "split": split,
                    "notes": n_notes,
                    "tokens": int(tokens.size),
                    "offset": state.sizes[split],
                }
                state.sizes[split] += int(tokens.size)
            bar.update(extra=f"{sum(state.sizes.values())} tokens, {len(state.skipped)} skipped")
            if options.stop_after_files and done_now >= options.stop_after_files:
                break
            if time.monotonic() - last_save > STATE_SAVE_INTERVAL_S:
                for handle in handles.values():
                    handle.flush()
                state.save()
                last_save = time.monotonic()
    finally:
        for handle in handles.values():
            handle.close()
        state.save()
    bar.close()
    report.finished = len(state.records) + len(state.skipped) == len(files)
    if report.finished:
        _finish(out, partial, state, root, source, options)
    report.files = len(state.records)
    report.skipped.extend(sorted(state.skipped.items()))
    for split in SPLITS:
        recs = [r for r in state.records.values() if r["split"] == split]
        report.docs[split] = len(recs)
        report.tokens[split] = sum(r["tokens"] for r in recs)
    report.seconds = time.monotonic() - start
    return report


def _run(
    todo: list[Path], tok_dict: dict[str, Any], workers: int
) -> Iterable[tuple[np.ndarray | None, int, str]]:
    jobs = [(str(p), tok_dict) for p in todo]
    if workers <= 1 or len(jobs) < 8:
        yield from map(tokenize_file, jobs)
        return
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(workers) as pool:
        yield from pool.imap(tokenize_file, jobs, chunksize=4)


def _finish(
    out: Path,
    partial: Path,
    state: _State,
    root: Path,
    source: str | Path,
    options: PrepareOptions,
) -> None:
    """Write offsets and the manifest, then move the shards into place (manifest last)."""
    files = []
    splits: dict[str, dict[str, int]] = {}
    for split in SPLITS:
        recs = sorted(
            (r for r in state.records.values() if r["split"] == split), key=lambda r: r["offset"]
        )
        offsets = np.array([r["offset"] for r in recs] + [state.sizes[split]], dtype=np.int64)
        for doc, rec in enumerate(recs):
            files.append(
                {**{k: rec[k] for k in ("source", "split", "notes", "tokens")}, "doc": doc}
            )
        tmp = out / f".tmp-{split}.idx.npy"
        np.save(tmp, offsets)
        os.replace(tmp, out / f"{split}.idx.npy")
        os.replace(partial / f"{split}.bin", out / f"{split}.bin")
        splits[split] = {"files": len(recs), "tokens": int(state.sizes[split])}
    manifest = {
        "format": 1,
        "source": str(source),
        "root": str(root.resolve()),
        "tokenizer": state.tokenizer,
        "split_fractions": {"val": options.val_fraction, "test": options.test_fraction},
        "splits": splits,
        "files": sorted(files, key=lambda f: f["source"]),
        "skipped": [{"source": s, "reason": r} for s, r in sorted(state.skipped.items())],
    }
    write_atomic(out / MANIFEST, json.dumps(manifest, indent=1))
    shutil.rmtree(partial)
