"""`livegen eval`: NLL over exactly the scored tokens, the n-gram beside it, continuation stats."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from livegen.train.accompaniment import (
    COLD_ENTRY_BEATS,
    COLD_SPAN_BEATS,
    accompaniment_nll,
    channel_token_mask,
    target_channel,
)
from livegen.train.continuations import _compare, _open_note_ages, continuation_stats
from livegen.train.evaluate import (
    EvalOptions,
    evaluate_model,
    load_torch_model,
    score_model,
)
from livegen.train.models.transformer import ModelConfig, Transformer

from livegen.cli import cli
from livegen.data.shards import load_split, read_manifest
from livegen.errors import ConfigError
from livegen.tokenizer import (
    Note,
    TokenizerConfig,
    TokenKind,
    Vocab,
    decode_tokens,
    encode_notes,
    normalize_notes,
    read_midi,
    velocity_to_bin,
    write_midi,
)

QUIET = EvalOptions(prompts=2, continuation_tokens=24, progress=False)


def test_report_has_the_documented_keys_and_consistent_numbers(smoke_run, prepared) -> None:
    report = evaluate_model(smoke_run, prepared, QUIET)
    test = load_split(prepared, "test")
    assert report["files"] == test.n_docs
    assert report["tokens"] == test.n_tokens - test.n_docs  # every token but each BOS
    assert 0 < report["nll"] < np.log(551) + 1
    assert 0 <= report["accuracy"] <= 1
    assert report["ngram_nll"] > 0
    assert report["nll_ratio"] == pytest.approx(report["nll"] / report["ngram_nll"])
    cont = report["continuations"]
    assert cont["prompts"] >= 1
    assert 0 <= cont["pitch_class_overlap"] <= 1 and 0 <= cont["on_grid"] <= 1
    assert isinstance(cont["stuck_notes"], int)


def test_sliding_windows_score_each_token_once_and_match_a_full_pass() -> None:
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=40, n_layer=1, n_head=2, d_model=16, d_ff=32, context=200)
    model = Transformer(config).eval()
    rng = np.random.default_rng(0)
    tokens = rng.integers(1, 40, 150)
    offsets = np.array([0, 60, 150])
    nll, hits, confidence = score_model(model, tokens, offsets, 4, False)
    assert nll.size == hits.size == 150 - 2
    with torch.no_grad():
        logits = model(torch.from_numpy(tokens[None, 60:150]))[0][0]
    expected = torch.nn.functional.cross_entropy(
        logits[:-1], torch.from_numpy(tokens[61:150]), reduction="none"
    )
    assert np.allclose(nll[59:], expected.numpy(), atol=1e-5)
    # confidence: the top token's probability; a hit's NLL is its confidence's -log
    top = torch.softmax(logits[:-1], dim=-1).max(-1).values.numpy()
    assert np.allclose(confidence[59:], top, atol=1e-5)
    assert np.allclose(-np.log(confidence[hits]), nll[hits], atol=1e-5)
    short = Transformer(ModelConfig(**{**config.__dict__, "context": 32})).eval()
    short.load_state_dict(model.state_dict())
    nll_short, *_ = score_model(short, tokens, offsets, 4, False)
    assert nll_short.size == nll.size  # windows of 32, stride 16: still one score per token
    assert np.allclose(nll_short[:31], nll[:31], atol=1e-5)  # the first window is identical


def test_a_plain_midi_folder_is_tokenized_on_the_fly(smoke_run, midi_folder) -> None:
    report = evaluate_model(smoke_run, midi_folder, QUIET)
    assert report["files"] == 10  # the readable files with notes
    assert report["split"] is None
    assert report["ngram_nll"] is not None  # fitted on the run's own training data


def test_a_midi_folder_with_someone_elses_manifest_is_still_a_midi_folder(
    smoke_run: Path, tmp_path: Path
) -> None:
    # the shared test MIDI carries its own manifest.json (a list of each file's source)
    folder = tmp_path / "midi"
    folder.mkdir()
    for name in ("manifest.json", "piano_bach_score.mid", "band_funkytown.mid"):
        shutil.copy(TESTDATA / name, folder / name)
    report = evaluate_model(smoke_run, folder, QUIET)
    assert report["files"] == 2 and report["split"] is None
    (folder / "manifest.json").write_text('{"tokenizer": {}, "splits": ')  # ours, cut short
    with pytest.raises(ConfigError, match=r"manifest\.json: unreadable"):
        evaluate_model(smoke_run, folder, QUIET)


def test_a_plain_folders_unreadable_files_are_named_with_the_reason(
    smoke_run: Path, midi_folder: Path
) -> None:
    args = ["eval", "--model", str(smoke_run / "checkpoint.pt"), "--data", str(midi_folder)]
    args += ["--prompts", "0"]
    text = CliRunner().invoke(cli, args)
    assert text.exit_code == 0, text.output
    assert "skipped 2 files:" in text.output
    assert "corrupt/data_byte_168.mid: " in text.output
    assert "short_empty_no_notes.mid: no notes" in text.output
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    skipped = {s["file"]: s["reason"] for s in json.loads(result.output)["skipped"]}
    assert set(skipped) == {"corrupt/data_byte_168.mid", "short_empty_no_notes.mid"}
    assert skipped["short_empty_no_notes.mid"] == "no notes"
    assert skipped["corrupt/data_byte_168.mid"]  # the reader's reason, never empty


def test_cli_json_prints_one_object(smoke_run: Path, prepared: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "eval",
            "--model",
            str(smoke_run / "checkpoint.pt"),
            "--data",
            str(prepared),
            "--split",
            "val",
            "--prompts",
            "1",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    for key in ("files", "tokens", "nll", "accuracy", "ngram_nll", "continuations"):
        assert key in report
    for key in ("pitch_class_overlap", "on_grid", "stuck_notes"):
        assert key in report["continuations"]


def test_loading_a_missing_model_is_a_one_line_error(tmp_path: Path) -> None:
    from livegen.errors import ModelLoadError

    with pytest.raises(ModelLoadError, match="not found"):
        load_torch_model(tmp_path / "nope.pt")


def test_comparison_of_identical_music_is_perfect() -> None:
    notes = [Note(60 + (i % 5), i * 0.5, i * 0.5 + 0.5, 80) for i in range(16)]
    later = [Note(n.pitch, n.start_beat + 8, n.end_beat + 8, 80) for n in notes]
    row = _compare(notes, 8.0, later, 8.0, 24)
    assert row["pc_overlap"] == pytest.approx(1.0)
    assert row["density"] == row["density_prompt"] == 2.0
    assert row["on_grid"] == row["on_grid_prompt"] == 1.0
    assert row["out_of_range"] == 0.0 and row["stuck"] == 0
    far = [Note(n.pitch + 30, n.start_beat, n.start_beat + 9, 80) for n in later]
    row = _compare(notes, 8.0, far, 8.0, 24)
    assert row["out_of_range"] == 1.0 and row["stuck"] == 16


def test_an_exported_model_folder_scores_like_its_checkpoint(smoke_run, prepared, tmp_path):
    pytest.importorskip("onnx")
    from livegen.export.transformer_onnx import export_checkpoint

    folder, _ = export_checkpoint(smoke_run / "checkpoint.pt", tmp_path / "model")
    options = EvalOptions(split="test", prompts=1, continuation_tokens=8, progress=False)
    torch_report = evaluate_model(smoke_run, prepared, options)
    onnx_report = evaluate_model(folder, prepared, options)
    assert onnx_report["tokens"] == torch_report["tokens"]
    assert onnx_report["nll"] == pytest.approx(torch_report["nll"], abs=1e-3)
    for name, kind in torch_report["kinds"].items():  # confidence through the KV cache too
        assert onnx_report["kinds"][name]["confidence"] == pytest.approx(
            kind["confidence"], abs=1e-3
        )


def test_model_card_states_data_config_steps_and_both_nlls(smoke_run, prepared) -> None:
    from livegen.train.checkpoint import load_checkpoint
    from livegen.train.model_card import render

    report = evaluate_model(smoke_run, prepared, QUIET)
    state = load_checkpoint(smoke_run)
    records = [json.loads(x) for x in (smoke_run / "metrics.jsonl").read_text().splitlines()]
    manifest = json.loads((prepared / "manifest.json").read_text())
    card = render(state, records, report, manifest, "test CPU")
    assert "30 optimizer steps" in card and "test CPU" in card
    assert f"{report['nll']:.4f}" in card and f"{report['ngram_nll']:.4f}" in card
    assert f"{records[-1]['ngram_nll']:.4f}" in card  # the val n-gram NLL
    assert "version 1.0" in card


def test_model_card_counts_works_by_the_manifests_collection() -> None:
    from livegen.train.model_card import works_by_collection

    manifest = {
        "source": "mixed",
        "files": [
            {"source": "001/001.mid", "collection": "pop909", "tokens": 10},
            {"source": "002/002.mid", "collection": "pop909", "tokens": 20},
            {"source": "bach/bwv66.6.mid", "collection": "bach", "tokens": 5},
        ],
    }
    assert works_by_collection(manifest) == {"pop909": (2, 30), "bach": (1, 5)}
    old_music21 = {"source": "music21", "files": [{"source": "bach/a.mid", "tokens": 3}]}
    assert works_by_collection(old_music21) == {"bach": (1, 3)}


def test_model_card_names_each_collections_source_and_licence() -> None:
    from livegen.train.model_card import collection_source, music21_collections

    manifest = {
        "source": "pop909=corpus/pop909/midi music21",
        "files": [
            {"source": "001.mid", "collection": "pop909", "origin": "folder", "tokens": 10},
            {"source": "bach/a.mid", "collection": "bach", "origin": "music21", "tokens": 5},
            {"source": "x.mid", "collection": "mine", "origin": "folder", "tokens": 5},
        ],
    }
    from_music21 = music21_collections(manifest)
    assert from_music21 == {"bach"}
    assert "MIT" in collection_source("pop909", from_music21)
    assert "ISMIR 2020" in collection_source("pop909", from_music21)
    assert "music21" in collection_source("bach", from_music21)
    assert "music21" not in collection_source("mine", from_music21)


TESTDATA = Path(os.environ["LIVEGEN_TESTDATA"]) / "midi"
POP909 = TESTDATA.parents[1] / "corpus" / "pop909" / "midi"
POP_SONGS = ("001.mid", "002.mid", "003.mid", "004.mid")
OTHER_SONGS = (
    "short_melody.mid",
    "type0_english1.mid",
    "piano_bach_score.mid",
    "short_anacrusis.mid",
)


@pytest.fixture(scope="module")
def two_sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`livegen data prepare --source pop909=DIR --source other=DIR`: four POP909 songs, four
    test files; half of the files go to the test split."""
    if not POP909.is_dir():
        pytest.fail(f"POP909 corpus not found at {POP909}")
    root = tmp_path_factory.mktemp("two_sources")
    for folder, names, source in (("pop", POP_SONGS, POP909), ("other", OTHER_SONGS, TESTDATA)):
        (root / folder).mkdir()
        for name in names:
            shutil.copy(source / name, root / folder / name)
    args = ["data", "prepare", "--source", f"pop909={root / 'pop'}"]
    args += ["--source", f"other={root / 'other'}", "--out", str(root / "prepared")]
    args += ["--workers", "1", "--val-fraction", "0", "--test-fraction", "0.5", "--quiet"]
    args += ["--no-structure-tokens"]  # the smoke model has no CHORD tokens
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return root


