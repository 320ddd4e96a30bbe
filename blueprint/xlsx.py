"""Read the cells of an .xlsx file straight from its zip: the one reader of workbook files.

An .xlsx is a zip of XML parts (ECMA-376 Part 1): `xl/workbook.xml` lists the sheets in tab
order and the defined names, `xl/_rels/workbook.xml.rels` says which part holds each sheet and
where the shared strings are, and each worksheet part holds its `<c>` cells. This module reads
exactly those parts with no spreadsheet library in between (openpyxl's public `Translator` only
rewrites the text of a formula Excel stored once for a range), and hands on what each cell holds:
a number, a bool, text, a `Formula` or an `ErrorValue` (blueprint/cellvalues.py), plus the value
saved with each formula (its cached value). The verifier reads the file under test with it, and
the LibreOffice and Gnumeric engines read back the file they recalculated with it.

The small package parts (workbook, relationships, shared strings) go through defusedxml. The
worksheet parts, which are most of the bytes, go through the standard library's C XML parser:
safe because `safety.check_archive` refuses any part that declares a DOCTYPE or ENTITY before
this module runs, and without a declaration expat expands no entity. Callers check the archive
first (`readback.load_cells` does) and turn the exceptions raised here on a damaged part into
one line for the user.
"""

from __future__ import annotations

import posixpath
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping
from xml.etree.ElementTree import XML

from defusedxml.ElementTree import fromstring

from blueprint import a1 as A1
from blueprint.cellvalues import ErrorValue, Formula

CellKey = tuple[str, int, int]  # (sheet, row, col), 0-based

_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_ROW, _V, _F, _T, _R, _SI = _MAIN + "row", _MAIN + "v", _MAIN + "f", _MAIN + "t", _MAIN + "r", _MAIN + "si"
_SHEET, _DEFINED_NAME = _MAIN + "sheet", _MAIN + "definedName"
_OFFICE_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_PACKAGE_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
_WORKSHEET_TYPE, _STRINGS_TYPE = "/worksheet", "/sharedStrings"  # endings of the relationship types (transitional and strict)
_WORKBOOK = "xl/workbook.xml"
_DIGITS = "0123456789"
# Names Excel reserves for a sheet's print settings and filters: not formulas' names (openpyxl drops them too).
_RESERVED_NAMES = ("_xlnm.Print_Titles", "_xlnm.Print_Area", "_xlnm._FilterDatabase")


@dataclass
class Package:
    """What a workbook file holds: sheet names in tab order, workbook-level defined names, cells."""

    sheets: list[str]
    names: dict[str, str]  # workbook-level defined name -> its target text, e.g. `Config!$B$21`
    values: dict[CellKey, Any]  # every non-empty cell: a constant, or a Formula
    cached: dict[CellKey, Any]  # every formula cell -> the value saved with it (None: none saved)


def read_package(path: Path, parts: Mapping[str, bytes] | None = None) -> Package:
    """Sheets, names, cells and cached values of the .xlsx at `path`, in one pass over its parts.

    `parts`: its XML parts by name, as `safety.check_archive` inflated them (inflated here when None).
    Raises KeyError, ValueError, IndexError or an XML parse error on a damaged file (a sheet whose
    part is missing, a cell off the grid, a string index out of range); check the archive first.
    """
    if parts is None:
        with zipfile.ZipFile(path) as z:
            parts = {name: z.read(name) for name in z.namelist() if name.endswith((".xml", ".rels"))}
    workbook = fromstring(parts[_WORKBOOK])
    rels = _relationships(parts, _WORKBOOK)
    strings = _shared_strings(parts, next((target for kind, target in rels.values() if kind.endswith(_STRINGS_TYPE)), None))
    sheets: list[str] = []
    values: dict[CellKey, Any] = {}
    cached: dict[CellKey, Any] = {}
    for sheet in workbook.iter(_SHEET):
        title = sheet.get("name") or ""
        sheets.append(title)
        rid = sheet.get(_OFFICE_REL) or ""
        if rid not in rels:
            raise ValueError(f"sheet {title!r} names no part of the archive (relationship {rid!r})")
        kind, part = rels[rid]
        if not kind.endswith(_WORKSHEET_TYPE):  # a chart sheet, a dialog sheet: no cells
            continue
        if part not in parts:
            raise ValueError(f"sheet {title!r}: its part {part} is missing from the archive")
        _read_sheet(parts[part], title, strings, values, cached)
    names = {d.get("name") or "": d.text or "" for d in workbook.iter(_DEFINED_NAME)
             if d.get("localSheetId") is None and d.get("name") not in _RESERVED_NAMES}
    return Package(sheets, names, values, cached)


