"""The live session accompanying real melodies: what the model plays beside the real parts.

    python bench/accompany_sim.py [--model DIR] [--songs 011 012 ...] [--seconds 40] \
        [--channels 1 2] [--seeds 2] [--density 1] [--json]

The daemon's everyday job is to play beside someone else's line. This plays the melody (channel
1) of POP909 songs into the live session (accompany mode, bench/replan_sim.py's manual clock at
the song's tempo, exactly repeatable) and compares what the model plays on each asked output
channel with what the song's own arrangers wrote beside the same melody: POP909's channel 2
(0-based 1: the secondary melody, "bridge") and channel 3 (0-based 2: the piano accompaniment),
over the same stretch of the song. Per part: notes a bar, mean pitch, the share of notes below
the melody note sounding at their onset, and the share whose pitch class belongs to the song's
chord label there (POP909's chord files; beats without a chord are left out).

The default songs are POP909 test-split songs of the default model's data (`livegen data
prepare` split; the model never trained on them). Reads ../shared/corpus/pop909 (--corpus).
"""

from __future__ import annotations

import argparse
import bisect
import json
import statistics
from dataclasses import dataclass
from pathlib import Path

import mido
from replan_sim import simulate

from livegen.data.band_chart import ChordSpan, read_chord_labels
from livegen.live.clock import TICKS_PER_BEAT

TEST_SONGS = ("011", "012", "026", "027", "029", "032", "041", "094")
MELODY, BRIDGE, PIANO = 0, 1, 2  # POP909's channels, 0-based
LEAD_BEATS = 4  # the clock runs a bar before the melody comes in


@dataclass(frozen=True)
class Note:
    start_s: float
    end_s: float
    pitch: int
    velocity: int
    channel: int


def read_notes(path: Path) -> tuple[list[Note], float]:
    """Every note of the file in seconds, and its tempo (POP909 songs have one)."""
    midi = mido.MidiFile(path)
    tempo = 500_000
    notes: list[Note] = []
    sounding: dict[tuple[int, int], tuple[float, int]] = {}
    now = 0.0
    for message in midi:  # merged tracks, times in seconds
        now += message.time
        if message.type == "set_tempo" and not notes and not sounding:
            tempo = message.tempo
        if message.type not in ("note_on", "note_off"):
            continue
        key = (message.channel, message.note)
        if message.type == "note_on" and message.velocity > 0:
            sounding[key] = (now, message.velocity)
        elif key in sounding:
            start, velocity = sounding.pop(key)
            notes.append(Note(start, now, message.note, velocity, message.channel))
    notes.sort(key=lambda n: (n.start_s, n.pitch))
    return notes, mido.tempo2bpm(tempo)


def chord_at(spans: list[ChordSpan], starts: list[float], t: float) -> frozenset[int]:
    i = bisect.bisect_right(starts, t) - 1
    if i < 0 or t >= spans[i].end_s:
        return frozenset()
    return spans[i].chord.pitch_classes


def part_stats(
    onsets: list[tuple[float, int]], melody: list[Note], spans: list[ChordSpan], bars: float
) -> dict[str, float | None]:
    """onsets (song seconds, pitch) of one part beside the melody and the chord labels."""
    starts = [s.start_s for s in spans]
    below = labelled = chord_tones = 0
    melody_starts = [n.start_s for n in melody]
    for t, pitch in onsets:
        i = bisect.bisect_right(melody_starts, t + 1e-6) - 1
        if i >= 0 and melody[i].pitch > pitch:
            below += 1
        tones = chord_at(spans, starts, t)
        if tones:
            labelled += 1
            chord_tones += pitch % 12 in tones
    n = len(onsets)
    return {
        "notes_per_bar": n / bars,
        "pitch_mean": statistics.fmean(p for _, p in onsets) if n else None,
        "below_melody": below / n if n else None,
        "chord_tones": chord_tones / labelled if labelled else None,
    }


