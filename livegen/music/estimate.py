"""Estimating the chord and the key of sounding notes from pitch-class profiles (numpy, no model).

Both estimators take notes as parallel arrays (MIDI pitch, start, end, velocity, in any one time
unit: beats live, seconds or beats offline) and a window [start, end) in that unit, so the live
follow mode can ask "which chord over this beat / bar?" with held notes ending at "now".

Chord (`estimate_chord`): each note adds overlap-with-window x velocity/127 to its pitch class.
A second, bass profile weights notes by how near they are to the window's lowest pitch (the bass
names the root of a root-position chord: it tells C6 from Am7, Caug from Eaug). Every chord of the
vocabulary (chords.VOCABULARY) scores

    cosine(profile, chord's binary template) + BASS_WEIGHT x bass share of the root + prior

and the best one wins; a window where nothing sounds is "N". The priors favour triads slightly:
a seventh needs its seventh to be really there, not a passing tone. The constants were tuned on
POP909 songs 001-030 (docs/structure.md has the measurement over all songs).

Key (`estimate_key`): the duration x velocity profile over a longer span (a phrase, a song),
compressed by a power (KEY_WEIGHT_POWERS), is correlated (Pearson) with the 24 rotations of a
major and a minor key profile (Krumhansl-Kessler's by default, Temperley's Kostka-Payne profiles
on request); the best is the key, as a keys.Key (so "minor" is keys.py's minor). The square root
keeps long held notes from outvoting the melody's scale: on POP909 it takes Krumhansl-Kessler from
81% to 84% of key segments (Temperley's profiles do best on raw durations).

Both run in tens of µs per call for a bar's notes (docs/structure.md), cheap enough for every beat.
"""

from __future__ import annotations

import numpy as np

from livegen.music.chords import NONE, QUALITIES, VOCABULARY, Chord
from livegen.music.keys import Key

BASS_WEIGHT = 0.1  # how much the bass's vote on the root counts against the cosine (0..1)
BASS_SPREAD_SEMITONES = 4.0  # a note this far above the lowest counts 1/e as much for the bass
# Added to a quality's score: triads are the default reading; extended chords must earn it.
QUALITY_PRIORS: dict[str, float] = {
    "maj": 0.05,
    "min": 0.05,
    "dim": -0.04,
    "aug": -0.06,
    "sus2": -0.03,
    "sus4": -0.03,
    "7": 0.0,
    "maj7": 0.0,
    "min7": 0.0,
    "m7b5": -0.04,
    "dim7": -0.06,
    "6": -0.015,
    "min6": -0.015,
    "7sus4": -0.04,
    "minmaj7": -0.015,
}

_CHORDS = VOCABULARY[1:]  # "N" is not a template: it is the answer for an empty window
_TEMPLATES = np.zeros((len(_CHORDS), 12))
for _i, _chord in enumerate(_CHORDS):
    _TEMPLATES[_i, sorted(_chord.pitch_classes)] = 1.0
_TEMPLATES /= np.linalg.norm(_TEMPLATES, axis=1, keepdims=True)
_INDEX = {c: i for i, c in enumerate(_CHORDS)}
_ROOTS = np.array([c.root for c in _CHORDS])
_PRIORS = np.array([QUALITY_PRIORS[c.quality] for c in _CHORDS])
assert set(QUALITY_PRIORS) == set(QUALITIES)

# Key profiles, tonic first. Temperley (2001, Kostka-Payne corpus) and Krumhansl-Kessler (1982).
KEY_PROFILES: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "temperley": (
        (0.748, 0.060, 0.488, 0.082, 0.670, 0.460, 0.096, 0.715, 0.104, 0.366, 0.057, 0.400),
        (0.712, 0.084, 0.474, 0.618, 0.049, 0.460, 0.105, 0.747, 0.404, 0.067, 0.133, 0.330),
    ),
    "krumhansl": (
        (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88),
        (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17),
    ),
}


# The power each profile's pitch-class durations are raised to before correlating.
KEY_WEIGHT_POWERS: dict[str, float] = {"krumhansl": 0.5, "temperley": 1.0}


def _key_matrix(profile: str) -> np.ndarray:
    """(24, 12): rows are the 12 major keys then the 12 minor keys, centred and unit length."""
    rows = [np.roll(np.asarray(p), tonic) for p in KEY_PROFILES[profile] for tonic in range(12)]
    matrix = np.array(rows)
    matrix -= matrix.mean(axis=1, keepdims=True)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


_KEY_MATRICES = {name: _key_matrix(name) for name in KEY_PROFILES}


