"""`livegen data prepare` with several sources: collections, per-collection totals, adding files."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from livegen.cli import cli
from livegen.data.prepare import PrepareOptions, parse_sources, prepare
from livegen.data.shards import load_split, read_manifest
from livegen.data.split import SPLITS, split_of
from livegen.errors import ConfigError
from livegen.tokenizer import TokenizerConfig, encode_notes
from livegen.tokenizer.midi_file import read_midi

TESTDATA = Path(os.environ["LIVEGEN_TESTDATA"]) / "midi"
OPTIONS = PrepareOptions(val_fraction=0.3, test_fraction=0.3, workers=1, progress=False)
POP = ("tempo_pop909_010.mid", "short_melody.mid", "type0_english1.mid")
# a music21 cache as music21_source writes it: one folder per corpus collection
M21 = ("bach/piano_bach_score.mid", "essenFolksong/type0_english2.mid", "bach/sub/tempo.mid")


def _copy(dest: Path, names: tuple[str, ...]) -> Path:
    for name in names:
        original = "tempo_etude_no4.mid" if name.endswith("tempo.mid") else Path(name).name
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(TESTDATA / original, dest / name)
    return dest


@pytest.fixture
def pop(tmp_path: Path) -> Path:
    return _copy(tmp_path / "pop909", POP)


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    folder = _copy(tmp_path / "m21cache", M21)
    (folder / ".done").mkdir()
    (folder / "bach" / ".tmp-abc123.mid").write_bytes(b"MThd half written")  # a converter's temp
    return folder


def _prepare_mix(pop: Path, cache: Path, out: Path, **kwargs) -> object:
    return prepare(
        [str(pop), "music21"],
        out,
        options=OPTIONS,
        music21_cache=cache,
        convert_music21=False,
        **kwargs,
    )


def _check_documents(out: Path, roots: dict[str, Path]) -> None:
    """Every manifest record is its file's own encoding, in the split of its path."""
    manifest = read_manifest(out)
    splits = {name: load_split(out, name) for name in SPLITS}
    for record in manifest["files"]:
        score = read_midi(roots[record["origin"]] / record["source"])
        expected = encode_notes(
            score.notes, TokenizerConfig(), time_signatures=score.meter(), bos=True, eos=True
        )
        assert splits[record["split"]].doc(record["doc"]).tolist() == expected
        assert record["split"] == split_of(record["source"], 0.3, 0.3)
        assert splits[record["split"]].collections[record["doc"]] == record["collection"]


def test_a_folder_is_one_collection_and_music21_works_keep_their_corpus_names(
    pop: Path, cache: Path, tmp_path: Path
):
    out = tmp_path / "mix"
    report = _prepare_mix(pop, cache, out)
    manifest = read_manifest(out)
    collections = {(f["origin"], f["source"]): f["collection"] for f in manifest["files"]}
    assert collections == {
        **{("pop909", name): "pop909" for name in POP},
        **{("music21", name): name.split("/")[0] for name in M21},
    }
    _check_documents(out, {"pop909": pop, "music21": cache})
    table = manifest["collections"]
    assert set(table) == {"pop909", "bach", "essenFolksong"}
    for name, entry in table.items():
        files = [f for f in manifest["files"] if f["collection"] == name]
        assert entry["files"] == len(files)
        assert entry["tokens"] == sum(f["tokens"] for f in files)
        assert sum(s["tokens"] for s in entry["splits"].values()) == entry["tokens"]
    assert report.collections == table
    assert "tokens per collection:" in report.summary()
    assert f"{table['bach']['tokens']:,} tokens" in report.summary()


def test_sources_can_be_named_and_names_must_be_unique(pop: Path, tmp_path: Path):
    out = tmp_path / "named"
    prepare([f"pop={pop}"], out, options=OPTIONS)
    assert {f["collection"] for f in read_manifest(out)["files"]} == {"pop"}
    with pytest.raises(ConfigError, match="second source named 'pop909'"):
        parse_sources([str(pop), f"pop909={pop}"], "cache")
    with pytest.raises(ConfigError, match="reserved"):
        parse_sources([f"others={pop}"], "cache")
    with pytest.raises(ConfigError, match="corpus collection names"):
        parse_sources(["m=music21"], "cache")