def test_collections_of_a_prepared_folder_partition_its_tokens(smoke_run, two_sources) -> None:
    prepared = two_sources / "prepared"
    for split in ("train", "test"):
        report = evaluate_model(
            smoke_run, prepared, EvalOptions(split=split, prompts=0, progress=False)
        )
        manifest = read_manifest(prepared)
        expected: dict[str, list[int]] = {}
        for record in manifest["files"]:
            if record["split"] == split:
                files_tokens = expected.setdefault(record["collection"], [0, 0])
                files_tokens[0] += 1
                files_tokens[1] += record["tokens"] - 1  # all but the BOS
        collections = report["collections"]
        assert {k: [c["files"], c["tokens"]] for k, c in collections.items()} == expected
        assert sum(c["tokens"] for c in collections.values()) == report["tokens"]
        weighted = sum(c["nll"] * c["tokens"] for c in collections.values()) / report["tokens"]
        assert weighted == pytest.approx(report["nll"], rel=1e-6)
        ngram = sum(c["ngram_nll"] * c["tokens"] for c in collections.values()) / report["tokens"]
        assert ngram == pytest.approx(report["ngram_nll"], rel=1e-6)
        for c in collections.values():
            assert c["nll_ratio"] == pytest.approx(c["nll"] / c["ngram_nll"])
    assert set(collections) == {"pop909", "other"}  # the test split holds both


