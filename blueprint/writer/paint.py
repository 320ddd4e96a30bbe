"""How a cell looks: the named styles, their xlsxwriter formats, and the width model's view of what a cell shows.

Every write goes through `Sheet`, which also records what the cell shows on the sheet's Canvas
(blueprint.canvas), so columns are fitted to their contents and code lines and charts find free
columns.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from blueprint import widths
from blueprint.canvas import Canvas, Ink
from blueprint.workbook import NA

NOTE_SIZE = {"x_scale": 2.2, "y_scale": 1.2}  # a cell note's box: room for a three-part note
COLOURS = {"input": "#FFF2CC", "key": "#E2EFDA", "check": "#DDEBF7", "clipped": "#F8CBAD", "masked": "#A6A6A6", "bad": "#FFC7CE"}
STYLE = {
    "title": {"bold": True, "font_size": 14},
    "subtitle": {"italic": True, "font_color": "#595959"},
    "label": {"bold": True, "font_color": "#1F4E79"},
    "header": {"italic": True, "font_color": "#7F7F7F", "align": "center"},
    "code": {"font_name": "Consolas", "font_size": 8, "font_color": "#808080"},
    "input": {"bg_color": COLOURS["input"], "num_format": "0.0000", "border": 1, "border_color": "#D9D9D9"},
    "input_int": {"bg_color": COLOURS["input"], "num_format": "0", "border": 1, "border_color": "#D9D9D9"},
    "config": {"bg_color": COLOURS["input"], "num_format": "General", "border": 1, "border_color": "#D9D9D9"},
    "fixed": {"bg_color": "#F3F3F3", "num_format": "0"},
    "formula": {"num_format": "0.0000"},
    "integer": {"num_format": "0"},
    "text": {"align": "center"},
    "key": {"num_format": "0.000000", "bold": True, "bg_color": COLOURS["key"]},
    "check": {"num_format": "0.0E+00", "align": "center", "bg_color": COLOURS["check"]},
    "wrap": {"text_wrap": True, "valign": "top"},
    "plain": {},
    "subtitle_wrap": {"italic": True, "font_color": "#595959", "text_wrap": True, "valign": "top"},
    "link": {"font_color": "#0563C1", "underline": 1},
    "masked": {"font_color": COLOURS["masked"], "italic": True, "num_format": "0.0000"},
}
CODE_FONT = STYLE["code"]["font_name"]


class Formats:
    """xlsxwriter formats by style name, and by style and number format for numbers shown with fewer decimals."""

    def __init__(self, wb: Any):
        self.wb = wb
        self.made = {(name, spec.get("num_format")): wb.add_format(spec) for name, spec in STYLE.items()}

    def __call__(self, style: str | None, num_format: str | None = None) -> Any:
        if style is None:
            return None
        key = (style, num_format or STYLE[style].get("num_format"))
        if key not in self.made:
            self.made[key] = self.wb.add_format({**STYLE[style], "num_format": key[1]})
        return self.made[key]


class Sheet:
    """One worksheet being painted: each xlsxwriter write is also recorded, as what the cell shows, on `canvas`."""

    def __init__(self, ws: Any, formats: Formats, canvas: Canvas):
        self.ws, self.formats, self.canvas = ws, formats, canvas

    def text(self, row: int, col: int, text: str, style: str | None = None) -> None:
        self.ws.write_string(row, col, text, self.formats(style))
        self.canvas.put(row, col, ink(text, style))

    def number(self, row: int, col: int, value: float, style: str) -> None:
        num_format, shown = fitted(STYLE[style]["num_format"], value)
        self.ws.write_number(row, col, value, self.formats(style, num_format))
        self.canvas.put(row, col, ink(shown, style, number=True))

    def formula(self, row: int, col: int, formula: str, value: Any, style: str) -> None:
        num_format, shown = fitted(STYLE[style].get("num_format"), value)
        self.ws.write_formula(row, col, formula, self.formats(style, num_format), value)
        self.canvas.put(row, col, ink(shown, style, number=not isinstance(value, str) or value == NA))

    def link(self, row: int, col: int, target: str, text: str) -> None:
        self.ws.write_url(row, col, f"internal:{target}", self.formats("link"), string=text)
        self.canvas.put(row, col, ink(text, "link"))

    def merged(self, row: int, first_col: int, last_col: int, text: str, style: str, formula: str | None = None) -> None:
        """Text across merged cells; with `formula`, that formula in the first cell, `text` its cached value."""
        self.ws.merge_range(row, first_col, row, last_col, text, self.formats(style))
        if formula is not None:
            self.ws.write_formula(row, first_col, formula, self.formats(style), text)
        self.canvas.put(row, first_col, ink(text, style, span=last_col - first_col + 1))


def fitted(num_format: str | None, value: Any) -> tuple[str | None, str]:
    """The number format a cell's value is shown in, and the text it shows. A fixed-decimal format (`0.0000`)
    shows at most decimals + 4 characters, sign and point included, so a column of such numbers stays narrow:
    a large number gives up decimals (3352.8441 shows as 3352.844) and, when even none would do, goes
    scientific (1.23E+08). Other formats keep their number; text shows as it is."""
    if isinstance(value, str):
        return num_format, value
    decimals = _decimals(num_format)
    if not decimals:
        return num_format, widths.shown(value, num_format or "General")
    for keep in range(decimals, -1, -1):
        if len(text := f"{value:.{keep}f}") <= decimals + 4:
            return f"0.{'0' * keep}" if keep else "0", text
    return "0.00E+00", widths.shown(value, "0.00E+00")


@functools.cache
def _decimals(num_format: str | None) -> int:
    """Decimals of a fixed-decimal format `0.00…`, else 0."""
    return len(num_format) - 2 if re.fullmatch(r"0\.0+", num_format or "") else 0


def ink(text: str, style: str | None, number: bool = False, span: int = 1) -> Ink:
    """What a cell written in `style` shows, as the width model sees it (numbers and centred text stay in their cell)."""
    return Ink.of(text, **_looks(style, number), span=span)


@functools.cache
def _looks(style: str | None, number: bool) -> dict[str, Any]:
    """The width model's view of a style: font, size, wrapping, and whether its text may spill."""
    spec = STYLE.get(style or "", {})
    wrap = bool(spec.get("text_wrap"))
    return {"spills": not (number or wrap or spec.get("align") == "center"), "bold": bool(spec.get("bold")),
            "code": spec.get("font_name") == CODE_FONT, "size": spec.get("font_size", widths.BODY_POINTS), "wrap": wrap}
