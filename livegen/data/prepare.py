"""`livegen data prepare`: MIDI folders (and music21's corpus) to token shards, resumably.

Sources. Each `--source` is a folder of MIDI files (searched recursively) or `music21` (its
corpus, converted to MIDI in a cache first). A folder is one collection, named after the folder
or explicitly (`--source pop909=PATH`); music21's works keep their corpus collection names
(`bach`, `essenFolksong`, ...). Every file's collection is in the manifest, with token counts per
collection, so a training config can weight collections (train/dataset.py).

With the tokenizer's `structure_tokens` (the CLI's default for a new folder), KEY and CHORD
tokens are placed in each piece (data/structure_marks.py: POP909's labels, else estimated).

Every file is read with the tokenizer's `read_midi`, encoded with `encode_notes` and appended to
the shard of its split (see split.py and shards.py; the split hashes the path inside its source,
so a file lands in the same split whether it is prepared alone or in a mix). Files that cannot be
read, or hold no notes, are skipped and reported with the reason; the run goes on. Work is done
by a pool of worker processes.

Resuming: tokens are appended to `<out>/.partial/<split>.bin` and a state file, rewritten
atomically every few seconds, records which files are done and how long each shard was at that
moment. A second run with the same tokenizer truncates the shards to the recorded lengths and
skips the finished files; a finished run moves the shards into place and writes the manifest.
The state keeps each done file's size and mtime: a file deleted or changed while the run was
stopped is forgotten (its tokens are left out of the shards when they are finished) and, if it
is still there, tokenized again, so the folder matches the sources as they are now.

A file whose name is not valid UTF-8 is skipped and reported (the manifest is JSON text).

Adding: running prepare again on a finished folder (same tokenizer and split fractions) starts
from what is there: the shards are copied into `.partial`, only files not yet in the manifest are
tokenized and appended, and the folder is rewritten. Files already in the folder stay, even if
their source is not given again; delete the folder to start over.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import shutil
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from livegen.config import write_atomic
from livegen.data.prepare_language import DEFAULT_BPE_VOCAB, language_settings, tokenize_in
from livegen.data.prepare_state import MANIFEST_FORMAT, PrepareState, file_key
from livegen.data.progress import progress_bar
from livegen.data.shards import MANIFEST, TOKEN_DTYPE, read_manifest
from livegen.data.split import SPLITS, split_of
from livegen.data.structure_marks import structure_marks
from livegen.errors import ConfigError, OutputError
from livegen.tokenizer import TokenizerConfig, Vocab, encode_notes
from livegen.tokenizer.midi_file import read_midi

MIDI_SUFFIXES = (".mid", ".midi")
STATE_SAVE_INTERVAL_S = 5.0
MUSIC21 = "music21"
# A collection name doubles as a TOML key in `[data] collection_weights`; "others" is that table's
# share for all unlisted collections.
RESERVED_COLLECTION = "others"
_NAMED = re.compile(r"^([A-Za-z0-9_.-]+)=(.+)$")


@dataclass(frozen=True)
class PrepareOptions:
    val_fraction: float = 0.05
    test_fraction: float = 0.05
    workers: int = 2
    progress: bool = True
    stop_after_files: int = 0  # stop early, leaving a resumable partial run (tests, dry runs)


@dataclass(frozen=True)
class Source:
    """One `--source`: a folder of MIDI files (one collection), or music21's converted corpus."""

    name: str  # the collection of a folder; "music21" for the corpus
    spec: str  # as given on the command line
    root: Path
    is_music21: bool = False

    def collection(self, rel: str) -> str:
        """music21's works keep their corpus collection (the first folder of the cache path)."""
        return rel.split("/", 1)[0] if self.is_music21 else self.name


def parse_sources(specs: Sequence[str | Path], music21_cache: str | Path) -> list[Source]:
    """`PATH`, `NAME=PATH` or `music21` per spec; names must be unique."""
    sources: list[Source] = []
    for spec in map(str, specs):
        named = _NAMED.match(spec)
        if spec == MUSIC21:
            source = Source(MUSIC21, spec, Path(music21_cache), is_music21=True)
        elif named and named.group(2) == MUSIC21:
            raise ConfigError(
                f"--source {spec}: music21's works keep their corpus collection names "
                "(bach, essenFolksong, ...); give plain --source music21"
            )
        elif named:
            source = Source(named.group(1), spec, Path(named.group(2)))
        else:
            source = Source(Path(spec).resolve().name, spec, Path(spec))
        if source.name == RESERVED_COLLECTION:
            raise ConfigError(
                f"--source {spec}: the collection name {RESERVED_COLLECTION!r} is reserved; "
                "name it with --source NAME=PATH"
            )
        if any(s.name == source.name for s in sources):
            raise ConfigError(
                f"--source {spec}: a second source named {source.name!r}; "
                "name one of them with --source NAME=PATH"
            )
        sources.append(source)
    if not sources:
        raise ConfigError("give at least one --source (a folder of MIDI files or 'music21')")
    return sources