def test_token_kinds_partition_the_scored_tokens_and_name_what_was_predicted(
    smoke_run, two_sources
) -> None:
    report = evaluate_model(
        smoke_run, two_sources / "pop", EvalOptions(prompts=0, progress=False)
    )  # pop songs: velocities, channels and time shifts all occur
    kinds = report["kinds"]
    assert {"NOTE_ON", "NOTE_OFF", "VELOCITY", "TIME_SHIFT"} <= set(kinds)
    assert "BOS" not in kinds  # a document's first token is never a target
    assert sum(k["tokens"] for k in kinds.values()) == report["tokens"]
    weighted = sum(k["nll"] * k["tokens"] for k in kinds.values()) / report["tokens"]
    assert weighted == pytest.approx(report["nll"], rel=1e-6)
    # counted by the vocabulary's own kinds: every NOTE_ON is followed by its VELOCITY
    assert kinds["VELOCITY"]["tokens"] == kinds["NOTE_ON"]["tokens"]
    for k in kinds.values():  # a mean of top-token probabilities: at least a uniform guess's
        assert 1 / Vocab().size <= k["confidence"] <= 1
    assert list(kinds) == sorted(kinds, key=lambda name: Vocab().offsets[TokenKind[name]])


def test_a_plain_folder_is_one_collection_or_one_per_subfolder(smoke_run, two_sources) -> None:
    quiet = EvalOptions(prompts=0, progress=False)
    report = evaluate_model(smoke_run, two_sources / "pop", quiet)
    assert list(report["collections"]) == ["pop"]
    assert report["collections"]["pop"]["tokens"] == report["tokens"]
    by_sub = EvalOptions(prompts=0, progress=False, collection_by="subfolder")
    mixed = evaluate_model(smoke_run, two_sources, by_sub)  # pop/, other/ and prepared/*.mid: none
    assert {k: c["files"] for k, c in mixed["collections"].items()} == {"pop": 4, "other": 4}
    assert mixed["collections"]["pop"]["nll"] == pytest.approx(report["nll"], rel=1e-6)
    by_prefix = EvalOptions(prompts=0, progress=False, collection_by="prefix")
    named = evaluate_model(smoke_run, two_sources / "other", by_prefix)["collections"]
    assert {k: c["files"] for k, c in named.items()} == {"short": 2, "type0": 1, "piano": 1}


