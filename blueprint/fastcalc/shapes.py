"""Cutting formulas into shapes: the text with every reference replaced by a numbered placeholder.

`=A1*A1` and `=B2*C3` have different shapes (`=XFA1*XFA1`, `=XFA1*XFA2`): a placeholder is
numbered by the first occurrence of its reference, so cells of one shape compute the same
function of their references. Every defined name is a reference too. String literals are never
references; unknown names and sheets stay literal, and the package answers #REF! for them.
"""

from __future__ import annotations

import re
from collections import defaultdict

from blueprint import a1 as A1

CellKey = tuple[str, int, int]
Ref = tuple[str, int, int, int, int]  # sheet, first row, first col, last row, last col (0-based, inclusive)

NAMES_SHEET = "\x00names"  # pseudo-sheet holding the defined names whose target is a formula, not a reference

# A formula's words: a string literal (never a reference), or a run of name characters not
# followed by `(` (so not a function) and not preceded by a digit or `#` (so not inside 1E5 or #REF!).
_WORD = re.compile(r"""("(?:[^"]|"")*"|'(?:[^']|'')+'![\w.$:]++(?!\()|(?<![\w.$\\#])[A-Za-z_\\$][\w.$\\!:]*+(?!\())""")
_NAME = re.compile(r"[A-Za-z_\\][\w.\\]*")
_PLACEHOLDER = re.compile(r"XFA([0-9]+)|XFB([0-9]+):XFC\2")
_CELL_PLACEHOLDER = [f"XFA{i + 1}" for i in range(8192)]  # a formula has at most 8192 characters
_RANGE_PLACEHOLDER = [f"XFB{i + 1}:XFC{i + 1}" for i in range(8192)]


def placeholder_index(name: str) -> int | None:
    """The 0-based reference number of a placeholder as the parser reports it back (`XFA3` -> 2), or None."""
    m = _PLACEHOLDER.fullmatch(name)
    return int(m[1] or m[2]) - 1 if m else None


def _ref_of(m: re.Match, here: str, sheets: dict[str, str]) -> Ref | None:
    """The reference an `A1.REF` match denotes, or None when its sheet does not exist or it is off the grid."""
    token = m["sheet"]
    sheet = here if token is None else sheets.get(A1.unquote_sheet(token).upper())
    r1, c1 = int(m["r1"]) - 1, A1.column_index(m["c1"])
    r2, c2 = (int(m["r2"]) - 1, A1.column_index(m["c2"])) if m["c2"] else (r1, c1)
    if sheet is None or not (A1.inside(min(r1, r2), min(c1, c2)) and A1.inside(max(r1, r2), max(c1, c2))):
        return None
    return sheet, min(r1, r2), min(c1, c2), max(r1, r2), max(c1, c2)


def _classify(word: str, here: str, sheets: dict[str, str], names: dict[str, Ref]) -> Ref | None:
    """The reference a word of a formula denotes (a cell, a range, a defined name), or None (text, TRUE, ...)."""
    if word[0] == '"':
        return None
    m = A1.REF.fullmatch(word)
    if m:
        return _ref_of(m, here, sheets)
    return names.get(word.upper()) if _NAME.fullmatch(word) else None


class RefTable:
    """The distinct references of a workbook, numbered: ints hash and compare faster than 5-tuples in the hot loops."""

    def __init__(self) -> None:
        self.refs: list[Ref] = []
        self.one_cell: list[bool] = []
        self._ids: dict[Ref, int] = {}

    def id(self, ref: Ref) -> int:
        i = self._ids.get(ref)
        if i is None:
            i = self._ids[ref] = len(self.refs)
            self.refs.append(ref)
            self.one_cell.append(ref[1:3] == ref[3:5])
        return i


def split_formula(text: str, here: str, sheets: dict[str, str], names: dict[str, Ref], table: RefTable,
                  seen: dict[str, int]) -> tuple[str, tuple[int, ...]]:
    """(shape, reference ids): the formula with each distinct reference replaced by a numbered placeholder
    the parser reports back verbatim, `XFA7` for a cell and `XFB7:XFC7` for a range.

    `seen` memoises word → reference id (-1: not a reference) for the sheet `here`: words repeat a lot.
    """
    parts = _WORD.split(text)
    ids: list[int] = []
    index: dict[int, int] = {}
    for k in range(1, len(parts), 2):
        rid = seen.get(parts[k])
        if rid is None:
            ref = _classify(parts[k], here, sheets, names)
            rid = seen[parts[k]] = -1 if ref is None else table.id(ref)
        if rid < 0:
            continue
        i = index.get(rid)
        if i is None:
            i = index[rid] = len(ids)
            ids.append(rid)
        parts[k] = _CELL_PLACEHOLDER[i] if table.one_cell[rid] else _RANGE_PLACEHOLDER[i]
    return "".join(parts), tuple(ids)


def resolve_names(names: dict[str, str], sheets: dict[str, str]) -> tuple[dict[str, Ref], dict[CellKey, str]]:
    """Defined names by upper-case name: those targeting a reference become it; the others (`0.5`, a
    formula) become pseudo formula cells on NAMES_SHEET, evaluated like any cell (stock accepts both)."""
    refs: dict[str, Ref] = {}
    pseudo: dict[CellKey, str] = {}
    for i, (name, target) in enumerate(sorted(names.items())):
        target = target.lstrip("=").strip()
        m = A1.REF.fullmatch(target)
        ref = _ref_of(m, "", sheets) if m is not None and m["sheet"] else None
        if ref is None:
            ref = (NAMES_SHEET, i, 0, i, 0)
            pseudo[ref[:3]] = "=" + target
        refs[name.upper()] = ref
    return refs, pseudo


def shapes_of(texts: list[tuple[CellKey, str]], sheets: dict[str, str], names: dict[str, Ref], table: RefTable
              ) -> tuple[list[str], list[int], list[tuple[int, ...]]]:
    """The distinct shapes, and each formula's shape number and reference ids."""
    shapes: dict[str, int] = {}
    shape_of: list[int] = []
    refs_of: list[tuple[int, ...]] = []
    seen: dict[str, dict[str, int]] = defaultdict(dict)
    for key, text in texts:
        shape, refs = split_formula(text, key[0], sheets, names, table, seen[key[0]])
        shape_of.append(shapes.setdefault(shape, len(shapes)))
        refs_of.append(refs)
    return list(shapes), shape_of, refs_of
