"""The chords the live stream is told: a looping progression, or the player's own harmony.

The `chords` knob: "" (off), a progression ("C G Am F", one chord per bar, looping from the
stream's first bar), or "follow": every beat the chord of the player's held notes and the notes
of the last beat (held ones count double: they are what sounds now) is estimated
(music/estimate.py), so the model plays over the player's harmony, not just its key.

Where the tokens go is where training put them (data/structure_marks.py): a CHORD token right
after the BAR (progression: bar lines) or the time shift (follow: beats) of the step it applies
from, written only when the chord changes. The session calls `insert` on every run of tokens it
feeds (player notes, time) and `due` after each token the model writes; while chords are on,
the bar lines are the stream's own: the model may not cross the next chord boundary with one time
shift nor write a BAR itself (`restrict`), and a time shift of the model that lands on a bar line
gets its BAR written for it. Rollback forgets what was written after the step rolled back to.

A model without CHORD tokens (its tokenizer has no `structure_tokens`) was never trained with
them: the knob is then ignored, with one log line.
"""

from __future__ import annotations

import logging

import numpy as np

from livegen.errors import ConfigError
from livegen.inference.chord_bias import ChordToneBias
from livegen.music.chords import VOCABULARY as CHORDS
from livegen.music.chords import Chord, parse_progression
from livegen.music.estimate import estimate_chord, estimate_key
from livegen.tokenizer.vocab import TokenKind, Vocab

log = logging.getLogger(__name__)

FOLLOW = "follow"
HELD_WEIGHT = 2.0  # a held note counts this much more than a recent one
FOLLOW_WINDOW_BEATS = 2  # the chord: notes held now and those of the beats before
KEY_MEMORY_BARS = 8  # the key the chord leans to: the player's notes of the bars before
PLAYER_MEMORY_BARS = KEY_MEMORY_BARS  # player notes older than this are forgotten
WRITTEN_KEPT = 256  # chords remembered for rollback and the report


def parse_chords_knob(text: str) -> tuple[Chord, ...] | str:
    """ "" -> (), "follow" -> FOLLOW, else the progression; ConfigError (one line) if bad."""
    text = text.strip()
    if not text:
        return ()
    if text.lower() == FOLLOW:
        return FOLLOW
    try:
        return parse_progression(text)
    except ConfigError as err:
        raise ConfigError(f"chords: {err} (or 'follow', or '' for off)") from err


