"""How much room a cell's text takes, in Excel column-width units; how much paper a column takes.

One model for the writer, which sizes columns, places code lines and charts and plans pages with
it, and for the tests, which hold the written file to it. Its assumptions, all on the wide side:

- The unit is Excel's: a column of width w holds w digits of the default font (Calibri 11,
  xlsxwriter's). LibreOffice keeps that (measured, 7.4): where Calibri is missing it substitutes
  DejaVu Sans on a bare Debian and makes the digit, and so the column, wider alike.
- DejaVu Sans is the widest common stand-in, so a character's width is its DejaVu Sans advance
  width over the digit's, rounded up into four classes: narrow 0.7 (`i l . , : ( ) -` ..., 0.44-0.65
  in DejaVu Sans), 1.0 (digits, most letters and Greek), capitals 1.3, wide 1.6 (`m w M W % —` and
  the symbols `+ < > = ~ ^ # ± ≤ ≥ → ↳`, 1.29-1.57; Calibri's M and W reach 1.7 of its narrow digit).
- Bold is 15 % wider (DejaVu Sans Bold: digits +9 %, letters up to +26 %, a label +10-15 %).
- The code font, Consolas 8 pt (DejaVu Sans Mono in its place), is monospaced: 0.9 of a digit for
  every character (measured 0.69 in LibreOffice, 0.79 for real Consolas beside Calibri's digit).
- Other font sizes scale with the size (the 14 pt titles).
- A number shows as Excel shows it under the workbook's few number formats (`shown`) and must fit
  inside its cell with MARGIN to spare, or Excel and LibreOffice show `###`; so must a centred
  text, or its neighbours cut it. A left-aligned text spills into empty cells to its right.
- Wrapped text takes LINE_POINTS of row height per line, words kept whole.
- On paper a column of width w takes 7·w + 5 points at 100 % (LibreOffice with DejaVu Sans; Excel
  with Calibri takes 5.25·w + 3.75), so a page planned with it holds its columns in both.
- Excel keeps widths in whole screen pixels, 7·w + 5 per column, and xlsxwriter anchors charts in
  them: widths are rounded up to whole pixels (`pixels`), and read back from a file (`from_file`).
"""

from __future__ import annotations

import functools
import math

NARROW = frozenset(" .,:;'!|()[]/\\-·ijlftrIJ`\"ℓ⟨⟩²")
WIDE = frozenset("mwMW%@—½+<>=~^#±≤≥→↳")
CLASS_WIDTH = {"narrow": 0.7, "normal": 1.0, "capital": 1.3, "wide": 1.6}
BOLD = 1.15
CODE = 0.9  # every character of the code font, in digits of the default font
MARGIN = 0.5  # spare room a number or a centred text keeps in its cell
BODY_POINTS = 11.0  # the default font's size
LINE_POINTS = 15.0  # row height per line of 11 pt text (Excel's default row)
PAPER_POINTS_PER_UNIT, PAPER_POINTS_PER_COLUMN = 7.0, 5.0  # 7·w + 5 points per column at 100 %
PIXELS_PER_UNIT, PIXELS_PER_COLUMN = 7, 5  # Excel's screen model: 7·w + 5 pixels per column


@functools.cache
def char_width(ch: str) -> float:
    """One character of the default font, in digits."""
    if ch in WIDE:
        return CLASS_WIDTH["wide"]
    if ch in NARROW:
        return CLASS_WIDTH["narrow"]
    return CLASS_WIDTH["capital"] if ch.isupper() else CLASS_WIDTH["normal"]


def text_width(text: str, bold: bool = False, code: bool = False, size: float = BODY_POINTS) -> float:
    """Room one line of text takes, in column-width units."""
    if code:
        return CODE * len(text) * size / 8.0
    width = sum(map(char_width, text)) * size / BODY_POINTS
    return width * BOLD if bold else width


def shown(value: float, num_format: str) -> str:
    """The text Excel and LibreOffice show for a number under one of the workbook's number formats.

    Fixed decimals (`0`, `0.0000`, `0.000000`), scientific (`0.0E+00`, `0.00E+00`: at least two
    exponent digits, as Python writes them) and `General` (an integer as is, else at most 11
    characters). A minus sign is always counted, even where Excel would drop it from a -0.0000.
    """
    if num_format == "General":
        if float(value).is_integer() and abs(value) < 1e11:
            return str(int(value))
        text = f"{value:.10G}"
        return text if len(text) <= 11 else f"{value:.5E}"
    mantissa, _, exponent = num_format.partition("E")
    decimals = len(mantissa.partition(".")[2])
    return f"{value:.{decimals}{'E' if exponent else 'f'}}"


def wrapped_lines(text: str, width: float, bold: bool = False) -> int:
    """Lines a wrapped text takes in `width` units: greedily, words kept whole (a word wider than the
    line takes lines of its own)."""
    count, used, space = 0, 0.0, text_width(" ", bold)
    for word in text.split(" "):
        w = text_width(word, bold)
        if count and used + space + w <= width:
            used += space + w
            continue
        count += max(1, math.ceil(w / width))
        used = w - (math.ceil(w / width) - 1) * width if w > width else w
    return max(count, 1)


def pixels(width: float) -> int:
    """Screen pixels of a column `width` units wide, rounded up: it never shows less than `width`."""
    return math.ceil(PIXELS_PER_UNIT * width - 1e-9) + PIXELS_PER_COLUMN


def from_file(file_width: float) -> float:
    """The width in units of a column whose `<col width>` an .xlsx holds (pixels over 7, truncated to 1/256)."""
    return (round(file_width * PIXELS_PER_UNIT) - PIXELS_PER_COLUMN) / PIXELS_PER_UNIT


def paper_points(width: float) -> float:
    """Paper a column `width` units wide takes at 100 % (the wider of LibreOffice's and Excel's)."""
    return PAPER_POINTS_PER_UNIT * width + PAPER_POINTS_PER_COLUMN
