"""A `[data] path` of plain MIDI files, prepared into the run folder before training starts.

`livegen train` reads token shards made by `livegen data prepare`. A config may instead name a
folder of MIDI files or a glob (`../shared/corpus/pop909/midi/00[1-6].mid`, as the smoke configs
do), so that `livegen train --config configs/train/hier-smoke.toml --out R` works on a fresh
checkout: the files are prepared into `OUT/data` with `data prepare`'s defaults (5 % val, 5 %
test by the hash of each file's name, KEY/CHORD tokens on) and the run trains on that folder. The
preparation is resumable and adds new files when run again, like `data prepare` itself, so
`--resume` finds the same folder.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from livegen.data.prepare import PrepareOptions, prepare
from livegen.data.shards import is_prepared, read_manifest
from livegen.errors import ConfigError

from .train_config import TrainConfig
from .variation_data import midi_files

PREPARED = "data"  # OUT/data: the prepared folder
LINKED = "data-midi"  # OUT/data-midi: a glob's files, linked into one folder to prepare from


def check_data_path(path: str) -> None:
    """Fail in one line, before any run folder is made, when `path` is neither kind of data."""
    if is_prepared(path):
        read_manifest(path)
        return
    try:
        midi_files(path)
    except ConfigError:
        raise ConfigError(
            f"{path}: not a prepared data folder (no manifest.json) and no MIDI files there; run "
            "`livegen data prepare --source ... --out ...` first, or name a folder or glob of "
            "MIDI files"
        ) from None


def with_prepared_data(config: TrainConfig, *, distributed: bool) -> TrainConfig:
    """`config` itself when its data is prepared; else prepare its MIDI files into OUT/data."""
    path = config.data.path
    if is_prepared(path):
        return config
    if distributed:
        raise ConfigError(
            f"[data] path {path!r} names MIDI files; under torchrun prepare them first with "
            "`livegen data prepare` (every process must read the same shards)"
        )
    out_dir = Path(config.run.out_dir)
    source = Path(path)
    if not source.is_dir():  # a glob: one folder of links, so the split hashes the file names
        source = out_dir / LINKED
        source.mkdir(parents=True, exist_ok=True)
        for file in midi_files(path):
            link = source / file.name
            if not link.is_symlink():
                link.symlink_to(file.resolve())
    report = prepare(
        f"midi={source}", out_dir / PREPARED, options=PrepareOptions(workers=1, progress=False)
    )
    print(report.summary(), file=sys.stderr, flush=True)
    return replace(config, data=replace(config.data, path=str(out_dir / PREPARED)))