def test_ngram_data_may_be_a_plain_midi_folder_but_not_the_scored_one(smoke_run, two_sources):
    quiet = EvalOptions(prompts=0, progress=False, ngram_data=str(two_sources / "other"))
    report = evaluate_model(smoke_run, two_sources / "pop", quiet)
    assert report["ngram_data"] == str(two_sources / "other")
    assert report["collections"]["pop"]["ngram_nll"] == pytest.approx(report["ngram_nll"])
    assert 0 < report["ngram_nll"] < np.log(Vocab().size) + 3
    same = EvalOptions(prompts=0, progress=False, ngram_data=str(two_sources / "pop"))
    with pytest.raises(ConfigError, match="scored"):
        evaluate_model(smoke_run, two_sources / "pop", same)


def test_velocity_spread_is_zero_for_one_dynamic_and_not_for_pop(smoke_run, tmp_path) -> None:
    score = read_midi(POP909 / "001.mid")
    flat = [Note(n.pitch, n.start_beat, n.end_beat, 90, n.channel, n.program) for n in score.notes]
    (tmp_path / "flat").mkdir()
    write_midi(flat, tmp_path / "flat" / "001_flat.mid")
    options = EvalOptions(prompts=1, continuation_tokens=16, progress=False)
    cont = evaluate_model(smoke_run, tmp_path / "flat", options)["continuations"]
    assert cont["prompts"] == 1
    assert cont["velocity_spread_prompt"] == 0.0
    shutil.copy(POP909 / "001.mid", tmp_path / "001.mid")
    (tmp_path / "pop").mkdir()
    shutil.move(tmp_path / "001.mid", tmp_path / "pop" / "001.mid")
    cont = evaluate_model(smoke_run, tmp_path / "pop", options)["continuations"]
    assert cont["velocity_spread_prompt"] > 1.0  # POP909's velocities are expressive
    for key in ("open_notes", "open_notes_prompt"):
        assert isinstance(cont[key], int) and cont[key] >= 0
    for key in ("open_note_age", "open_note_age_prompt"):
        assert cont[key] is None or cont[key] >= 0


