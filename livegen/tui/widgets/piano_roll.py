"""The piano roll: player, played-model and planned notes around a `now` line, drawn as text.

Sources differ by glyph as well as colour (player █, model ▓, planned ░) so the roll reads the
same on a monochrome terminal. Time runs left to right, one column per `1/cols_per_beat` beat;
the now line sits three quarters across so the planned notes ahead of it stay visible.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

from livegen.live.control import NoteView

GLYPHS = {"player": "█", "model": "▓", "planned": "░"}
STYLES = {"player": "bold cyan", "model": "bold green", "planned": "yellow"}
DRAW_ORDER = ("planned", "model", "player")  # later sources overwrite earlier ones in a cell
GUTTER_WIDTH = 4
NOW_FRACTION = 0.75
RULER_MIN_HEIGHT = 6  # below this every line is a pitch row
LEGEND = "[bold cyan]█[/] player  [bold green]▓[/] model  [yellow]░[/] planned  [bold]│[/] now"


@dataclass(frozen=True)
class PitchWindow:
    """The pitches on screen: rows from `low` upward, `per_row` semitones per row."""

    low: int
    per_row: int


def note_name(pitch: int) -> str:
    """MIDI pitch as a name with octave, 60 = C4."""
    return f"{('C', 'C#', 'D', 'D#', 'E', 'F', 'F#', 'G', 'G#', 'A', 'A#', 'B')[pitch % 12]}" + str(
        pitch // 12 - 1
    )


def fit_pitch_window(pitches: Sequence[int], rows: int, current: PitchWindow | None) -> PitchWindow:
    """Keep the current window while every note fits, else centre a new one on the notes."""
    rows = max(1, rows)
    if not pitches:
        return current or PitchWindow(max(0, 60 - rows // 2), 1)
    low, high = min(pitches), max(pitches)
    per_row = max(1, math.ceil((high - low + 1) / rows))
    if (
        current is not None
        and current.per_row == per_row
        and current.low <= low
        and high < current.low + rows * per_row
    ):
        return current  # no jumping around while the notes stay in view
    while True:
        span = rows * per_row
        start = low - (span - (high - low + 1)) // 2  # centre the notes
        start = max(0, min(start, 128 - span)) if span <= 128 else 0
        # Align multi-semitone rows to their size so row labels stay put between refits.
        start -= start % per_row
        if high < start + span:
            return PitchWindow(start, per_row)
        per_row += 1


def render_roll(
    notes: Sequence[NoteView],
    now_beat: float,
    width: int,
    height: int,
    *,
    cols_per_beat: int = 4,
    beats_per_bar: int = 4,
    window: PitchWindow | None = None,
    base: Style | None = None,
) -> tuple[list[Strip], PitchWindow]:
    """Draw the roll into `height` strips of `width` cells; returns them and the pitch window.

    Strips of segments, not Rich Text: converting a roll-sized Text costs tens of milliseconds
    per frame in Textual, time the UI thread would hold the GIL the MIDI threads need.
    """
    grid_width = max(1, width - GUTTER_WIDTH)
    ruler = height >= RULER_MIN_HEIGHT
    rows = max(1, height - (1 if ruler else 0))
    now_col = int(grid_width * NOW_FRACTION)
    first_beat = now_beat - now_col / cols_per_beat
    last_beat = first_beat + grid_width / cols_per_beat

    def end_of(note: NoteView) -> float:
        return now_beat if note.end_beat is None else note.end_beat

    visible = [n for n in notes if n.start_beat < last_beat and end_of(n) > first_beat]
    window = fit_pitch_window([n.pitch for n in visible], rows, window)

    background = [" "] * grid_width
    background_styles = [""] * grid_width
    bar_cols: dict[int, int] = {}
    for col in range(grid_width):
        start = first_beat + col / cols_per_beat
        bar_beat = math.ceil(start / beats_per_bar - 1e-9) * beats_per_bar
        if bar_beat < start + 1 / cols_per_beat - 1e-9:
            bar_cols[col] = round(bar_beat / beats_per_bar) + 1
            background[col], background_styles[col] = "┊", "dim"
    background[now_col], background_styles[now_col] = "│", "bold"
    chars = [list(background) for _ in range(rows)]
    styles = [list(background_styles) for _ in range(rows)]

    order = {source: rank for rank, source in enumerate(DRAW_ORDER)}
    for note in sorted(visible, key=lambda n: order.get(n.source, 0)):
        row = rows - 1 - (note.pitch - window.low) // window.per_row
        if not 0 <= row < rows:
            continue
        col0 = math.floor((note.start_beat - first_beat) * cols_per_beat + 1e-9)
        col1 = max(col0 + 1, math.ceil((end_of(note) - first_beat) * cols_per_beat - 1e-9))
        for col in range(max(0, col0), min(grid_width, col1)):
            chars[row][col] = GLYPHS.get(note.source, "?")
            styles[row][col] = note.source

    palette = _palette(base or Style())
    strips: list[Strip] = []
    if ruler:
        strips.append(_ruler(bar_cols, now_col, grid_width, palette))
    for row in range(rows):
        strips.append(_pitch_row(window, rows, row, chars[row], styles[row], palette))
    return strips, window


def _palette(base: Style) -> dict[str, Style]:
    """Style per cell kind, on top of the widget's own style (its background)."""
    kinds = {"": "", "dim": "dim", "bold": "bold", **STYLES}
    return {kind: base + Style.parse(spec) if spec else base for kind, spec in kinds.items()}


