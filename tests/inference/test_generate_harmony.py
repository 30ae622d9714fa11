"""`generate` over a chord progression and a key: CHORD/KEY tokens forced at bar lines, never
sampled; the constraints' text form; one-line errors for bad names and for models without them."""

from __future__ import annotations

from dataclasses import replace

import pytest

from livegen.cli import main
from livegen.errors import ConfigError
from livegen.inference.conditioning import Harmony, parse_constraints
from livegen.inference.generate import GenerateRequest, generate_midi
from livegen.inference.sampler import Constraints
from livegen.tokenizer import Grammar, TokenizerConfig, TokenKind, Vocab
from livegen.tokenizer.midi_file import read_midi

WITH = TokenizerConfig(structure_tokens=True)
VOCAB = Vocab(WITH)


def _bars(tokens: list[int]) -> list[list[str]]:
    """The conditioning tokens written right after each BAR of the stream."""
    out = []
    for i, token in enumerate(tokens):
        if token == VOCAB.bar:
            names = []
            for after in tokens[i + 1 :]:
                if VOCAB.kind(after) not in (TokenKind.KEY, TokenKind.CHORD):
                    break
                names.append(VOCAB.name(after))
            out.append(names)
    return out


def test_the_progression_is_written_after_each_bar_line_and_loops(chord_model, tmp_path):
    harmony = Harmony.parse("C G Am F", key="C major")
    request = GenerateRequest(bars=6, seed=1, harmony=harmony)
    result = generate_midi(None, tmp_path / "out.mid", request, chord_model)[0]
    bars = _bars([VOCAB.bar, *result.tokens])  # the prompt is BOS BAR
    assert bars[:6] == [
        ["KEY_C", "CHORD_C"],
        ["CHORD_G"],
        ["CHORD_Am"],
        ["CHORD_F"],
        ["CHORD_C"],
        ["CHORD_G"],
    ]
    chords = [t for t in result.tokens if VOCAB.kind(t) == TokenKind.CHORD]
    assert len(chords) == sum(len(b) for b in bars) - 1  # none besides the forced ones
    assert Grammar(VOCAB).is_valid([VOCAB.bos, VOCAB.bar, *result.tokens])


def test_a_chord_is_written_when_it_changes(chord_model, tmp_path) -> None:
    harmony = Harmony.parse("Dm7 G7", bars_per_chord=2, key="D dorian")
    result = generate_midi(
        None, tmp_path / "o.mid", GenerateRequest(bars=5, seed=2, harmony=harmony), chord_model
    )[0]
    bars = _bars([VOCAB.bar, *result.tokens])
    assert bars[:5] == [["KEY_Dm", "CHORD_Dm7"], [], ["CHORD_G7"], [], ["CHORD_Dm7"]]


@pytest.mark.parametrize(
    ("key", "lock_mode", "e_allowed"),
    [
        ("Eb lydian", True, False),  # a mode: its scale (no E natural) is locked
        ("Eb lydian", False, True),  # its KEY token alone (KEY_D#) does not forbid E
        ("Eb major", True, True),  # a major or minor key is only a token
    ],
)
def test_a_mode_locks_its_scale_a_key_is_a_token(chord_model, tmp_path, key, lock_mode, e_allowed):
    """The model likes C, E and G equally: E natural is outside E flat lydian."""
    harmony = replace(Harmony.parse(None, key=key), lock_mode=lock_mode)
    request = GenerateRequest(bars=4, seed=3, harmony=harmony)
    notes = generate_midi(None, tmp_path / "o.mid", request, chord_model)[0].notes
    classes = {n.pitch % 12 for n in notes}
    assert classes <= {0, 4, 7} and {0, 7} <= classes
    assert (4 in classes) == e_allowed


def test_a_key_lock_of_ones_own_wins_over_the_modes() -> None:
    harmony = Harmony.parse("C", key="D dorian")
    assert harmony.constrain(Constraints()).key == "D dorian"
    assert harmony.constrain(Constraints(key="C major")).key == "C major"
    assert Harmony.parse("C", key="D minor").constrain(Constraints()) == Constraints()


def test_a_model_without_chord_tokens_is_one_line_naming_the_hard_lock(tiny_model, tmp_path):
    request = GenerateRequest(bars=2, harmony=Harmony.parse("C G"))
    with pytest.raises(ConfigError, match=r"not trained with chord.*--constraints 'key=C major'"):
        generate_midi(None, tmp_path / "o.mid", request, tiny_model("rope"))
    assert not (tmp_path / "o.mid").exists()


@pytest.mark.parametrize(
    ("chords", "key", "message"),
    [
        ("C G H7 F", None, r"^chord 'H7' not understood.*in progression 'C G H7 F'"),
        ("C Gadd9", None, r"^chord 'Gadd9' not understood"),
        ("", "D doric", r"^--key 'D doric' not understood.*'D dorian'"),
    ],
)
def test_bad_chord_and_key_names_are_one_line(chords, key, message) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        Harmony.parse(chords, key=key)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pitch=48-84", Constraints(pitch_low=48, pitch_high=84)),
        ("polyphony=4, density=2.5", Constraints(max_polyphony=4, max_notes_per_beat=2.5)),
        ("channels=1-3", Constraints(channels=(0, 1, 2))),
        ("channels=1+10", Constraints(channels=(0, 9))),
        ("key=D dorian,pitch=60-72", Constraints(key="D dorian", pitch_low=60, pitch_high=72)),
    ],
)
def test_constraints_read_from_one_line(text: str, expected: Constraints) -> None:
    assert parse_constraints(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("pitches=1-2", "'pitches=1-2' not understood; write name=value"),
        ("pitch=60", "'pitch=60' not understood"),
        ("channels=0-2", "'channels=0-2' not understood"),
        ("key=H major", "--constraints key 'H major' not understood"),
        ("pitch=90-40", "pitch range 90..40 not in 0..127"),
    ],
)
def test_bad_constraints_are_one_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_constraints(text)


def test_cli_generate_over_chords_with_a_key_and_constraints(chord_model, tmp_path, capsys):
    out = tmp_path / "out.mid"
    argv = ["generate", "-o", str(out), "--bars", "4", "--seed", "1", "--model", str(chord_model)]
    argv += ["--chords", "C G Am F", "--key", "C major", "--constraints", "pitch=60-64"]
    assert main(argv) == 0
    assert out.is_file() and "wrote" in capsys.readouterr().out
    assert {n.pitch for n in read_midi(out).notes} <= {60, 64}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--chords", "C Hm"], "error: chord 'Hm' not understood"),
        (["--key", "C blues"], "error: --key 'C blues' not understood"),
        (["--constraints", "voices=3"], "error: --constraints: 'voices=3' not understood"),
    ],
)
def test_cli_bad_names_are_one_line_errors(chord_model, tmp_path, capsys, extra, message):
    argv = ["generate", "-o", str(tmp_path / "o.mid"), "--model", str(chord_model), *extra]
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1 and "Traceback" not in err
