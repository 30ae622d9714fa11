"""A realistic live scene published into a real `Control`, as the daemon would publish it.

Used by the TUI tests, the README screenshots and bench/tui_overhead.py: a player's phrase in
C minor, the model's accompaniment already played, notes sounding now and the planned notes
ahead of playback.
"""

from __future__ import annotations

from livegen.live.control import Control, NoteView

BEATS_PER_BAR = 4
NOW_BEAT = 45.5  # bar 12, beat 2 (and a half)

# (pitch, start, length) in beats: a phrase rising through C minor and falling back.
PLAYER_PHRASE = [
    (60, 28.0, 0.5), (63, 28.5, 0.5), (67, 29.0, 1.0), (70, 30.0, 0.5), (68, 30.5, 0.5),
    (67, 31.0, 1.5), (65, 33.0, 0.5), (63, 33.5, 0.5), (62, 34.0, 1.0), (60, 35.0, 2.0),
    (72, 40.0, 0.5), (70, 40.5, 0.5), (67, 41.0, 1.0), (75, 42.0, 0.75), (74, 42.75, 0.25),
    (72, 43.0, 1.5), (67, 44.5, 0.5),
]  # fmt: skip
CHORDS = [(36, (48, 55, 63)), (41, (48, 56, 60)), (43, (50, 55, 59)), (36, (48, 55, 63))]


def model_part(first_bar: int, bars: int) -> list[tuple[int, float, float]]:
    """Bass on beats 1 and 3 and a held chord per bar, cycling through CHORDS."""
    notes = []
    for bar in range(first_bar, first_bar + bars):
        start = bar * BEATS_PER_BAR
        bass, chord = CHORDS[bar % len(CHORDS)]
        notes += [(bass, start, 1.5), (bass + 12, start + 2, 1.0), (bass + 7, start + 3, 0.5)]
        notes += [(pitch, start + 0.5, 3.0) for pitch in chord]
    return notes


def publish_scene(control: Control, now_beat: float = NOW_BEAT) -> None:
    """Fill `control` the way the daemon does: roll, sounding, planned and a status snapshot."""
    played = [NoteView(p, s, s + d, "player") for p, s, d in PLAYER_PHRASE if s + d <= now_beat]
    played += [
        NoteView(p, s, s + d, "model", channel=1)
        for p, s, d in model_part(6, 6)
        if s + d <= now_beat
    ]
    for note in sorted(played, key=lambda n: n.start_beat):
        control.roll.append(note)
    control.sounding = (
        NoteView(67, 44.5, None, "player"),
        *(
            NoteView(p, s, None, "model", channel=1)
            for p, s, d in model_part(11, 1)
            if s <= now_beat < s + d
        ),
    )
    control.planned = tuple(
        NoteView(p, s, s + d, "planned", channel=1) for p, s, d in model_part(11, 2) if s > now_beat
    )
    whole = int(now_beat)
    control.publish(
        clock_source="external (MIDI clock)",
        running=True,
        bpm=112.0,
        bar=whole // BEATS_PER_BAR + 1,
        beat=whole % BEATS_PER_BAR + 1,
        position_beats=now_beat,
        ms_per_token=3.8,
        tokens_per_s=212.0,
        context_fill=0.37,
        late_notes=2,
        dropped_notes=0,
        latency_ms=1.5,
        in_port="Keystation 49",
        out_port="livegen out",
        port_ok=True,
        recording=True,
    )
