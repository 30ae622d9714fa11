"""Convert music21's bundled corpus to a cache of MIDI files, in parallel and resumably.

Each corpus file is one job for a worker process. A file holding many tunes (the abc collections:
Essen, O'Neill's, Ryan's Mammoth) becomes one MIDI file per tune. Every converted MIDI file is
written atomically (temp file, then rename) and each finished corpus file leaves a small JSON
marker under `.done/` naming its outputs or the reason it failed, so a second run skips all
finished work and an interrupted run resumes where it stopped.

music21 is imported only inside the worker: it is a `train` extra, not a runtime dependency.
"""

from __future__ import annotations

import json
import multiprocessing
import signal
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from livegen.files import write_atomic_with

# Chosen for variety and size: four-part chorales, Renaissance polyphony and thousands of
# folk/dance tunes. Order matters: collections first in the list are converted first, so a run
# stopped early still holds a mix of polyphony and melody.
DEFAULT_COLLECTIONS: tuple[str, ...] = (
    "bach",
    "oneills1850",
    "essenFolksong",
    "ryansMammoth",
    "monteverdi",
    "trecento",
    "airdsAirs",
    "beethoven",
    "mozart",
    "haydn",
    "josquin",
    "palestrina",
)
CORPUS_SUFFIXES = (".abc", ".mxl", ".xml", ".musicxml", ".krn", ".mid", ".midi", ".md", ".rntxt")
# A pathological file must not stall a worker for the whole run.
FILE_TIMEOUT_S = 600


@dataclass(frozen=True)
class ConvertResult:
    """What one corpus file became: MIDI paths (relative to the cache) and failures with reasons."""

    source: str
    outputs: tuple[str, ...] = ()
    failures: tuple[tuple[str, str], ...] = ()
    cached: bool = False


@dataclass
class ConvertReport:
    results: list[ConvertResult] = field(default_factory=list)

    @property
    def outputs(self) -> list[str]:
        return [o for r in self.results for o in r.outputs]

    @property
    def failures(self) -> list[tuple[str, str]]:
        return [f for r in self.results for f in r.failures]


def corpus_root() -> Path:
    import music21.corpus

    return Path(music21.corpus.__file__).parent


def corpus_files(collections: Sequence[str] = DEFAULT_COLLECTIONS) -> list[Path]:
    """Corpus files of the named collections (folders of music21's corpus), in collection order."""
    root = corpus_root()
    files: list[Path] = []
    for name in collections:
        folder = root / name
        if not folder.is_dir():
            from livegen.errors import ConfigError

            valid = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name[0] != "_")
            raise ConfigError(f"music21 corpus has no collection {name!r}; valid: {valid}")
        files.extend(sorted(p for p in folder.rglob("*") if p.suffix.lower() in CORPUS_SUFFIXES))
    return files


def _marker(cache_dir: Path, rel: str) -> Path:
    return cache_dir / ".done" / (rel + ".json")


def _alarm(signum: int, frame: object) -> None:
    raise TimeoutError(f"conversion took longer than {FILE_TIMEOUT_S} s")


def convert_file(job: tuple[str, str, str]) -> ConvertResult:
    """Worker: parse one corpus file with music21 and write one MIDI file per score in it."""
    path_s, root_s, cache_s = job
    path, root, cache_dir = Path(path_s), Path(root_s), Path(cache_s)
    rel = path.relative_to(root).as_posix()
    marker = _marker(cache_dir, rel)
    if marker.exists():
        saved = json.loads(marker.read_text())
        return ConvertResult(
            rel,
            tuple(saved["outputs"]),
            tuple(tuple(f) for f in saved["failures"]),
            cached=True,
        )
    outputs: list[str] = []
    failures: list[tuple[str, str]] = []
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(FILE_TIMEOUT_S)
    try:
        import music21

        parsed = music21.converter.parse(path)
        scores = list(parsed.scores) if isinstance(parsed, music21.stream.Opus) else [parsed]
        stem = rel.rsplit(".", 1)[0]
        for i, score in enumerate(scores):
            name = f"{stem}.mid" if len(scores) == 1 else f"{stem}__{i:04d}.mid"
            try:
                write_atomic_with(
                    cache_dir / name, lambda tmp, s=score: s.write("midi", fp=str(tmp))
                )
                outputs.append(name)
            except Exception as err:  # music21 raises many kinds; one bad tune must not stop us
                failures.append((f"{rel}#{i}", f"{type(err).__name__}: {err}"[:300]))
    except Exception as err:
        failures.append((rel, f"{type(err).__name__}: {err}"[:300]))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    write_atomic_with(
        marker,
        lambda tmp: tmp.write_text(json.dumps({"outputs": outputs, "failures": failures})),
    )
    return ConvertResult(rel, tuple(outputs), tuple(failures))


def convert_corpus(
    cache_dir: str | Path,
    collections: Sequence[str] = DEFAULT_COLLECTIONS,
    *,
    workers: int = 2,
    limit: int | None = None,
    progress: bool = True,
) -> ConvertReport:
    """Convert (or pick up from the cache) the corpus files of `collections` into `cache_dir`."""
    from livegen.data.progress import progress_bar

    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    root = corpus_root()
    files = corpus_files(collections)
    if limit is not None:
        files = files[:limit]
    jobs = [(str(p), str(root), str(cache_dir)) for p in files]
    report = ConvertReport()
    bar = progress_bar(len(jobs), "music21 → MIDI", enabled=progress)
    # Cached files are answered here, so workers only see real work.
    todo = []
    for job in jobs:
        rel = Path(job[0]).relative_to(root).as_posix()
        if _marker(cache_dir, rel).exists():
            report.results.append(convert_file(job))
            bar.update()
        else:
            todo.append(job)
    if todo:
        if workers <= 1:
            results = map(convert_file, todo)
            for result in results:
                report.results.append(result)
                bar.set_postfix_str(f"{len(report.outputs)} works", refresh=False)
                bar.update()
        else:
            ctx = multiprocessing.get_context("spawn")
            with ctx.Pool(workers, maxtasksperchild=50) as pool:
                for result in pool.imap_unordered(convert_file, todo, chunksize=1):
                    report.results.append(result)
                    bar.set_postfix_str(f"{len(report.outputs)} works", refresh=False)
                    bar.update()
    bar.close()
    return report
