"""Measuring the chord and key estimators (music/estimate.py) against POP909's labels.

For each song, the MIDI is read with the tokenizer's reader (pedal applied, as training sees it)
and every labelled chord segment's time span becomes a window in beats: the estimator sees the
notes sounding in it, all parts (melody, bridge, piano), as a live follow mode would see what is
played over a chord. Scores are weighted by segment duration (MIREX's chord symbol recall):

- root: the estimated root is the label's (N counts as a root: right only when both are N);
- exact: root and quality, the label mapped onto the vocabulary by chords.parse_harte, its
  inversion (bass) ignored;
- majmin: both reduced to maj/min/N (chords.majmin); labels without a majmin class (dim, aug,
  sus, m7b5, dim7) are left out, as MIREX does.

Keys: every key segment (keys/NNN.txt; a song may modulate) is estimated over its whole span;
exact = tonic and mode, and MIREX's key score (fifth 0.5, relative 0.3, parallel 0.2).
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import mido
import numpy as np

from livegen.errors import ConfigError
from livegen.music.chords import Chord, majmin, parse_harte
from livegen.music.estimate import estimate_chord, estimate_key
from livegen.music.keys import Key, parse_key
from livegen.tokenizer.midi_file import Score, read_midi


@dataclass
class Tally:
    """Duration-weighted hits over a total."""

    hit: float = 0.0
    total: float = 0.0

    def add(self, weight: float, ok: bool) -> None:
        self.total += weight
        self.hit += weight if ok else 0.0

    @property
    def share(self) -> float:
        return self.hit / self.total if self.total else 0.0


@dataclass
class StructureReport:
    songs: int = 0
    segments: int = 0
    key_segments: int = 0
    root: Tally = field(default_factory=Tally)
    exact: Tally = field(default_factory=Tally)
    majmin: Tally = field(default_factory=Tally)
    key: Tally = field(default_factory=Tally)
    key_mirex: Tally = field(default_factory=Tally)
    chord_ns: list[int] = field(default_factory=list)
    key_ns: list[int] = field(default_factory=list)
    by_quality: dict[str, Tally] = field(default_factory=dict)  # exact, per label quality
    confusions: Counter = field(default_factory=Counter)  # (label quality, estimated) -> seconds
    key_confusions: Counter = field(default_factory=Counter)  # relation -> segments

    def summary(self) -> str:
        chord_us = np.percentile(self.chord_ns, [50, 99]) / 1e3 if self.chord_ns else (0, 0)
        key_us = np.percentile(self.key_ns, [50, 99]) / 1e3 if self.key_ns else (0, 0)
        lines = [
            f"{self.songs} songs, {self.segments} chord segments, {self.key_segments} key segments",
            f"chord root    {self.root.share:6.1%}  (duration-weighted)",
            f"chord exact   {self.exact.share:6.1%}  (root + quality of 15, bass ignored)",
            f"chord majmin  {self.majmin.share:6.1%}  (maj/min/N; {self.majmin.total / max(self.root.total, 1e-9):.0%} of the time has a majmin label)",  # noqa: E501
            f"key exact     {self.key.share:6.1%}  (tonic + mode, per key segment)",
            f"key mirex     {self.key_mirex.share:6.1%}  (fifth 0.5, relative 0.3, parallel 0.2)",
            f"µs per call   chord p50 {chord_us[0]:.0f} p99 {chord_us[1]:.0f}; "
            f"key p50 {key_us[0]:.0f} p99 {key_us[1]:.0f}",
            "exact by label quality (share of time): "
            + ", ".join(
                f"{q} {t.share:.0%} ({t.total / self.exact.total:.1%})"
                for q, t in sorted(self.by_quality.items(), key=lambda item: -item[1].total)
            ),
            "most time lost (label -> estimate, +root interval if wrong; seconds): "
            + ", ".join(f"{a}->{b} {s:.0f}" for (a, b), s in self.confusions.most_common(8)),
            "key errors (segments): "
            + (", ".join(f"{k} {n}" for k, n in self.key_confusions.most_common()) or "none"),
        ]
        return "\n".join(lines)


def _label(chord: Chord, truth: Chord | None = None) -> str:
    """The chord's quality; against `truth`, with its root's interval above truth's when it
    differs ("min+9": a minor chord a major sixth up, e.g. Am for C)."""
    if chord.root is None:
        return "N"
    if truth is None or truth.root is None or truth.root == chord.root:
        return chord.quality
    return f"{chord.quality}+{(chord.root - truth.root) % 12}"


def _key_relation(label: Key, estimate: Key | None) -> tuple[str, float]:
    """MIREX's name and score for an estimated key against the label."""
    if estimate is None:
        return "none", 0.0
    if estimate == label:
        return "exact", 1.0
    step = (estimate.root - label.root) % 12
    if estimate.quality == label.quality and step in (5, 7):
        return "fifth", 0.5
    if label.quality == "major" and estimate.quality == "minor" and step == 9:
        return "relative", 0.3
    if label.quality == "minor" and estimate.quality == "major" and step == 3:
        return "relative", 0.3
    if estimate.root == label.root:
        return "parallel", 0.2
    return "other", 0.0


