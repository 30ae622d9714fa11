"""A lean toward the chord's tones: a logit bias on the note-ons whose pitch class is in the chord
the stream is under, strongest on the bar's strong beats.

Why a bias besides the CHORD token: trained with the tokens, the shipped model put 53% of its
strong-beat notes on chord tones over "C G Am F" (bench/chord_fit.py, docs/structure.md; 10%
without the tokens), short of what a bandmate does (issue 14 asks >= 60% in every bar). The bias
leaves every note possible (passing tones, a melody's own line) and only reweighs the model's
choice; weight 0 is the token alone. Used by `livegen generate --chords` (conditioning.py) and by
the live `chords` knob, progression or follow (live/harmony.py).
"""

from __future__ import annotations

import numpy as np

from livegen.music.chord_fit import STRONG_BEAT_TOLERANCE
from livegen.music.chords import Chord
from livegen.tokenizer.vocab import DRUM_CHANNEL, TokenKind, Vocab

# Chord tones' note-on logits get this many nats more on the strong beats (x the weight), and
# the smaller one elsewhere, before the note-ons are renormalised (`lean`). Chosen on
# bench/chord_fit.py with the shipped model (8 x 8 bars over "C G Am F" with the key, AVX2 EPYC;
# docs/structure.md): two thirds of these put 98% of strong-beat notes on chord tones but left 3%
# of bars under 80% chord-or-key; these meet both goals in every bar, with 89% of the note time
# on chord tones, as POP909's piano parts have it (96%; its melodies 66%), at 26 notes a bar.
CHORD_TONE_BIAS = 6.0
OFFBEAT_CHORD_TONE_BIAS = 1.5


class ChordToneBias:
    """Bias vectors for one vocabulary and meter, made once per (chord, strong beat or not)."""

    def __init__(self, vocab: Vocab, steps_per_bar: int) -> None:
        self.vocab = vocab
        note_on = vocab.kinds == TokenKind.NOTE_ON
        self._note_on_ids = np.flatnonzero(note_on)
        self._note_on_classes = vocab.args[note_on].astype(np.int64) % 12
        # beats 1 and 3 of a 4/4 bar (the bar line alone in a shorter one), as music/chord_fit
        # measures them: an onset within STRONG_BEAT_TOLERANCE beats of one is on it
        spb = vocab.config.steps_per_beat
        self._strong_every = steps_per_bar // 2 if steps_per_bar >= 4 * spb else steps_per_bar
        self._strong_within = round(spb * STRONG_BEAT_TOLERANCE)
        self._vectors: dict[tuple[Chord, bool], np.ndarray] = {}

    def is_strong(self, step_in_bar: int) -> bool:
        phase = step_in_bar % self._strong_every
        return min(phase, self._strong_every - phase) <= self._strong_within

    def bias(
        self, chord: Chord | None, step_in_bar: int, channel: int, weight: float = 1.0
    ) -> np.ndarray | None:
        """The nats a chord tone's note-on gains for a note starting `step_in_bar` steps after
        the bar line on `channel` (zero elsewhere); None when there is nothing to lean on (no
        chord, "N", the drums, weight 0)."""
        if weight == 0 or chord is None or chord.is_none or channel == DRUM_CHANNEL:
            return None
        strong = self.is_strong(step_in_bar)
        vector = self._vectors.get((chord, strong))
        if vector is None:
            vector = np.zeros(self.vocab.size, dtype=np.float32)
            tones = np.isin(self._note_on_classes, sorted(chord.pitch_classes))
            nats = CHORD_TONE_BIAS if strong else OFFBEAT_CHORD_TONE_BIAS
            vector[self._note_on_ids[tones]] = nats
            self._vectors[(chord, strong)] = vector
        return vector if weight == 1 else vector * np.float32(weight)

    def lean(
        self,
        logits: np.ndarray,
        chord: Chord | None,
        step_in_bar: int,
        channel: int,
        weight: float = 1.0,
    ) -> np.ndarray:
        """`logits` with the note-ons reweighed toward the chord's tones (a new array; `logits`
        itself when there is nothing to lean on). The note-ons' total probability is kept:
        the lean chooses WHICH note, never WHETHER to play one. Measured without that
        (bench/chord_fit.py): at a third of today's bias the shipped model played 55-64 notes a bar
        instead of 18-36, and a model fond of one chord tone re-struck it at one time step until
        the 20,000-token stop."""
        bias = self.bias(chord, step_in_bar, channel, weight)
        if bias is None:
            return logits
        ids = self._note_on_ids
        before = logits[ids].astype(np.float64)
        after = before + bias[ids]
        shift = _logsumexp(after) - _logsumexp(before)
        out = logits.copy()
        out[ids] = (after - shift).astype(logits.dtype)
        return out


def _logsumexp(x: np.ndarray) -> float:
    top = float(np.max(x))
    return top + float(np.log(np.exp(x - top).sum()))