def test_open_notes_are_what_is_still_sounding_at_the_end_with_their_ages() -> None:
    vocab = Vocab()  # 24 steps a beat
    start = [vocab.bos, vocab.note_on(60), vocab.velocity(8), vocab.shift(12)]
    start += [vocab.note_on(64), vocab.velocity(8)]
    held = [vocab.shift(24)]
    assert _open_note_ages(start, held, vocab.config) == ([0.5, 0.0], [1.5, 1.0])
    released = [vocab.shift(24), vocab.note_off(60), vocab.shift(48)]
    assert _open_note_ages(start, released, vocab.config) == ([0.5, 0.0], [3.0])
    assert _open_note_ages(start, [vocab.shift(24), vocab.eos], vocab.config) == ([0.5, 0.0], [])
    row = _compare([], 0.0, [Note(60, 0, 1, 40), Note(62, 1, 2, 80)], 2.0, 24)
    assert row["velocity_spread"] == pytest.approx(20.0)


@pytest.mark.parametrize("name", POP_SONGS[:2])
def test_the_music_read_on_is_what_a_model_playing_the_score_would_be_scored(name: str) -> None:
    """`real` reads the document on as far as the model sampled: a 'model' that returns exactly
    the next tokens of the piece gets the same numbers, one that only waits does not."""
    config = TokenizerConfig()
    tokens = np.asarray(encode_notes(read_midi(POP909 / name).notes, config, bos=True))
    offsets = np.array([0, tokens.size])
    options = EvalOptions(prompts=1, prompt_tokens=256, continuation_tokens=256, progress=False)

    def the_score(prompt, n_tokens, vocab, *, seed):
        return tokens[len(prompt) : len(prompt) + n_tokens].tolist()

    stats = continuation_stats(the_score, 1024, tokens, offsets, config, options)
    real = stats["real"]
    assert real["note_density"] == pytest.approx(stats["note_density"])
    assert real["polyphony"] == pytest.approx(stats["polyphony"])
    assert real["out_of_range"] == stats["out_of_range"]
    assert (real["open_notes"], real["stuck_notes"]) == (stats["open_notes"], stats["stuck_notes"])
    assert real["note_density"] > 1  # a pop song's notes: POP909 plays several a beat

    def waits(prompt, n_tokens, vocab, *, seed):
        return [vocab.shift(vocab.config.steps_per_beat)] * n_tokens

    silent = continuation_stats(waits, 1024, tokens, offsets, config, options)
    assert silent["real"] == real  # the reference is the piece's, whatever the model plays
    assert silent["note_density"] == 0


def _part_ids(part: list[Note], vocab: Vocab) -> list[int]:
    """The NOTE_ON, VELOCITY and NOTE_OFF ids of each (normalised) note of a part."""
    bins = vocab.config.velocity_bins
    return [
        token
        for q in part
        for token in (
            vocab.note_on(q.pitch),
            vocab.velocity(velocity_to_bin(q.velocity, bins)),
            vocab.note_off(q.pitch),
        )
    ]