def _segments(chars: list[str], styles: list[str], palette: dict[str, Style]) -> list[Segment]:
    """Runs of equally styled cells as segments."""
    segments = []
    run_start = 0
    for col in range(1, len(chars) + 1):
        if col == len(chars) or styles[col] != styles[run_start]:
            segments.append(Segment("".join(chars[run_start:col]), palette[styles[run_start]]))
            run_start = col
    return segments


def _ruler(
    bar_cols: dict[int, int], now_col: int, grid_width: int, palette: dict[str, Style]
) -> Strip:
    cells = [" "] * grid_width
    for col, bar in sorted(bar_cols.items()):
        label = str(bar)
        if col + len(label) <= grid_width and all(c == " " for c in cells[col : col + len(label)]):
            cells[col : col + len(label)] = list(label)
    cells[now_col] = "▼"
    styles = ["dim"] * grid_width
    styles[now_col] = "bold"
    gutter = Segment(" " * GUTTER_WIDTH, palette[""])
    return Strip([gutter, *_segments(cells, styles, palette)], GUTTER_WIDTH + grid_width)


def _pitch_row(
    window: PitchWindow,
    rows: int,
    row: int,
    chars: list[str],
    styles: list[str],
    palette: dict[str, Style],
) -> Strip:
    low = window.low + (rows - 1 - row) * window.per_row
    covered = range(low, low + window.per_row)
    c_pitch = next((p for p in covered if p % 12 == 0), None)
    label = note_name(c_pitch) if c_pitch is not None else ""
    gutter = Segment(f"{label:>3} ", palette["dim"])
    return Strip([gutter, *_segments(chars, styles, palette)], GUTTER_WIDTH + len(chars))


class PianoRoll(Widget):
    """Draws `render_roll` at the widget's size, line by line; `show` takes fresh notes."""

    DEFAULT_CSS = """
    PianoRoll { height: 1fr; min-height: 4; border: round $accent; border-title-style: bold; }
    """

    def __init__(self, *, cols_per_beat: int = 4, beats_per_bar: int = 4, **kwargs) -> None:
        super().__init__(**kwargs)
        self.border_title = "Piano roll"
        self.border_subtitle = LEGEND
        self.cols_per_beat = cols_per_beat
        self.beats_per_bar = beats_per_bar
        self.notes: tuple[NoteView, ...] = ()
        self.now_beat = 0.0
        self.window: PitchWindow | None = None
        self._strips: list[Strip] = []
        self._drawn_for: tuple[object, ...] | None = None

    def show(self, notes: tuple[NoteView, ...], now_beat: float) -> None:
        # Snap `now` to the column grid: the picture only changes when a column passes, so the
        # UI redraws ~8 times a second at 120 bpm instead of every poll (less GIL, less output).
        now_beat = math.floor(now_beat * self.cols_per_beat) / self.cols_per_beat
        if notes != self.notes or now_beat != self.now_beat:
            self.notes = notes
            self.now_beat = now_beat
            self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._drawn_for = None  # a theme change recolours the cached strips

    def render_line(self, y: int) -> Strip:
        width, height = self.size
        key = (self.notes, self.now_beat, width, height)
        if key != self._drawn_for:
            self._drawn_for = key
            self._strips, self.window = render_roll(
                self.notes,
                self.now_beat,
                width,
                height,
                cols_per_beat=self.cols_per_beat,
                beats_per_bar=self.beats_per_bar,
                window=self.window,
                base=self.rich_style,
            )
        if 0 <= y < len(self._strips):
            return self._strips[y]
        return Strip.blank(width, self.rich_style)

    def plain_lines(self) -> list[str]:
        """What the roll shows now, as text (for logs and tests)."""
        return [strip.text for strip in self._strips]
