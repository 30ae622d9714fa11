"""The piano roll drawing: sources by glyph, time to columns, pitch rows, the now line."""

from __future__ import annotations

from livegen.live.control import NoteView
from livegen.tui.widgets.piano_roll import (
    GLYPHS,
    GUTTER_WIDTH,
    NOW_FRACTION,
    PitchWindow,
    fit_pitch_window,
    note_name,
    render_roll,
)

WIDTH, HEIGHT, CPB = 44, 5, 4  # 40 grid columns = 10 beats; below 6 lines there is no ruler
NOW_COL = int((WIDTH - GUTTER_WIDTH) * NOW_FRACTION)  # column 30


C4_AT_BOTTOM = PitchWindow(60, 1)


def grid(notes, now=20.0, window=C4_AT_BOTTOM, height=HEIGHT):
    lines, _ = render_roll(notes, now, WIDTH, height, cols_per_beat=CPB, window=window)
    return [line.text[GUTTER_WIDTH:] for line in lines]


def test_each_source_has_its_own_glyph_at_its_time_and_pitch():
    notes = [
        NoteView(60, 18.0, 19.0, "player"),  # 2 beats ago, 1 beat long: columns 22..25
        NoteView(62, 19.0, 19.5, "model"),  # columns 26..27
        NoteView(64, 21.0, 22.0, "planned"),  # one beat ahead: columns 34..37
    ]
    rows = grid(notes)
    assert rows[4][22:26] == GLYPHS["player"] * 4  # pitch 60 is the bottom row
    assert rows[2][26:28] == GLYPHS["model"] * 2
    assert rows[0][34:38] == GLYPHS["planned"] * 4
    assert set(GLYPHS.values()) == {"█", "▓", "░"}


def test_now_line_is_drawn_on_every_row_and_a_sounding_note_reaches_it():
    rows = grid([NoteView(61, 19.0, None, "player")])
    assert all(row[NOW_COL] == "│" for row in rows if row[NOW_COL] != "█")
    assert rows[3][26:NOW_COL] == "█" * (NOW_COL - 26)


def test_the_player_wins_a_shared_cell_and_planned_loses():
    rows = grid([NoteView(60, 21.0, 22.0, "planned"), NoteView(60, 21.0, 21.5, "player")])
    assert rows[4][34:38] == "██░░"


def test_notes_outside_the_time_window_are_not_drawn():
    rows = grid([NoteView(60, 0.0, 5.0, "player"), NoteView(60, 40.0, 41.0, "planned")])
    assert "█" not in "".join(rows) and "░" not in "".join(rows)


def test_bar_lines_and_ruler_with_bar_numbers():
    lines, _ = render_roll([], 20.0, WIDTH, 8, cols_per_beat=CPB)
    ruler = lines[0].text[GUTTER_WIDTH:]
    # Now = beat 20 = bar 6 beat 1, at column 30; bar 5 starts 4 beats = 16 columns earlier.
    assert ruler[NOW_COL] == "▼"
    assert ruler[14] == "5"
    assert lines[1].text[GUTTER_WIDTH + 14] == "┊"


def test_pitch_rows_are_labelled_at_c():
    lines, _ = render_roll([], 20.0, WIDTH, 5, window=PitchWindow(58, 1))
    labels = [line.text[:GUTTER_WIDTH].strip() for line in lines]
    assert labels == ["", "", "C4", "", ""]
    assert note_name(60) == "C4" and note_name(21) == "A0"


def test_pitch_window_keeps_still_while_notes_fit_and_refits_otherwise():
    window = fit_pitch_window([60, 64], 12, None)
    assert window.per_row == 1 and window.low <= 60 <= 64 < window.low + 12
    assert fit_pitch_window([61, 66], 12, window) is window
    moved = fit_pitch_window([80], 12, window)
    assert moved.low <= 80 < moved.low + 12
    wide = fit_pitch_window([36, 84], 6, window)
    assert wide.per_row in (9, 10) and wide.low <= 36 <= 84 < wide.low + 6 * wide.per_row


def test_a_wide_range_squeezes_several_semitones_into_a_row():
    notes = [NoteView(p, 19.0, 19.5, "model") for p in (36, 84)]
    lines, window = render_roll(notes, 20.0, WIDTH, 4, cols_per_beat=CPB)
    drawn = [line.text for line in lines if "▓" in line.text]
    assert len(drawn) == 2 and window.per_row >= 12
