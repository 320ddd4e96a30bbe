"""A1 addresses, the one place that knows them: cells, columns, ranges, sheet quoting, the reference regex.

Rows and columns are 0-based in code (xlsxwriter's convention), 1-based in A1 text (Excel's).
Cells and columns are formatted as xlsxwriter's `xl_rowcol_to_cell` / `xl_col_to_name` do (the same
text; not imported, which would load all of xlsxwriter into `blueprint verify`); this module adds
what they lack: Excel's bounds, sheet-name quoting both ways, areas, and the regex that finds a
reference inside a formula.
"""

from __future__ import annotations

import functools
import re

MAX_ROWS, MAX_COLS = 1_048_576, 16_384  # Excel's grid: rows 1..1048576, columns A..XFD

COLUMN = r"\$?[A-Za-z]{1,3}"
ROW = r"\$?[0-9]+"
QUOTED_SHEET = r"'(?:[^']|'')+'"
# A cell or an area, optionally sheet-qualified: `B3`, `$B$3:C9`, `GAE!F7`, `'Value Loss'!B6`.
REF = re.compile(
    rf"(?:(?P<sheet>{QUOTED_SHEET}|[A-Za-z_][\w.]*)!)?"
    r"\$?(?P<c1>[A-Za-z]{1,3})\$?(?P<r1>[0-9]+)(?::\$?(?P<c2>[A-Za-z]{1,3})\$?(?P<r2>[0-9]+))?"
)
CELL = re.compile(rf"({COLUMN})({ROW})")
# What a reference may name after its sheet: a cell or an area, whole columns (A:C) or whole rows (1:3).
AREA = re.compile(rf"(?P<c1>{COLUMN}{ROW})(?::(?P<c2>{COLUMN}{ROW}))?|(?P<k1>{COLUMN}):(?P<k2>{COLUMN})|(?P<r1>{ROW}):(?P<r2>{ROW})")
# A defined name Excel refuses because it reads as a reference: a cell (AB12), or R1C1 (R, C, R2C3).
REFERENCE_LIKE_NAME = re.compile(r"[A-Za-z]{1,3}[0-9]+|[RrCc]|[Rr][0-9]*[Cc][0-9]*")
_PLAIN_SHEET = re.compile(r"[A-Za-z_][\w.]*")


def cell(row: int, col: int, absolute: bool = False) -> str:
    """(6, 5) -> `F7`; absolute -> `$F$7`."""
    if row < 0 or col < 0:  # off the grid: xlsxwriter's answer (a warning, "")
        from xlsxwriter.utility import xl_rowcol_to_cell

        return xl_rowcol_to_cell(row, col, row_abs=absolute, col_abs=absolute)
    d = "$" if absolute else ""
    return f"{d}{column_name(col)}{d}{row + 1}"


def area(first: tuple[int, int], last: tuple[int, int], absolute: bool = False) -> str:
    """`B3:C9`, or `B3` when first and last are one cell."""
    a, z = cell(*first, absolute=absolute), cell(*last, absolute=absolute)
    return a if a == z else f"{a}:{z}"


@functools.cache
def column_name(col: int) -> str:
    """0 -> `A`, 27 -> `AB`. Memoised: a workbook uses few columns."""
    if col < 0:  # off the grid: xlsxwriter's answer (a warning, "")
        from xlsxwriter.utility import xl_col_to_name

        return xl_col_to_name(col)
    letters, n = "", col + 1
    while n:
        n, digit = divmod(n - 1, 26)
        letters = chr(65 + digit) + letters
    return letters


@functools.cache
def column_index(letters: str) -> int:
    """`AB` -> 27 (0-based; case and `$` ignored). Memoised: a workbook uses few columns."""
    n = 0
    for ch in letters.lstrip("$").upper():
        n = n * 26 + ord(ch) - 64
    return n - 1


def parse_cell(text: str) -> tuple[int, int] | None:
    """`$F$7` / `f7` -> (6, 5); None unless one cell inside Excel's grid."""
    m = CELL.fullmatch(text.strip())
    if not m:
        return None
    row, col = int(m[2].lstrip("$")) - 1, column_index(m[1])
    return (row, col) if inside(row, col) else None


def inside(row: int, col: int) -> bool:
    """Whether a 0-based (row, col) is on Excel's grid."""
    return 0 <= row < MAX_ROWS and 0 <= col < MAX_COLS


def quote_sheet(sheet: str) -> str:
    """`GAE` stays, `'Value Loss'` and `'It''s'` are quoted: anything but a plain name that could not be read as a cell."""
    if _PLAIN_SHEET.fullmatch(sheet) and not CELL.fullmatch(sheet):
        return sheet
    return "'" + sheet.replace("'", "''") + "'"


def unquote_sheet(token: str) -> str:
    """`'Value Loss'` -> `Value Loss`, `'It''s'` -> `It's`, `GAE` -> `GAE`."""
    return token[1:-1].replace("''", "'") if len(token) > 1 and token[0] == token[-1] == "'" else token


def sheet_prefix(sheet: str) -> str:
    """`GAE!` or `'Value Loss'!`."""
    return quote_sheet(sheet) + "!"


def address(sheet: str, row: int, col: int) -> str:
    """(`Value Loss`, 5, 1) -> `'Value Loss'!B6`."""
    return sheet_prefix(sheet) + cell(row, col)


def split_sheet(text: str) -> tuple[str | None, str]:
    """`'Value Loss'!B3` -> ("Value Loss", "B3"); `B3` -> (None, "B3"). The last `!` outside quotes splits."""
    if text.startswith("'"):
        k, name = 1, []
        while k < len(text):
            if text[k] == "'":
                if text[k + 1:k + 2] == "'":  # '' is an escaped quote inside the name
                    name.append("'")
                    k += 2
                    continue
                break
            name.append(text[k])
            k += 1
        rest = text[k + 1:]
        if k < len(text) and rest.startswith("!"):
            return "".join(name), rest[1:]
        return None, text  # unbalanced quote or no `!` after it: not a sheet-qualified reference
    if "!" in text:
        sheet, _, ref = text.rpartition("!")
        return sheet, ref
    return None, text
