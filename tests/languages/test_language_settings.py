"""A language is recorded as settings and rebuilt from them; what cannot be rebuilt is one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from language_testdata import MIDI_DIR, score_of

from livegen.errors import ConfigError, LivegenError, ModelLoadError
from livegen.languages import LANGUAGES, language_from, language_name, new_language
from livegen.languages.events import EventsLanguage
from livegen.languages.remi import BPE_FILE, RemiBpeLanguage
from livegen.languages.triplet import MAX_DELTA_STEPS, TripletLanguage
from livegen.tokenizer import Note, Score, TokenizerConfig


def test_settings_without_a_language_are_the_events_language_as_before() -> None:
    settings = TokenizerConfig().to_dict()
    assert language_name(settings) == "events"
    assert isinstance(language_from(settings), EventsLanguage)
    assert new_language("events").settings() == settings


@pytest.mark.parametrize("name", ["events", "remi", "triplet"])
def test_a_language_is_rebuilt_from_its_settings(name: str) -> None:
    made = new_language(name)
    settings = json.loads(json.dumps(made.settings()))  # as a manifest stores them
    again = language_from(settings)
    assert type(again) is type(made) and again.size == made.size
    assert (again.pad, again.bos, again.eos) == (made.pad, made.bos, made.eos) == (0, 1, 2)


def test_an_unknown_language_names_the_choices() -> None:
    with pytest.raises(ConfigError, match="unknown token language 'abc'; choose from events"):
        language_from({"language": "abc"})
    assert LANGUAGES == ("events", "remi", "remi-bpe", "triplet")


def test_changed_settings_are_refused() -> None:
    settings = new_language("remi").settings() | {"vocab_size": 3}
    with pytest.raises(ConfigError, match="remi language differs"):
        language_from(settings)
    with pytest.raises(ConfigError, match="triplet language version"):
        language_from(new_language("triplet").settings() | {"version": "0.1"})


def test_remi_bpe_needs_its_own_trained_file(tmp_path: Path) -> None:
    trained = RemiBpeLanguage.train([score_of(MIDI_DIR / "short_melody.mid")], vocab_size=720)
    with pytest.raises(ModelLoadError, match=f"needs its trained tokenizer {BPE_FILE}"):
        language_from(trained.settings(), tmp_path)
    (tmp_path / BPE_FILE).write_text(trained.json_text.replace("Pitch", "Pitsch", 1))
    with pytest.raises(ModelLoadError, match="not the BPE tokenizer these settings were made"):
        language_from(trained.settings(), tmp_path)


def test_triplet_writes_four_tokens_a_note_and_chains_long_gaps() -> None:
    notes = [Note(60, 0.0, 1.0, 100), Note(64, 10.0, 10.5, 90)]  # a 10-beat gap: 240 steps
    language = TripletLanguage()
    tokens = language.encode(Score(notes), bos=False, eos=False)
    names = [language.token_name(t) for t in tokens]
    assert names == [
        "TIME_0", "DURATION_24", "PITCH_60", "VELOCITY_12",
        f"TIME_{MAX_DELTA_STEPS}", f"TIME_{MAX_DELTA_STEPS}", "TIME_48",
        "DURATION_12", "PITCH_64", "VELOCITY_11",
    ]  # fmt: skip
    assert [(n.pitch, n.start_beat, n.end_beat) for n in language.decode(tokens)] == [
        (60, 0.0, 1.0),
        (64, 10.0, 10.5),
    ]


def test_triplet_writes_channel_and_program_only_where_they_change() -> None:
    notes = [Note(60, 0, 1, 100, 0, 5), Note(62, 1, 2, 100, 0, 5), Note(36, 1, 2, 100, 9)]
    language = TripletLanguage()
    names = [language.token_name(t) for t in language.encode(Score(notes))]
    assert names.count("PROGRAM_5") == 1 and names.count("CHANNEL_9") == 1
    assert [(n.channel, n.program) for n in language.decode(language.encode(Score(notes)))] == [
        (0, 5),
        (0, 5),
        (9, None),
    ]


@pytest.mark.parametrize("name", ["triplet", "remi"])
def test_decoding_any_ids_never_raises(name: str) -> None:
    language = new_language(name)
    ids = [(i * 7919) % (language.size + 5) for i in range(3000)]  # out of order, out of range
    for note in language.decode(ids):
        assert 0 <= note.pitch < 128 and note.end_beat > note.start_beat


def test_remi_without_miditok_is_one_line_naming_the_extra() -> None:
    probe = (
        "import sys; sys.modules['miditok'] = None\n"
        "from livegen.languages import new_language\n"
        "from livegen.errors import LivegenError\n"
        "try:\n    new_language('remi')\n"
        "except LivegenError as err:\n    print(err)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.stdout.strip() == (
        "the remi and remi-bpe token languages need MidiTok: pip install 'livegen[languages]'"
    )
    assert issubclass(ModelLoadError, LivegenError)