def run_song(
    model: Path, path: Path, chords: Path, seconds: float, channels: list[int], seeds: int,
    density: float, chords_knob: str = "",
) -> dict[str, dict[str, float | None]]:  # fmt: skip
    notes, bpm = read_notes(path)
    spans = read_chord_labels(chords)
    melody = [n for n in notes if n.channel == MELODY]
    beat_s = 60.0 / bpm
    t0 = (melody[0].start_s // beat_s) * beat_s  # the beat the melody comes in on
    lead_s = LEAD_BEATS * beat_s
    end = t0 + seconds
    window = [n for n in melody if n.start_s < end]
    events: list[tuple[int, int, int]] = []
    for n in window:
        events.append((round((n.start_s - t0 + lead_s) * 1e9), n.pitch, n.velocity))
        events.append((round((min(n.end_s, end) - t0 + lead_s) * 1e9), n.pitch, 0))
    events.sort(key=lambda e: (e[0], e[2]))  # at one instant the releases go first
    bars = seconds / beat_s / 4
    result: dict[str, dict[str, float | None]] = {}
    for channel, name in ((BRIDGE, "song ch2 (bridge)"), (PIANO, "song ch3 (piano)")):
        onsets = [
            (n.start_s, n.pitch) for n in notes if n.channel == channel and t0 <= n.start_s < end
        ]
        result[name] = part_stats(onsets, melody, spans, bars)
    for channel in channels:
        rows = []
        for seed in range(seeds):
            run = simulate(
                model, seed, seconds + lead_s, 50.0, 1.3, density,
                events=events, bpm=bpm, output_channel=channel, chords=chords_knob,
            )  # fmt: skip
            onsets = [
                (tick / TICKS_PER_BEAT * beat_s - lead_s + t0, pitch)
                for tick, pitch in run.note_ons
                if tick / TICKS_PER_BEAT * beat_s >= lead_s
            ]
            row = part_stats(onsets, melody, spans, bars)
            row["tokens_fed"] = run.tokens_fed
            rows.append(row)
        result[f"model ch{channel + 1}"] = {key: _mean([r[key] for r in rows]) for key in rows[0]}
    return result


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.fmean(present) if present else None


def _cell(row: dict[str, float | None], key: str, fmt: str) -> str:
    value = row.get(key)
    return format(value, fmt) if value is not None else format("-", fmt.split(".")[0] + "s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--corpus", type=Path, default=Path("../shared/corpus/pop909"))
    parser.add_argument("--songs", nargs="+", default=list(TEST_SONGS))
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--channels", type=int, nargs="+", default=[1, 2], help="0-based")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--density", type=float, default=1.0)
    parser.add_argument("--chords", default="", help='the chords knob, e.g. "follow"')
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from livegen.inference.model_dir import resolve_model_dir

    model = resolve_model_dir(args.model)
    songs = {}
    for song in args.songs:
        songs[song] = run_song(
            model, args.corpus / "midi" / f"{song}.mid", args.corpus / "chords" / f"{song}.txt",
            args.seconds, args.channels, args.seeds, args.density, args.chords,
        )  # fmt: skip
        if not args.json:
            print(f"song {song}: done", flush=True)
    parts = list(next(iter(songs.values())))
    summary = {
        part: {
            key: _mean([songs[s][part][key] for s in songs]) for key in songs[args.songs[0]][part]
        }
        for part in parts
    }
    if args.json:
        print(json.dumps({"songs": songs, "mean": summary}, indent=1))
        return
    print(f"{len(songs)} POP909 test songs, {args.seconds:g} s each from the melody's entry,"
          f" density {args.density:g}, {args.seeds} seeds; mean over songs")  # fmt: skip
    print(f"{'part':20s} {'notes/bar':>9s} {'pitch':>6s} {'below mel':>9s} {'chord tones':>11s}")
    for part, row in summary.items():
        cells = [_cell(row, key, fmt) for key, fmt in
                 (("notes_per_bar", "9.1f"), ("pitch_mean", "6.1f"), ("below_melody", "9.2f"),
                  ("chord_tones", "11.2f"))]  # fmt: skip
        print(f"{part:20s} " + " ".join(cells))


if __name__ == "__main__":
    main()