def ids_as_nll(tokens: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A scorer whose 'NLL' of a token is its id (each document's first token unscored)."""
    keep = np.ones(tokens.size, dtype=bool)
    keep[offsets[:-1]] = False
    return tokens[keep].astype(float), np.zeros(int(keep.sum()), dtype=bool)


@pytest.mark.parametrize("name", POP_SONGS)
def test_the_accompaniment_is_scored_over_exactly_its_own_tokens(name: str) -> None:
    """A scorer whose 'NLL' of a token is its id: the measure must average exactly the target
    part's NOTE_ON, VELOCITY and NOTE_OFF ids, counted here from the notes themselves."""
    config = TokenizerConfig()
    vocab = Vocab(config)
    notes = list(read_midi(POP909 / name).notes)
    counts = {ch: sum(n.channel == ch for n in notes) for ch in {n.channel for n in notes}}
    assert set(counts) == {0, 1, 2}  # melody, secondary melody, piano (MIDI channels 1-3)
    assert target_channel(notes) == max(counts, key=counts.__getitem__) == 2
    part = [q for q in normalize_notes(notes, config) if q.channel == 2]
    ids = _part_ids(part, vocab)

    report = accompaniment_nll([POP909 / name], config, ids_as_nll, progress=False)
    assert report["files"] == 1 and report["target_channels"] == {"3": 1}
    assert report["tokens"] == report["tokens_alone"] == len(ids) == 3 * len(part)
    assert report["nll_given_others"] == pytest.approx(np.mean(ids))
    assert report["nll_alone"] == pytest.approx(np.mean(ids))


@pytest.mark.parametrize("name", POP_SONGS)
def test_coming_in_cold_is_scored_over_the_parts_first_bars_after_the_entry(name: str) -> None:
    """The cold duet: the melody from the start, the piano only from 8 bars after the first
    note, scored over its next 4 bars, with the melody and without: the same tokens, exactly the
    piano's own (ids as 'NLL' again), and none of the melody's."""
    config = TokenizerConfig()
    vocab = Vocab(config)
    notes = list(read_midi(POP909 / name).notes)
    entry = min(n.start_beat for n in notes) + COLD_ENTRY_BEATS
    raw = [n for n in notes if n.channel == 2 and entry <= n.start_beat < entry + COLD_SPAN_BEATS]
    part = normalize_notes(raw, config)
    ids = _part_ids(part, vocab)

    report = accompaniment_nll([POP909 / name], config, ids_as_nll, progress=False)
    assert report["cold_files"] == 1
    assert report["cold_tokens"] == len(ids) == 3 * len(part) > 0
    assert report["cold_nll_given_player"] == pytest.approx(np.mean(ids))
    assert report["cold_nll_alone"] == pytest.approx(np.mean(ids))


def test_the_stream_starts_on_channel_0_without_a_channel_token() -> None:
    vocab = Vocab()
    lead = [Note(60 + i, i, i + 1, 80, channel=0) for i in range(3)]
    notes = [*lead, Note(48, 0, 4, 60, channel=1)]
    assert target_channel(notes) == 0
    tokens = np.asarray(encode_notes(notes, vocab.config, bos=True, eos=True))
    assert vocab.kinds[tokens[1]] != TokenKind.CHANNEL  # channel 0 is implied
    mask = channel_token_mask(tokens, vocab, 0)
    assert [vocab.names[t] for t in tokens[mask]][:3] == ["NOTE_ON_60", "VELOCITY_9", "NOTE_OFF_60"]
    assert mask.sum() == 9 and channel_token_mask(tokens, vocab, 1).sum() == 3


def test_a_single_part_file_has_no_accompaniment() -> None:
    notes = list(read_midi(TESTDATA / "short_melody.mid").notes)
    assert target_channel(notes) is None
    report = accompaniment_nll(
        [TESTDATA / "short_melody.mid"], TokenizerConfig(), score_model, progress=False
    )
    assert report["files"] == 0 and report["single_part_files"] == 1
    assert report["nll_given_others"] is None


def test_cli_accompaniment_on_a_prepared_folder(smoke_run: Path, two_sources: Path) -> None:
    args = ["eval", "--model", str(smoke_run / "checkpoint.pt"), "--data"]
    args += [str(two_sources / "prepared"), "--prompts", "0", "--accompaniment", "--json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    acc = report["accompaniment"]
    test = [r for r in read_manifest(two_sources / "prepared")["files"] if r["split"] == "test"]
    pop = sum(r["collection"] == "pop909" for r in test)
    assert acc["files"] == pop and acc["target_channels"] == {"3": pop}  # POP909's piano
    assert acc["missing_files"] == 0
    assert acc["files"] + acc["single_part_files"] + acc["unreadable_files"] == len(test)
    assert acc["tokens"] == acc["tokens_alone"] > 0
    assert acc["nll_ratio"] == pytest.approx(acc["nll_given_others"] / acc["nll_alone"])
    text = CliRunner().invoke(cli, args[:-1])
    assert text.exit_code == 0, text.output
    assert "accompaniment" in text.output and "pop909" in text.output


def test_an_exported_model_folder_measures_the_accompaniment_like_its_checkpoint(
    smoke_run, two_sources, tmp_path
):
    pytest.importorskip("onnx")
    from livegen.export.transformer_onnx import export_checkpoint

    folder, _ = export_checkpoint(smoke_run / "checkpoint.pt", tmp_path / "model")
    options = EvalOptions(prompts=0, max_files=1, accompaniment=True, progress=False)
    torch_acc = evaluate_model(smoke_run, two_sources / "pop", options)["accompaniment"]
    onnx_acc = evaluate_model(folder, two_sources / "pop", options)["accompaniment"]
    assert onnx_acc["tokens"] == torch_acc["tokens"] > 0
    for key in ("nll_given_others", "nll_alone"):
        assert onnx_acc[key] == pytest.approx(torch_acc[key], abs=1e-3)


def test_key_and_chord_tokens_are_given_so_eval_never_scores_them() -> None:
    import numpy as np
    from livegen.train.evaluate import _scored_targets

    from livegen.tokenizer import TokenizerConfig, Vocab

    vocab = Vocab(TokenizerConfig(structure_tokens=True))
    chord = vocab.id_of("CHORD_C")
    doc1 = [vocab.bos, vocab.key("C"), vocab.bar, chord, vocab.note_on(60), vocab.velocity(8)]
    doc2 = [vocab.bos, vocab.note_on(62), vocab.velocity(8)]
    tokens = np.array(doc1 + doc2)
    offsets = np.array([0, len(doc1), len(doc1) + len(doc2)])
    # targets: every token but each document's first
    assert _scored_targets(tokens, offsets, vocab).tolist() == [
        False,  # KEY_C
        True,  # BAR
        False,  # CHORD_C
        True,
        True,
        True,
        True,
    ]


def test_continuations_keep_the_note_length_cap_they_are_asked_for(smoke_run, prepared) -> None:
    from livegen.train.samples import generate

    model, state = load_torch_model(smoke_run)
    tokenizer = TokenizerConfig.from_dict(state["tokenizer"])
    vocab = Vocab(tokenizer)

    def longest_note(cap: float) -> float:
        out = generate(model, [vocab.bos], 300, vocab, seed=2, max_hold_beats=cap)
        return max(n.end_beat - n.start_beat for n in decode_tokens(out, tokenizer))

    assert longest_note(0) > 1  # 30 steps of training: it forgets notes
    assert longest_note(1) <= 1
    options = EvalOptions(prompts=2, continuation_tokens=24, progress=False, max_hold_beats=1)
    assert evaluate_model(smoke_run, prepared, options)["continuations"]["max_hold_beats"] == 1


def test_continuations_sample_at_the_temperature_they_are_asked_for(smoke_run, prepared) -> None:
    def continuations(temperature: float) -> dict:
        options = EvalOptions(
            prompts=2, continuation_tokens=48, progress=False, temperature=temperature
        )
        return evaluate_model(smoke_run, prepared, options)["continuations"]

    own, cold = continuations(1.0), continuations(0.2)
    assert (own["temperature"], cold["temperature"]) == (1.0, 0.2)
    assert own != {**cold, "temperature": 1.0}  # same prompts and seed: other tokens