def test_one_source_keeps_the_old_layout_and_splits(pop: Path, tmp_path: Path):
    alone, mixed = tmp_path / "alone", tmp_path / "mixed"
    prepare(pop, alone, options=OPTIONS)
    prepare([str(pop), f"other={pop}"], mixed, options=OPTIONS)
    manifest = read_manifest(alone)
    assert manifest["source"] == str(pop) and manifest["root"] == str(pop.resolve())
    assert sorted(f["source"] for f in manifest["files"]) == sorted(POP)
    split_alone = {f["source"]: f["split"] for f in manifest["files"]}
    for record in read_manifest(mixed)["files"]:
        assert record["split"] == split_alone[record["source"]]  # a mix never moves a file


def test_new_files_are_added_to_a_finished_folder_and_old_documents_stay(
    pop: Path, cache: Path, tmp_path: Path
):
    out = tmp_path / "mix"
    _prepare_mix(pop, cache, out)
    before = read_manifest(out)
    old_bins = {s: (out / f"{s}.bin").read_bytes() for s in SPLITS}
    _copy(cache, ("essenFolksong/drums_only_beat.mid", "bach/type0_bach_prelude.mid"))
    report = _prepare_mix(pop, cache, out)
    assert report.finished and report.resumed_files == len(POP) + len(M21)
    after = read_manifest(out)
    assert len(after["files"]) == len(before["files"]) + 2
    for split in SPLITS:
        assert (out / f"{split}.bin").read_bytes().startswith(old_bins[split])
    _check_documents(out, {"pop909": pop, "music21": cache})
    assert not (out / ".partial").exists()
    again = _prepare_mix(pop, cache, out)  # nothing new: the same folder
    assert again.resumed_files == len(after["files"])
    assert read_manifest(out)["files"] == after["files"]


def test_a_source_left_out_later_keeps_its_files(pop: Path, cache: Path, tmp_path: Path):
    out = tmp_path / "grow"
    prepare(pop, out, options=OPTIONS)
    _prepare_mix(pop, cache, out)
    prepare(["music21"], out, options=OPTIONS, music21_cache=cache, convert_music21=False)
    manifest = read_manifest(out)
    assert {f["origin"] for f in manifest["files"]} == {"pop909", "music21"}
    assert set(manifest["sources"]) == {"pop909", "music21"}
    _check_documents(out, {"pop909": pop, "music21": cache})


def test_an_interrupted_mix_resumes_and_matches_a_fresh_one(pop, cache, tmp_path: Path):
    fresh, resumed = tmp_path / "fresh", tmp_path / "resumed"
    _prepare_mix(pop, cache, fresh)
    stop = PrepareOptions(**{**OPTIONS.__dict__, "stop_after_files": 4})
    prepare(
        [str(pop), "music21"], resumed, options=stop, music21_cache=cache, convert_music21=False
    )
    assert not (resumed / "manifest.json").exists()
    _prepare_mix(pop, cache, resumed)
    for name in SPLITS:
        assert (fresh / f"{name}.bin").read_bytes() == (resumed / f"{name}.bin").read_bytes()
        assert np.array_equal(
            np.load(fresh / f"{name}.idx.npy"), np.load(resumed / f"{name}.idx.npy")
        )
    assert read_manifest(fresh)["files"] == read_manifest(resumed)["files"]


def test_a_partial_run_of_the_first_state_version_resumes(pop: Path, tmp_path: Path):
    out = tmp_path / "old"
    stop = PrepareOptions(**{**OPTIONS.__dict__, "stop_after_files": 2})
    prepare(pop, out, options=stop)
    state_path = out / ".partial" / "state.json"
    state = json.loads(state_path.read_text())
    # what the first version wrote: keyed by path, records without collection or origin
    state["records"] = {
        k.split("/", 1)[1]: {f: v for f, v in r.items() if f not in ("collection", "origin")}
        for k, r in state["records"].items()
    }
    state["skipped"] = {k.split("/", 1)[1]: v for k, v in state["skipped"].items()}
    del state["version"], state["split_fractions"]
    state_path.write_text(json.dumps(state))
    report = prepare(pop, out, options=OPTIONS)
    assert report.finished and report.resumed_files == 2 and report.files == len(POP)
    _check_documents(out, {"pop909": pop})


def test_cli_takes_several_sources_and_reports_tokens_per_collection(pop, cache, tmp_path):
    out = tmp_path / "cli"
    args = ["data", "prepare", "--source", str(pop), "--source", "music21", "--out", str(out)]
    args += ["--music21-cache", str(cache), "--music21-cached-only", "--quiet", "--workers", "1"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "tokens per collection:" in result.output
    for name in ("pop909", "bach", "essenFolksong"):
        assert name in result.output
    # the converter's hidden temp file is neither a work nor a skipped file
    assert f"prepared {len(POP) + len(M21)} files" in result.output
    assert "skipped" not in result.output
