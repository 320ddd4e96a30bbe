"""What one worksheet shows, cell by cell, and what follows from it for the screen and for paper.

The writer records here every cell it paints (its text as shown, its font, whether it may spill
into empty neighbours), every merged range and chart. From that record, with the width model of
`blueprint.widths`: the column widths at which every number and centred text fits its cell and
every left-aligned text reaches its next non-empty neighbour (`fit`), the first column right of
all text in some rows, where code lines and charts go (`free_column`), and the print setup
(`page_setup`): fit to one page wide when that prints at ≥ MIN_SCALE, else a fixed scale with
vertical page breaks only between the column spans that must stay whole (blocks, charts).
The tests read a written file back into a Canvas and hold it to `clipped()`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

from blueprint import widths

MIN_WIDTH = 8.0  # a column's width when nothing in it asks for more: 7-character numbers and headers
MIN_SCALE, PRINT_SCALE = 0.70, 0.75  # fit to width down to 70 %; a sheet broken into pages prints at 75 % (≥ 70 %)
A4_LANDSCAPE_POINTS = 841.89
CHART_ROW_PIXELS = 20  # xlsxwriter's default row, in which charts are anchored


def chart_rows(row: int, height_px: float) -> range:
    """The rows a chart anchored at `row` covers, `height_px` high (charts are anchored in default-height rows)."""
    return range(row, row + math.ceil(height_px / CHART_ROW_PIXELS) + 1)


class Ink(NamedTuple):
    """What one cell shows, and how: enough to know the room it takes and whether it may spill (a tuple:
    a workbook has tens of thousands; build one with `Ink.of`)."""

    text: str
    width: float  # column-width units (blueprint.widths.text_width)
    spills: bool  # left-aligned text: shows on across empty cells to its right; numbers and centred text stay in their cell
    wrap: bool = False  # wrapped in its cell (or merged range): grows the row instead of spilling
    bold: bool = False
    span: int = 1  # columns of a merged range, this cell the first

    @classmethod
    def of(cls, text: str, spills: bool, bold: bool = False, code: bool = False, size: float = widths.BODY_POINTS,
           wrap: bool = False, span: int = 1) -> Ink:
        return cls(text, widths.text_width(text, bold, code, size), spills, wrap, bold, span)


@dataclass(frozen=True)
class PageSetup:
    """How a sheet prints: fit to one page wide, or at `scale` with pages starting at `breaks`."""

    fit_width: bool
    scale: float  # the scale it prints at (fit to width: what fitting gives, at most 1)
    breaks: tuple[int, ...]  # first column of each page after the first
    last_row: int
    last_col: int


@dataclass
class Canvas:
    """The record of one worksheet; widths in column-width units, rows and columns 0-based."""

    minimum: dict[int, float] = field(default_factory=dict)  # columns wider than MIN_WIDTH whatever they hold
    ink: dict[tuple[int, int], Ink] = field(default_factory=dict)
    widths: dict[int, float] = field(default_factory=dict)
    charts: list[tuple[int, int, int, int]] = field(default_factory=list)  # first row, first col, last row, last col
    row_heights: dict[int, float] = field(default_factory=dict)  # points, for rows that hold wrapped text
    _reach: dict[tuple[int, int], int] = field(default_factory=dict, repr=False)  # memo of `reach`, valid while the widths are

    def put(self, row: int, col: int, ink: Ink) -> None:
        self.ink[row, col] = ink

    def width(self, col: int) -> float:
        return self.widths.get(col, self.minimum.get(col, MIN_WIDTH))

    def _row_cols(self, rows: set[int] | None = None) -> dict[int, list[int]]:
        """The occupied columns of each row (of `rows` only, when given), left to right."""
        out: dict[int, list[int]] = {}
        for r, c in self.ink:
            if rows is None or r in rows:
                out.setdefault(r, []).append(c)
        for cols in out.values():
            cols.sort()
        return out

    def _room(self, row: int, col: int, ink: Ink, row_cols: list[int]) -> float:
        """Units the ink may take: its cell (or merged range), less MARGIN unless it wraps; a spilling text also
        the empty cells up to the next non-empty one in `row_cols` (all of them when there is none)."""
        own = self.width(col) if ink.span == 1 else sum(self.width(c) for c in range(col, col + ink.span))
        if not ink.spills:
            return own - (0.0 if ink.wrap else widths.MARGIN)
        nxt = next((c for c in row_cols if c >= col + ink.span), None)
        return math.inf if nxt is None else sum(self.width(c) for c in range(col, nxt))

    def fit(self) -> None:
        """Widen columns until every number and centred text fits its cell and every spilling text its room.

        Cells that stay put come first (they set the widths of the blocks); a spilling text that is
        still cut widens its own column (a scalar's name before its value, a token on Config).
        Wrapped text keeps its columns and takes rows of LINE_POINTS instead. Widths end on whole pixels.
        """
        spilling = []
        for (r, c), ink in self.ink.items():
            if ink.spills:
                spilling.append((r, c, ink))
            elif ink.wrap:
                lines = widths.wrapped_lines(ink.text, self._room(r, c, ink, []), ink.bold)
                self.row_heights[r] = max(self.row_heights.get(r, widths.LINE_POINTS), lines * widths.LINE_POINTS)
            elif (short := ink.width - self._room(r, c, ink, [])) > 0:
                last = c + ink.span - 1
                self.widths[last] = self.width(last) + short
        rows = self._row_cols({r for r, _, _ in spilling})
        for r, c, ink in sorted(spilling, key=lambda x: x[:2]):
            room = self._room(r, c, ink, rows[r])
            if ink.width > room:
                self.widths[c] = self.width(c) + ink.width - room
        for c, w in self.widths.items():
            self.widths[c] = (widths.pixels(w) - widths.PIXELS_PER_COLUMN) / widths.PIXELS_PER_UNIT
        self._reach.clear()

    def clipped(self) -> list[tuple[int, int, float, float]]:
        """Cells whose ink does not fit their room, as (row, col, needed, room) — none once `fit` has run."""
        rows = self._row_cols()
        out = []
        for (r, c), ink in sorted(self.ink.items()):
            room = self._room(r, c, ink, rows[r])
            if ink.wrap:
                lines = widths.wrapped_lines(ink.text, room, ink.bold)
                if lines * widths.LINE_POINTS > self.row_heights.get(r, widths.LINE_POINTS) + 1e-9:
                    out.append((r, c, lines * widths.LINE_POINTS, self.row_heights.get(r, widths.LINE_POINTS)))
            elif ink.width > room + 1e-9:
                out.append((r, c, ink.width, room))
        return out

    def reach(self, row: int, col: int) -> int:
        """The last column the ink at (row, col) shows in."""
        ink = self.ink[row, col]
        if not ink.spills:
            return col + ink.span - 1
        if (row, col) not in self._reach:
            last, left = col, ink.width - self.width(col)
            while left > 0:
                last += 1
                left -= self.width(last)
            self._reach[row, col] = last
        return self._reach[row, col]

    def free_column(self, rows: range, start: int) -> int:
        """The first column at or after `start` right of every ink shown in `rows` (charts included)."""
        last = max((self.reach(r, c) for r, c in self.ink if r in rows), default=-1)
        last = max([last, *(c1 for r0, _, r1, c1 in self.charts if r0 <= rows[-1] and r1 >= rows[0])])
        return max(start, last + 1)

    def add_chart(self, row: int, col: int, width_px: float, height_px: float) -> None:
        """Record a chart anchored at (row, col), its size in Excel's pixels (as xlsxwriter anchors it)."""
        last_col, left = col, width_px - widths.pixels(self.width(col))
        while left > 0:
            last_col += 1
            left -= widths.pixels(self.width(last_col))
        self.charts.append((row, col, chart_rows(row, height_px)[-1], last_col))

    def extent(self) -> tuple[int, int]:
        """The last row and column anything shows in."""
        last_row = max([r for r, _ in self.ink] + [r1 for _, _, r1, _ in self.charts])
        last_col = max([self.reach(r, c) for r, c in self.ink] + [c1 for _, _, _, c1 in self.charts])
        return last_row, last_col

    def page_setup(self, whole: list[tuple[int, int]], printable: float) -> PageSetup:
        """Fit to one page wide if that prints at ≥ MIN_SCALE. Else column A on every page and page breaks
        never inside a span of `whole` (first, last column) or a chart, nor inside a text spilling over its
        neighbours (a code line; column A's labels print on every page anyway) where such a text and the
        spans it overlaps fit a page together; at PRINT_SCALE, or less down to MIN_SCALE where that cuts
        fewer spans or needs fewer pages across."""
        last_row, last_col = self.extent()
        points = [widths.paper_points(self.width(c)) for c in range(last_col + 1)]
        fit = printable / sum(points)
        if fit >= MIN_SCALE:
            return PageSetup(True, min(fit, 1.0), (), last_row, last_col)
        hard = whole + [(c0, c1) for _, c0, _, c1 in self.charts]
        soft = [(c, self.reach(r, c)) for (r, c), ink in self.ink.items() if ink.spills and c > 0]
        plans = []
        for percent in range(round(100 * PRINT_SCALE), round(100 * MIN_SCALE) - 1, -1):
            breaks, cut = _breaks(points, _segments(hard, last_col), _segments(hard + soft, last_col), 100 * printable / percent - points[0])
            plans.append((cut, len(breaks), -percent, breaks))
        cut, _, percent, breaks = min(plans)
        return PageSetup(False, -percent / 100, tuple(breaks), last_row, last_col)


def _breaks(points: list[float], hard: list[tuple[int, int]], tidy: list[tuple[int, int]], room: float) -> tuple[list[int], int]:
    """Page breaks (first column of each page after the first) for pages of `room` points beside column A,
    filled left to right with the `tidy` segments, or where one is too wide, with the `hard` ones inside it;
    and how many hard segments are too wide even so, and cut."""
    segments = []
    for a, b in tidy:
        segments += [(a, b)] if sum(points[a:b + 1]) <= room else [(x, y) for x, y in hard if a <= x and y <= b]
    breaks: list[int] = []
    used, cut = 0.0, 0
    for a, b in segments:
        width = sum(points[a:b + 1])
        cut += width > room
        for col, step in [(c, points[c]) for c in range(a, b + 1)] if width > room else [(a, width)]:
            if used and used + step > room:
                breaks.append(col)
                used = 0.0
            used += step
    return breaks, cut


def _segments(spans: list[tuple[int, int]], last_col: int) -> list[tuple[int, int]]:
    """Columns 1..last_col (column A prints on every page) as the pieces a page break may fall between:
    the spans (first, last column), overlapping ones joined, and single columns elsewhere."""
    out: list[tuple[int, int]] = []
    col = 1
    for a, b in sorted((max(a, 1), min(b, last_col)) for a, b in spans if b >= 1 and a <= last_col):
        if a < col:  # overlaps the span before: join it
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out += [(c, c) for c in range(col, a)] + [(a, b)]
        col = out[-1][1] + 1
    return out + [(c, c) for c in range(col, last_col + 1)]