def _relationships(parts: Mapping[str, bytes], part: str) -> dict[str, tuple[str, str]]:
    """The relationships of `part`: Id -> (Type, the target's path in the archive). External targets are left out."""
    folder, name = posixpath.split(part)
    try:
        root = fromstring(parts[posixpath.join(folder, "_rels", name + ".rels")])
    except KeyError:
        return {}
    out = {}
    for rel in root.iter(_PACKAGE_REL):
        target = rel.get("Target") or ""
        if rel.get("TargetMode") == "External":
            continue
        path = target[1:] if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
        out[rel.get("Id") or ""] = (rel.get("Type") or "", path)
    return out


def _shared_strings(parts: Mapping[str, bytes], part: str | None) -> list[str]:
    """The shared string table: each `<si>`'s text, plain (`<t>`) or rich (the `<t>` of each `<r>` run; phonetic runs left out)."""
    if part is None:
        return []
    strings = []
    for si in fromstring(parts[part]).iter(_SI):
        text = "".join(t.text or "" for t in si.findall(_T))
        text += "".join(t.text or "" for r in si.findall(_R) for t in r.findall(_T))
        strings.append(text.replace("x005F_", ""))  # as openpyxl reads an escaped underscore (`_x005F_`)
    return strings


def _read_sheet(part: bytes, title: str, strings: list[str], values: dict[CellKey, Any], cached: dict[CellKey, Any]) -> None:
    """The `<c>` cells of one worksheet part into `values` (and `cached` for formula cells), as ECMA-376 §18.3.1.4 writes them.

    Cell types: n number, s shared string, inlineStr, b boolean, str a formula's text result,
    e error. Formulas that Excel stores once for a filled range (`t="shared"`) are translated
    to each cell by openpyxl's Translator, as openpyxl itself does.
    """
    shared: dict[str, Any] = {}  # si -> openpyxl Translator
    row = 0
    for el in XML(part).iter(_ROW):  # the whole part in C at once: iterparse's Python per element costs more
        row = int(el.get("r") or row + 1)
        if not 1 <= row <= A1.MAX_ROWS:
            raise ValueError(f"row {row} of sheet {title!r} is off the grid")
        col, digits = 0, str(row)
        for c in el:
            ref = c.get("r")
            if ref:
                letters = ref.rstrip(_DIGITS)
                if ref[len(letters):] == digits and letters.isascii() and letters.isalpha():  # `AB12` in row 12: the usual case, quickly
                    col = A1.column_index(letters) + 1
                else:
                    at = A1.parse_cell(ref)  # `$AB$12`, or damage
                    if at is None or at[0] != row - 1:
                        raise ValueError(f"cell reference {ref!r} in row {row} of sheet {title!r}")
                    col = at[1] + 1
            else:
                col += 1
            if col > A1.MAX_COLS:
                raise ValueError(f"column {col} in row {row} of sheet {title!r} is off the grid")
            kind, v = c.get("t", "n"), c.findtext(_V) or None  # openpyxl writes formula cells with an empty <v/>
            if kind == "inlineStr":
                value: Any = "".join(t.text or "" for t in c.iter(_T))
            elif v is None:
                value = None
            elif kind == "n":
                value = int(v) if v.lstrip("-").isdigit() else float(v)  # float: also inf, -inf and nan, as other tools write them
            elif kind == "s":
                value = strings[int(v)]
            elif kind == "b":
                value = v.strip() in ("1", "true")
            elif kind == "e":
                value = ErrorValue(v)
            else:  # str (a formula's text result), d (an ISO date, left as text)
                value = v
            f = c.find(_F)
            key = (title, row - 1, col - 1)
            if f is not None:
                text = "=" + (f.text or "")
                if f.get("t") == "shared":
                    text = _shared_formula(f, text, ref or A1.cell(row - 1, col - 1), shared)
                values[key] = Formula(text)
                cached[key] = value
            elif value is not None:
                values[key] = value
        el.clear()


def _shared_formula(f: Any, text: str, where: str, shared: dict[str, Any]) -> str:
    """The text of a shared formula (`<f t="shared" si=…>`) at `where`: the anchor's own text (kept to translate
    from), or the anchor's translated to this cell."""
    from openpyxl.formula.translate import Translator

    si = f.get("si")
    if f.text:
        shared[si] = Translator(text, where)
    elif si in shared:
        text = shared[si].translate_formula(where)
    return text
