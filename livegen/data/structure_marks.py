"""The KEY and CHORD tokens of a piece for `livegen data prepare`: POP909's labels, else estimated.

Where the labels come from. A file laid out as POP909 is (`X/midi/NAME.mid` with
`X/chords/NAME.txt` and `X/keys/NAME.txt` beside it, the corpus' own folders) takes its chords
and keys from those annotations, whose times are seconds (mapped onto beats through the file's
tempo map). Every other file is estimated (music/estimate.py) from its pitched notes, drums left
out: the chord of every CHORD_WINDOW_BEATS-beat window from the start (two beats: the usual
harmonic rhythm of pop, and half a 4/4 bar, so windows share the bar lines), and one key for the
whole piece (estimated key changes are mostly errors: docs/structure.md).

Where they go. Times are rounded to the nearest beat, the finest step the live follow mode
decides on, so training sees chords change where a live run can change them. A KEY token is
written at the start and at each key change, a CHORD token at each chord change, both right after
the BAR or time shift of their step (encode_notes' `conditioning`), KEY first. Nothing is written
after the last note ends: POP909's label files run on to the end of the audio.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from livegen.music.chords import Chord, parse_harte
from livegen.music.estimate import estimate_chord, estimate_key
from livegen.music.keys import Key, parse_key
from livegen.tokenizer.midi_file import Score
from livegen.tokenizer.vocab import DRUM_CHANNEL, Vocab

CHORD_WINDOW_BEATS = 2.0


def pop909_labels(path: Path) -> tuple[Path, Path] | None:
    """The (chords, keys) label files of a MIDI file in POP909's layout, or None."""
    if path.parent.name != "midi":
        return None
    corpus = path.parent.parent
    chords, keys = corpus / "chords" / f"{path.stem}.txt", corpus / "keys" / f"{path.stem}.txt"
    return (chords, keys) if chords.is_file() and keys.is_file() else None


def _rows(path: Path) -> list[tuple[float, str]]:
    """(start seconds, label) of each line "start<TAB>end<TAB>label"."""
    rows = []
    for line in path.read_text().splitlines():
        parts = line.split("\t")
        if len(parts) == 3:
            rows.append((float(parts[0]), parts[2].strip()))
    return rows


def _harte_key(label: str) -> Key:
    tonic, _, mode = label.partition(":")
    key = parse_key(f"{tonic} {'minor' if mode == 'min' else 'major'}", what="key label")
    assert key is not None
    return key


def labelled(score: Score, chords: Path, keys: Path) -> tuple[list, list]:
    """POP909's chords and keys as (beat, Chord) and (beat, Key) lists, in time order."""
    chord_marks = [(score.beat_at(s), parse_harte(label)) for s, label in _rows(chords)]
    key_marks = [(score.beat_at(s), _harte_key(label)) for s, label in _rows(keys)]
    return chord_marks, key_marks


def estimated(score: Score) -> tuple[list[tuple[float, Chord]], list[tuple[float, Key]]]:
    """Chords per CHORD_WINDOW_BEATS window and one key, from the pitched notes."""
    notes = [n for n in score.notes if n.channel != DRUM_CHANNEL]
    if not notes:
        return [], []
    pitches = np.array([n.pitch for n in notes], dtype=np.int64)
    starts = np.array([n.start_beat for n in notes])
    ends = np.array([n.end_beat for n in notes])
    velocities = np.array([n.velocity for n in notes], dtype=float)
    chords = []
    for start in np.arange(0.0, float(ends.max()), CHORD_WINDOW_BEATS):
        end = start + CHORD_WINDOW_BEATS
        inside = (starts < end) & (ends > start)
        chord = estimate_chord(
            pitches[inside], starts[inside], ends[inside], velocities[inside], start, end
        )
        chords.append((float(start), chord))
    key = estimate_key(pitches, starts, ends, velocities, 0.0, float(ends.max()))
    return chords, [] if key is None else [(0.0, key)]


def structure_marks(path: Path, score: Score, vocab: Vocab) -> list[tuple[int, int]]:
    """(step, token) of the piece's KEY and CHORD tokens, for encode_notes(conditioning=...)."""
    labels = pop909_labels(Path(path))
    chords, keys = labelled(score, *labels) if labels else estimated(score)
    if not score.notes:
        return []
    spb = vocab.config.steps_per_beat
    last_step = round(max(n.end_beat for n in score.notes) * spb)

    def changes(marks: list, token_of) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        for i, (beat, value) in enumerate(marks):
            step = 0 if i == 0 else round(beat) * spb  # the first one holds from the start
            token = token_of(value)
            if step >= last_step or (out and out[-1][1] == token):
                continue
            if out and out[-1][0] == step:
                out[-1] = (step, token)  # two labels round to one beat: the later one holds
                if len(out) > 1 and out[-2][1] == token:
                    out.pop()
            else:
                out.append((step, token))
        return out

    # KEY before CHORD at one step (encode_notes keeps the given order within a step)
    ordered = sorted(
        [(step, 0, token) for step, token in changes(keys, vocab.key_of)]
        + [(step, 1, token) for step, token in changes(chords, vocab.chord)]
    )
    return [(step, token) for step, _, token in ordered]