@dataclass
class PrepareReport:
    out: Path
    files: int = 0
    tokens: dict[str, int] = field(default_factory=dict)
    docs: dict[str, int] = field(default_factory=dict)
    collections: dict[str, dict[str, Any]] = field(default_factory=dict)  # see _collections
    skipped: list[tuple[str, str]] = field(default_factory=list)
    resumed_files: int = 0
    stale_files: int = 0  # done in the interrupted run, then changed or deleted
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
        if self.stale_files:
            lines.append(
                f"{self.stale_files} files changed or deleted since the interrupted run: "
                "changed ones were tokenized again, deleted ones left out"
            )
        if self.collections:
            lines.append("tokens per collection:")
            width = max(map(len, self.collections))
            for name, entry in self.collections.items():
                lines.append(
                    f"  {name:<{width}} {entry['files']:>6} files {entry['tokens']:>11,} tokens"
                    f" (train {entry['splits']['train']['tokens']:,})"
                )
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} files:")
            lines.extend(f"  {src}: {reason}" for src, reason in self.skipped)
        return "\n".join(lines)


def find_midi_files(root: Path) -> list[Path]:
    """All MIDI files under root, recursive, sorted by relative path (case-insensitive suffix).

    Hidden names are left out: a converter writing into the folder right now (music21's cache)
    writes each file as a hidden temp file first.
    """
    if not root.is_dir():
        raise ConfigError(
            f"--source {root}: not a folder (give a folder of MIDI files or 'music21')"
        )
    found = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if path.suffix.lower() not in MIDI_SUFFIXES or any(p.startswith(".") for p in rel.parts):
            continue
        if path.is_file():
            found.append(path)
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def folder_structure_tokens(out: str | Path) -> bool:
    """The CLI's default for `structure_tokens`: the setting of a run stopped in `out` (resuming
    keeps its tokenizer) or of the finished folder there (adding files keeps it), else on."""
    for path in (Path(out) / ".partial" / "state.json", Path(out) / MANIFEST):
        try:
            saved = json.loads(path.read_bytes()).get("tokenizer", {})
        except (OSError, ValueError, AttributeError):
            continue  # absent or unreadable: prepare itself says what is wrong with it
        if isinstance(saved, dict):
            return bool(saved.get("structure_tokens", False))
    return True


def tokenize_file(job: tuple[str, dict[str, Any]]) -> tuple[np.ndarray | None, int, str]:
    """Worker: (tokens, notes, "") or (None, 0, reason) for one MIDI file."""
    path, tok_dict, *folder = job
    if "language" in tok_dict:  # another token language: livegen/data/prepare_language.py
        return tokenize_in(path, tok_dict, folder[0] if folder else None)
    config = TokenizerConfig.from_dict(tok_dict)
    try:
        score = read_midi(path)
        notes = list(score.notes)
        if not notes:
            return None, 0, "no notes"
        vocab = Vocab(config)
        marks = structure_marks(Path(path), score, vocab) if config.structure_tokens else []
        tokens = encode_notes(
            notes,
            config,
            time_signatures=score.meter(),
            bos=True,
            eos=True,
            vocab=vocab,
            conditioning=marks,
        )
    except Exception as err:  # a bad file is reported, never fatal
        return None, 0, f"{type(err).__name__}: {err}"[:300]
    vocab_size = vocab.size
    array = np.asarray(tokens, dtype=np.int64)
    if array.size and (array.min() < 0 or array.max() >= min(vocab_size, 2**16)):
        return None, 0, "token id out of range"
    return array.astype(TOKEN_DTYPE), len(notes), ""