def _segments(path: Path) -> list[tuple[float, float, str]]:
    rows = []
    for line in path.read_text().splitlines():
        parts = line.split("\t")
        if len(parts) == 3:
            rows.append((float(parts[0]), float(parts[1]), parts[2].strip()))
    return rows


def _harte_key(label: str) -> Key:
    tonic, _, mode = label.partition(":")
    key = parse_key(f"{tonic} {'major' if mode == 'maj' else 'minor'}")
    if key is None or mode not in ("maj", "min"):
        raise ConfigError(f"key label {label!r} not understood (e.g. 'C:maj', 'A:min')")
    return key


SUSTAIN_PEDAL = 64


def read_keys_only(path: Path) -> Score:
    """read_midi without the sustain pedal: notes last as long as their keys are held.

    POP909's pedal is unusable in some songs (41 of 829 press it and never or rarely lift it), so
    with the pedal applied their notes sound for bars on end over every later chord.
    """
    midi = mido.MidiFile(path)
    for track in midi.tracks:
        kept, carried = [], 0
        for msg in track:
            if msg.type == "control_change" and msg.control == SUSTAIN_PEDAL:
                carried += msg.time
                continue
            kept.append(msg.copy(time=msg.time + carried))
            carried = 0
        track[:] = kept
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / path.name
        midi.save(copy)
        return read_midi(copy)


def measure_song(
    corpus: Path,
    song: str,
    report: StructureReport,
    pedal: bool = False,
    key_profile: str = "krumhansl",
) -> None:
    """Add one song (its id, e.g. "001") to the report; pedal: apply the sustain pedal."""
    path = corpus / "midi" / f"{song}.mid"
    score = read_midi(path) if pedal else read_keys_only(path)
    notes = score.notes
    pitches = np.array([n.pitch for n in notes], dtype=np.int64)
    starts = np.array([n.start_beat for n in notes])
    ends = np.array([n.end_beat for n in notes])
    velocities = np.array([n.velocity for n in notes], dtype=float)
    report.songs += 1

    for start_s, end_s, label in _segments(corpus / "chords" / f"{song}.txt"):
        start, end = score.beat_at(start_s), score.beat_at(end_s)
        inside = (starts < end) & (ends > start)
        began = time.perf_counter_ns()
        guess = estimate_chord(
            pitches[inside], starts[inside], ends[inside], velocities[inside], start, end
        )
        report.chord_ns.append(time.perf_counter_ns() - began)
        truth = parse_harte(label).without_bass()
        seconds = end_s - start_s
        report.segments += 1
        report.root.add(seconds, guess.root == truth.root)
        report.exact.add(seconds, guess == truth)
        report.by_quality.setdefault(_label(truth), Tally()).add(seconds, guess == truth)
        if (reduced := majmin(truth)) is not None:
            report.majmin.add(seconds, majmin(guess) == reduced)
        if guess != truth:
            report.confusions[(_label(truth), _label(guess, truth))] += seconds

    for start_s, end_s, label in _segments(corpus / "keys" / f"{song}.txt"):
        start, end = score.beat_at(start_s), score.beat_at(end_s)
        began = time.perf_counter_ns()
        guess_key = estimate_key(pitches, starts, ends, velocities, start, end, key_profile)
        report.key_ns.append(time.perf_counter_ns() - began)
        relation, credit = _key_relation(_harte_key(label), guess_key)
        report.key_segments += 1
        report.key.add(1.0, relation == "exact")
        report.key_mirex.add(1.0, True)
        report.key_mirex.hit += credit - 1.0
        if relation != "exact":
            report.key_confusions[relation] += 1


def pop909_songs(corpus: Path) -> list[str]:
    """Song ids with MIDI, chord and key labels, in order."""
    if not (corpus / "midi").is_dir():
        raise ConfigError(f"no POP909 corpus at {corpus} (expected midi/, chords/, keys/ in it)")
    return sorted(
        p.stem
        for p in (corpus / "midi").glob("*.mid")
        if (corpus / "chords" / f"{p.stem}.txt").is_file()
        and (corpus / "keys" / f"{p.stem}.txt").is_file()
    )


def measure(
    corpus: Path,
    songs: Iterable[str],
    pedal: bool = False,
    key_profile: str = "krumhansl",
    progress: Callable[[str], None] | None = None,
) -> StructureReport:
    report = StructureReport()
    for song in songs:
        measure_song(corpus, song, report, pedal, key_profile)
        if progress is not None:
            progress(song)
    return report