def _weights(
    starts: np.ndarray, ends: np.ndarray, velocities: np.ndarray, start: float, end: float
) -> np.ndarray:
    """Each note's overlap with [start, end) x velocity / 127 (0 for notes outside it)."""
    overlap = np.minimum(ends, end) - np.maximum(starts, start)
    return np.maximum(overlap, 0.0) * (np.asarray(velocities, dtype=float) / 127.0)


def pitch_class_profile(
    pitches: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    velocities: np.ndarray,
    start: float,
    end: float,
) -> tuple[np.ndarray, np.ndarray]:
    """(profile, bass profile), each (12,): weighted sounding time per pitch class in the window.

    The bass profile weights each note by exp(-(pitch - lowest) / BASS_SPREAD_SEMITONES) too.
    """
    pitches = np.asarray(pitches)
    weights = _weights(np.asarray(starts), np.asarray(ends), velocities, start, end)
    classes = pitches % 12
    profile = np.bincount(classes, weights=weights, minlength=12)
    sounding = weights > 0
    if not sounding.any():
        return profile, profile
    lowest = pitches[sounding].min()
    nearness = np.exp(-(pitches - lowest) / BASS_SPREAD_SEMITONES)
    bass = np.bincount(classes, weights=weights * nearness, minlength=12)
    return profile, bass


def chord_scores(profile: np.ndarray, bass: np.ndarray) -> np.ndarray:
    """Each vocabulary chord's score (VOCABULARY[1:] order) for the profiles; higher is better."""
    cosine = _TEMPLATES @ (profile / np.linalg.norm(profile))
    return cosine + BASS_WEIGHT * (bass / bass.sum())[_ROOTS] + _PRIORS


# Following a melody (live/harmony.py), which names a chord with one or two notes a beat: a chord
# of the key's scale gets IN_KEY_BONUS, and the chord followed so far stays unless another scores
# STAY_MARGIN more. Measured on the melodies of POP909 songs 031-075 (40 songs) against their
# chord labels, every beat, causally: the share of the estimated chord's tones in the labelled
# chord went 50.0 % -> 57.7 % with both (and two beats before instead of one: live/harmony.py),
# exact chords 12 -> 17 %.
IN_KEY_BONUS = 0.1
STAY_MARGIN = 0.05
_IN_KEY: dict[frozenset[int], np.ndarray] = {}


def _in_key(scale: frozenset[int]) -> np.ndarray:
    """1.0 for each chord (VOCABULARY[1:] order) whose tones all lie in `scale`, else 0."""
    bonus = _IN_KEY.get(scale)
    if bonus is None:
        bonus = np.array([float(c.pitch_classes <= scale) for c in _CHORDS])
        _IN_KEY[scale] = bonus
    return bonus


def estimate_chord(
    pitches: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    velocities: np.ndarray,
    start: float,
    end: float,
    key: Key | None = None,
    previous: Chord | None = None,
) -> Chord:
    """The vocabulary chord that best fits the notes sounding in [start, end); N if none sound.

    `key`: the chords of its scale are favoured (IN_KEY_BONUS); `previous`: kept unless another
    chord scores STAY_MARGIN more (both for a line too thin to name a chord alone).
    """
    profile, bass = pitch_class_profile(pitches, starts, ends, velocities, start, end)
    if profile.sum() <= 0:
        return NONE
    scores = chord_scores(profile, bass)
    if key is not None:
        scores = scores + IN_KEY_BONUS * _in_key(key.pitch_classes)
    best = int(np.argmax(scores))
    if previous is not None and not previous.is_none and previous in _INDEX:
        kept = _INDEX[previous]
        if scores[kept] >= scores[best] - STAY_MARGIN:
            return previous
    return _CHORDS[best]


def estimate_key(
    pitches: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    velocities: np.ndarray,
    start: float,
    end: float,
    profile: str = "krumhansl",
) -> Key | None:
    """The major or minor key whose profile best correlates with [start, end); None if silent.

    profile: "krumhansl" or "temperley" (KEY_PROFILES).
    """
    weights = _weights(np.asarray(starts), np.asarray(ends), velocities, start, end)
    classes = np.bincount(np.asarray(pitches) % 12, weights=weights, minlength=12)
    if classes.sum() <= 0:
        return None
    classes = (classes / classes.sum()) ** KEY_WEIGHT_POWERS[profile]
    centred = classes - classes.mean()
    best = int(np.argmax(_KEY_MATRICES[profile] @ centred))
    return Key(best % 12, "major" if best < 12 else "minor")