def prepare(
    source: str | Path | Sequence[str | Path],
    out: str | Path,
    *,
    tokenizer: TokenizerConfig | None = None,
    options: PrepareOptions = PrepareOptions(),
    music21_cache: str | Path = "data/music21_midi",
    convert_music21: bool = True,
    language: str = "events",
    bpe_vocab_size: int = DEFAULT_BPE_VOCAB,
) -> PrepareReport:
    """Tokenize every MIDI file of the sources into shards under `out` (see module docstring).

    `source` is one spec or several: a folder, `NAME=folder`, or "music21". With
    `convert_music21=False` music21's works are taken from `music21_cache` as they are (e.g.
    while a conversion runs elsewhere); run prepare again later to add the rest. A `language`
    other than events records its settings instead of `tokenizer`'s (prepare_language.py).
    """
    start = time.monotonic()
    tokenizer = tokenizer or TokenizerConfig()
    tok_dict = tokenizer.to_dict()
    fractions = {"val": options.val_fraction, "test": options.test_fraction}
    specs = [source] if isinstance(source, str | Path) else list(source)
    sources = parse_sources(specs, music21_cache)
    out = Path(out)
    report = PrepareReport(out)
    files: list[tuple[str, Path, str, Source]] = []  # (key, path, rel, source)
    stamps: dict[str, list[int]] = {}
    for src in sources:
        if src.is_music21 and convert_music21:
            from livegen.data.music21_source import convert_corpus

            conversion = convert_corpus(
                src.root, workers=options.workers, progress=options.progress
            )
            report.skipped.extend(conversion.failures)
        elif src.is_music21 and not src.root.is_dir():
            raise ConfigError(f"--source music21: no converted works in {src.root} yet")
        found = find_midi_files(src.root)
        if not found:
            raise ConfigError(f"--source {src.spec}: no .mid/.midi files found")
        for path in found:
            rel = path.relative_to(src.root).as_posix()
            shown = rel if len(sources) == 1 else file_key(src.name, rel)
            if not _utf8(rel):
                shown = shown.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
                report.skipped.append((shown, "file name is not valid UTF-8; rename the file"))
                continue
            try:
                info = path.stat()
            except OSError as err:  # gone since it was listed
                report.skipped.append((shown, err.strerror or str(err)))
                continue
            stamps[file_key(src.name, rel)] = [info.st_size, info.st_mtime_ns]
            files.append((file_key(src.name, rel), path, rel, src))
    if language != "events":
        found_files = [(path, rel) for _, path, rel, _ in files]
        tok_dict = language_settings(
            language, out, found_files, fractions, bpe_vocab_size, options.progress
        )
    try:
        state = _tokenize_into(out, files, stamps, sources, tok_dict, fractions, options, report)
    except OutputError:
        raise
    except OSError as err:  # a full disk, a read-only or odd --out (/proc, a file's child)
        raise OutputError(f"cannot write {out}: {err.strerror or err}") from err
    report.files = len(state.records)
    one_source = len(sources) == 1
    report.skipped.extend(
        (key.split("/", 1)[1] if one_source else key, reason)
        for key, reason in sorted(state.skipped.items())
    )
    for split in SPLITS:
        recs = [r for r in state.records.values() if r["split"] == split]
        report.docs[split] = len(recs)
        report.tokens[split] = sum(r["tokens"] for r in recs)
    report.collections = _collections(state.records.values())
    report.seconds = time.monotonic() - start
    return report