class LiveHarmony:
    """The CHORD tokens of one live stream (generator thread only)."""

    def __init__(self, vocab: Vocab, steps_per_beat: int, bar_steps: int) -> None:
        self.vocab = vocab
        self.spb = steps_per_beat
        self.bar_steps = bar_steps
        self.supported = bool(vocab.ids_of_kind(TokenKind.CHORD))
        self._shift_base = vocab.offsets[TokenKind.TIME_SHIFT] - 1
        self._max_shift = vocab.config.max_shift_steps
        self._shift_kind = int(TokenKind.TIME_SHIFT)
        self._bar = vocab.bar
        self.setting: tuple[Chord, ...] | str = ()
        self._text = ""
        self._chord_tones = ChordToneBias(vocab, bar_steps)
        self.reset()

    def reset(self) -> None:
        """A fresh stream: nothing written, no player notes."""
        self.written: list[tuple[int, int]] = []  # (step, CHORD token) fed to the model
        self._notes: list[list[int]] = []  # [pitch, velocity, start step, end step or -1]
        self._open: dict[tuple[int, int], list[int]] = {}
        self._heard: Chord | None = None  # follow: the player's chord when last heard, and where
        self._heard_step = -1

    # ---- the knob ----------------------------------------------------------------------------
    def set_knob(self, text: str) -> None:
        if text == self._text:
            return
        self._text = text
        try:
            self.setting = parse_chords_knob(text)
        except ConfigError as err:
            log.warning("%s; chords off", err)
            self.setting = ()
        if self.setting and not self.supported:
            log.warning("chords %r ignored: this model was not trained with chord tokens", text)

    @property
    def active(self) -> bool:
        return self.supported and bool(self.setting)

    @property
    def period_steps(self) -> int:
        """Steps between chord decisions: a beat when following, else a bar."""
        return self.spb if self.setting == FOLLOW else self.bar_steps

    # ---- the player (follow) -----------------------------------------------------------------
    def note_player(self, channel: int, pitch: int, velocity: int, step: int) -> None:
        if velocity > 0:
            note = [pitch, velocity, step, -1]
            self._notes.append(note)
            self._open[(channel, pitch)] = note
        else:
            note = self._open.pop((channel, pitch), None)
            if note is not None:
                note[3] = max(step, note[2] + 1)
        horizon = step - PLAYER_MEMORY_BARS * self.bar_steps
        if self._notes and self._notes[0][3] != -1 and self._notes[0][3] < horizon:
            self._notes = [n for n in self._notes if n[3] == -1 or n[3] >= horizon]

    def followed_chord(self, step: int) -> Chord:
        """The player's chord at `step`. Three or more pitch classes held there: the chord they
        make (a chord struck is the chord). A thinner line: the notes held and those of the
        FOLLOW_WINDOW_BEATS before, in the key of the player's last KEY_MEMORY_BARS, staying on
        the chord followed so far unless another fits clearly better (music/estimate.py)."""
        window = FOLLOW_WINDOW_BEATS * self.spb
        held, recent = [], []
        lines = []  # every note so far, for the key
        for pitch, velocity, start, end in self._notes:
            if start > step:
                continue
            lines.append((pitch, start, step if end == -1 or end > step else end, velocity))
            if end == -1 or end > step:  # held at `step`
                held.append((pitch, step, step + self.spb, velocity * HELD_WEIGHT))
            elif end > step - window:  # sounded in the window
                recent.append((pitch, max(start, step - window), end, float(velocity)))
        if len({row[0] % 12 for row in held}) >= 3:
            pitches, starts, ends, weights = (np.array(c) for c in zip(*held, strict=True))
            return estimate_chord(pitches, starts, ends, weights, step, step + self.spb)
        rows = held + recent
        if not rows:
            return Chord(None, "")
        pitches, starts, ends, weights = (np.array(column) for column in zip(*rows, strict=True))
        key_since = step - KEY_MEMORY_BARS * self.bar_steps
        key = estimate_key(
            *(np.array(column) for column in zip(*lines, strict=True)), key_since, step
        )
        previous = CHORDS[self.vocab.arg_list[self.written[-1][1]]] if self.written else None
        return estimate_chord(
            pitches, starts, ends, weights, step - window, step + self.spb, key, previous
        )

    # ---- tokens ------------------------------------------------------------------------------
    def chord_at(self, step: int) -> Chord:
        if self.setting == FOLLOW:
            return self.followed_chord(step)
        assert isinstance(self.setting, tuple)
        return self.setting[(step // self.bar_steps) % len(self.setting)]

    def _chord_token(self, step: int) -> list[int]:
        """[CHORD] when `step` is a chord boundary and the chord there differs from the last."""
        if step % self.period_steps:
            return []
        if self.written and self.written[-1][0] == step:
            return []  # this boundary has its chord
        token = self.vocab.chord(self.chord_at(step))
        if self.written and self.written[-1][1] == token:
            return []
        self.written.append((step, token))
        if len(self.written) > 2 * WRITTEN_KEPT:
            del self.written[:WRITTEN_KEPT]
        return [token]

    def due(self, step: int, last_token: int) -> list[int]:
        """Tokens to feed after the model wrote `last_token`, the stream now at `step`."""
        if not self.active:
            return []
        if last_token == self._bar:
            return self._chord_token(step)
        if self.vocab.kind_list[last_token] == self._shift_kind:
            if step % self.bar_steps == 0:
                return [self._bar, *self._chord_token(step)]
            return self._chord_token(step)
        return []

    def insert(self, tokens: list[int], start_step: int) -> list[int]:
        """`tokens` (the encoder's: it writes its own BARs) with the CHORD tokens due among them."""
        if not self.active or not tokens:
            return tokens
        out: list[int] = []
        step = start_step
        kinds, args = self.vocab.kind_list, self.vocab.arg_list
        for index, token in enumerate(tokens):
            out.append(token)
            if kinds[token] == self._shift_kind:
                step += args[token]
                before_bar = index + 1 < len(tokens) and tokens[index + 1] == self._bar
                if not before_bar and step % self.bar_steps:
                    out.extend(self._chord_token(step))
            elif token == self._bar:
                out.extend(self._chord_token(step))
        if self.setting == FOLLOW:
            # the lean follows the player's chord at once; its token waits for the next beat
            # (a chord struck on the bar line reaches the daemon just after it wrote the old one
            # there: measured through JACK, tests/live/test_follow_jack.py with the shipped
            # default, the G bar after F had 9-12 of 16-21 note-ons on G's tones without this)
            self._heard, self._heard_step = self.followed_chord(step), step
        return out

    def fed(self) -> list[tuple[float, str]]:
        """(beat, chord name) of the chords in the stream now, oldest first (for reports)."""
        return [(step / self.spb, self.vocab.name(token)[6:]) for step, token in self.written]

    def rollback(self, step: int) -> None:
        """The stream went back to `step`: chords written after it are gone."""
        while self.written and self.written[-1][0] > step:
            self.written.pop()

    def lean(self, logits: np.ndarray, step: int, channel: int) -> np.ndarray:
        """`logits` leaning toward the tones of the chord the stream is under at `step` (the
        last CHORD written; following, the chord heard since), for a note the model starts
        there on `channel` (inference/chord_bias.py); unchanged while chords are off."""
        if not self.active or not self.written:
            return logits
        chord = CHORDS[self.vocab.arg_list[self.written[-1][1]]]
        heard_later = self._heard is not None and self.written[-1][0] < self._heard_step
        if self.setting == FOLLOW and heard_later:
            chord = self._heard
        return self._chord_tones.lean(logits, chord, step % self.bar_steps, channel)

    def restrict(self, mask: np.ndarray, step: int) -> np.ndarray:
        """No BAR from the model, and no time shift past the next chord boundary."""
        if not self.active:
            return mask
        room = (step // self.period_steps + 1) * self.period_steps - step
        mask = mask.copy()
        mask[self._bar] = False
        if room < self._max_shift:
            mask[self._shift_base + room + 1 : self._shift_base + self._max_shift + 1] = False
        return mask