def _tokenize_into(
    out: Path,
    files: list[tuple[str, Path, str, Source]],
    stamps: dict[str, list[int]],
    sources: list[Source],
    tok_dict: dict[str, Any],
    fractions: dict[str, float],
    options: PrepareOptions,
    report: PrepareReport,
) -> PrepareState:
    """Tokenize what is not done yet into `out/.partial`; finish the folder when all is done."""
    out.mkdir(parents=True, exist_ok=True)
    partial = out / ".partial"
    state = PrepareState.open(partial, tok_dict, fractions, sources)
    report.stale_files = state.forget_stale(stamps)
    report.resumed_files = len(state.records) + len(state.skipped)
    todo = [f for f in files if f[0] not in state.records and f[0] not in state.skipped]
    bar = progress_bar(len(files), "prepare", enabled=options.progress)
    bar.update(len(files) - len(todo))
    handles = {s: (partial / f"{s}.bin").open("ab") for s in SPLITS}
    try:
        last_save = time.monotonic()
        paths = [path for _, path, _, _ in todo]
        results = zip(todo, _run(paths, tok_dict, options.workers, out), strict=True)
        for done_now, ((key, _, rel, src), (tokens, n_notes, reason)) in enumerate(
            results, start=1
        ):
            state.stamps[key] = stamps[key]
            if tokens is None:
                state.skipped[key] = reason
            else:
                split = split_of(rel, options.val_fraction, options.test_fraction)
                handles[split].write(tokens.tobytes())
                state.records[key] = {
                    "source": rel,
                    "collection": src.collection(rel),
                    "origin": src.name,
                    "split": split,
                    "notes": n_notes,
                    "tokens": int(tokens.size),
                    "offset": state.sizes[split],
                }
                state.sizes[split] += int(tokens.size)
            bar.set_postfix_str(
                f"{sum(state.sizes.values())} tokens, {len(state.skipped)} skipped", refresh=False
            )
            bar.update()
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
    report.finished = all(f[0] in state.records or f[0] in state.skipped for f in files)
    if report.finished:
        _finish(out, partial, state, sources, options)
    return state


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _collections(records: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """{collection: {files, tokens, splits: {split: {files, tokens}}}}, by collection name."""
    table: dict[str, dict[str, Any]] = {}
    for rec in records:
        entry = table.setdefault(
            rec["collection"],
            {"files": 0, "tokens": 0, "splits": {s: {"files": 0, "tokens": 0} for s in SPLITS}},
        )
        entry["files"] += 1
        entry["tokens"] += rec["tokens"]
        entry["splits"][rec["split"]]["files"] += 1
        entry["splits"][rec["split"]]["tokens"] += rec["tokens"]
    return dict(sorted(table.items()))


def _run(
    todo: list[Path], tok_dict: dict[str, Any], workers: int, out: Path
) -> Iterable[tuple[np.ndarray | None, int, str]]:
    jobs = [(str(p), tok_dict, str(out)) for p in todo]
    if workers <= 1 or len(jobs) < 8:
        yield from map(tokenize_file, jobs)
        return
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(workers) as pool:
        yield from pool.imap(tokenize_file, jobs, chunksize=4)


def _finish(
    out: Path,
    partial: Path,
    state: PrepareState,
    sources: list[Source],
    options: PrepareOptions,
) -> None:
    """Write offsets and the manifest, then move the shards into place (manifest last)."""
    files = []
    splits: dict[str, dict[str, int]] = {}
    fields = ("source", "collection", "origin", "split", "notes", "tokens")
    for split in SPLITS:
        recs = sorted(
            (r for r in state.records.values() if r["split"] == split), key=lambda r: r["offset"]
        )
        starts = [r["offset"] for r in recs]
        ends = [r["offset"] + r["tokens"] for r in recs]
        contiguous = starts[1:] == ends[:-1] and (starts[:1] or [0]) == [0]
        contiguous = contiguous and (ends[-1:] or [0]) == [state.sizes[split]]
        total = sum(r["tokens"] for r in recs)
        offsets = np.cumsum([0] + [r["tokens"] for r in recs], dtype=np.int64)
        for doc, rec in enumerate(recs):
            files.append({**{k: rec[k] for k in fields}, "doc": doc})
        tmp = out / f".tmp-{split}.idx.npy"
        np.save(tmp, offsets)
        os.replace(tmp, out / f"{split}.idx.npy")
        if contiguous:
            os.replace(partial / f"{split}.bin", out / f"{split}.bin")
        else:  # files forgotten after an interruption left gaps: copy the rest, in order
            tmp = out / f".tmp-{split}.bin"
            _copy_docs(partial / f"{split}.bin", recs, tmp)
            os.replace(tmp, out / f"{split}.bin")
        splits[split] = {"files": len(recs), "tokens": int(total)}
    skipped = []
    for key, reason in sorted(state.skipped.items()):
        origin, rel = key.split("/", 1)
        skipped.append({"source": rel, "origin": origin, "reason": reason})
    # sources of an earlier run into this folder whose files are still here stay listed
    origins = {r["origin"] for r in state.records.values()} | {s["origin"] for s in skipped}
    known = read_manifest(out).get("sources", {}) if (out / MANIFEST).is_file() else {}
    known = {name: entry for name, entry in known.items() if name in origins}
    for s in sources:
        known[s.name] = {"spec": s.spec, "root": str(s.root.resolve()), "music21": s.is_music21}
    manifest: dict[str, Any] = {
        "format": MANIFEST_FORMAT,
        "source": " ".join(s.spec for s in sources),
        "sources": known,
        "tokenizer": state.tokenizer,
        "split_fractions": state.fractions,
        "splits": splits,
        "collections": _collections(state.records.values()),
        "files": sorted(files, key=lambda f: (f["origin"], f["source"])),
        "skipped": skipped,
    }
    if len(sources) == 1:
        manifest["root"] = str(sources[0].root.resolve())
    write_atomic(out / MANIFEST, json.dumps(manifest, indent=1))
    shutil.rmtree(partial)


def _copy_docs(shard: Path, recs: list[dict[str, Any]], dest: Path) -> None:
    """Write the token ranges of `recs` (in order) from `shard` to `dest`, gaps left out."""
    tokens = np.memmap(shard, dtype=TOKEN_DTYPE, mode="r") if shard.stat().st_size else None
    with dest.open("wb") as handle:
        for rec in recs:
            handle.write(tokens[rec["offset"] : rec["offset"] + rec["tokens"]].tobytes())
