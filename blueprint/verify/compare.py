"""Judging recalculated values: what each formula cell of a file should be, and the report of how it is.

Each formula cell is compared with the reference value at its address (|got - want| ≤ 1e-12 +
1e-9·|want|), its formula text with the generator's, and its cached value with the recalculated
one. Problems are listed cause first, and a whole class of them with one cause (no cached value
anywhere) is one line with its count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from blueprint import a1 as A1
from blueprint.cellvalues import Formula
from blueprint.layout import SHEETS
from blueprint.readback import Cells
from blueprint.verify.report import CLASSES, KINDS, Problem, SheetStats, VerifyReport
from blueprint.workbook import Blueprint, Cell

ATOL, RTOL = 1e-12, 1e-9
_KIND_ORDER = {kind: i for i, kind in enumerate(KINDS)}
_CACHE_KINDS = ("stale-cache", "non-finite-cache", "no-cache")
_SHEET_ORDER = {sheet: i for i, sheet in enumerate(SHEETS)}


def agree(want: Any, got: Any) -> tuple[bool, float]:
    """Equality for text and error values (an engine's error object by its text: `formulas`' XlError
    equals no plain string), |got - want| ≤ 1e-12 + 1e-9·|want| for numbers; the error for the report."""
    if isinstance(want, str):
        return (isinstance(got, str) and str(got) == want), 0.0
    if isinstance(got, bool) or not isinstance(got, (int, float)) or not math.isfinite(got):
        return False, math.inf
    err = abs(float(got) - want)
    return err <= ATOL + RTOL * abs(want), err


# One formula cell of the file, as its recalculated value is judged: (sheet, row, col, its formula
# text, the cell the generator writes there (None: it writes no formula there), its cached value).
Check = tuple[str, int, int, str, "Cell | None", Any]


@dataclass
class Expectations:
    """All that is known about a workbook before recalculating it: the sheet problems, one Check per
    formula cell of the file (sorted by sheet, row, col), and the formula cells the file lacks."""

    problems: list[Problem]
    checks: list[Check]
    missing: list[Problem]


def expect(bp: Blueprint, cells: Cells) -> Expectations:
    """What each formula cell of the file should be: the rows `judge` checks recalculated values against."""
    expected = {(c.sheet, c.row, c.col): c for c in bp.cells if c.kind == "formula"}
    problems = [Problem("sheet-renamed", sheet, "A1", "", "", sheet, actual) for sheet, actual in cells.renamed.items()]
    problems += [Problem("sheet-missing", sheet, "A1", "", "", sheet, None) for sheet in cells.missing]
    values, cached, last = cells.values, cells.cached, len(SHEETS)
    found = [key for key, v in values.items() if isinstance(v, Formula)]
    found.sort(key=lambda key: (_SHEET_ORDER.get(key[0], last), key))
    checks: list[Check] = [(*key, values[key], expected.get(key), cached.get(key)) for key in found]
    present = set(found)
    missing = [Problem("missing-formula", cell.sheet, A1.cell(cell.row, cell.col), _quantity_name(cell), "", cell.formula,
                       cells.get(cell.sheet, cell.row, cell.col))
               for key, cell in expected.items() if key not in present and cell.sheet not in cells.missing]
    return Expectations(problems, checks, missing)


def judge(exp: Expectations, recalc: dict, path: str, engine: str, cache_check: bool = True) -> VerifyReport:
    """The report: each Check against the recalculated value at its cell (keyed by blueprint sheet names);
    cache_check False: cached values are not compared."""
    report = VerifyReport(path, engine, {s: SheetStats() for s in SHEETS}, list(exp.problems), cache_check=cache_check)
    add = report.problems.append
    stats, real = SheetStats(), (float, int)
    for sheet, r, c, formula, cell, cache in exp.checks:
        if stats is not report.sheets.get(sheet):
            stats = report.sheets.setdefault(sheet, SheetStats())
        stats.formula_cells += 1
        got = recalc.get((sheet, r, c))
        if cell is None:
            add(Problem("unmapped", sheet, A1.cell(r, c), "", formula, None, got))
            continue
        stats.mapped += 1
        want = cell.value
        if type(got) in real and type(want) in real and formula == cell.formula:  # the usual case, quickly
            err = abs(got - want)
            if err <= ATOL + RTOL * abs(want) and (type(cache) in real and abs(cache - got) <= ATOL + RTOL * abs(got) or not cache_check):
                stats.value_ok += 1
                stats.formula_text_ok += 1
                stats.cache_ok += cache_check
                stats.max_error = max(stats.max_error, err)
                continue
        name, addr = _quantity_name(cell), A1.cell(r, c)
        if formula == cell.formula:  # compared first: a changed formula is the cause, whatever value it gives
            stats.formula_text_ok += 1
        else:
            add(Problem("formula-text", sheet, addr, name, formula, cell.formula, formula))
        if got is None:
            add(Problem("no-value", sheet, addr, name, formula, want, None))
            continue
        if isinstance(got, str) and got.startswith(("#", "Err:")) and str(got) != want:  # an error not asked for (NA())
            add(Problem("error-value", sheet, addr, name, formula, want, got))
            continue
        ok, err = agree(want, got)
        if err > stats.max_error and math.isfinite(err):
            stats.max_error = err
        if not ok:
            add(Problem("value", sheet, addr, name, formula, want, got))
        stats.value_ok += ok
        if cache_check:
            cache_ok = cache == str(got) if isinstance(got, str) else agree(float(got), cache)[0]
            if not cache_ok:
                add(Problem(_cache_problem(cache), sheet, addr, name, formula, got, cache))
            stats.cache_ok += cache_ok
    report.problems = collapse(cause_first(report.problems + exp.missing), report.totals().cache_ok)
    formula_sheets = {p.sheet for p in exp.missing} | {check[0] for check in exp.checks}
    report.sheets = {s: st for s, st in report.sheets.items() if st.formula_cells or s in formula_sheets}
    return report


def cause_first(problems: list[Problem]) -> list[Problem]:
    """Problems in the order a user should fix them: by kind (KINDS), then sheet, row, column.

    One changed formula spoils the values downstream of it, and a file saved by a tool that does not
    calculate lacks every cache: listed as found, the cause drowns among its effects."""
    def key(p: Problem) -> tuple[int, int, str, int, int]:
        return (_KIND_ORDER[p.kind], _SHEET_ORDER.get(p.sheet, len(SHEETS)), p.sheet, *(A1.parse_cell(p.cell) or (0, 0)))

    return sorted(problems, key=key)


def collapse(problems: list[Problem], cache_ok: int) -> list[Problem]:
    """`problems` with a whole class that has one cause as one Problem with its count, where its first cell was.

    A class has one cause when no cached value agreed (cache_ok 0) and every cache compared has the
    same problem of CLASSES: none saved (a tool that does not calculate, such as openpyxl, wrote the
    file) or all stale (changed or written without recalculating). A line per cell would bury the
    problems that do differ from cell to cell, and name no cause. Mixed cache problems are listed
    per cell: which cells lack a cache or hold an old value then says what was edited.
    """
    kinds = {p.kind for p in problems if p.kind in _CACHE_KINDS}
    if cache_ok or len(kinds) != 1 or (kind := kinds.pop()) not in CLASSES:
        return problems
    rest = [p for p in problems if p.kind != kind]
    if len(problems) - len(rest) < 2:  # one cell: its own line says more
        return problems
    at = next(i for i, p in enumerate(problems) if p.kind == kind)
    return [*rest[:at], Problem(kind, "", "", "", "", None, None, len(problems) - len(rest)), *rest[at:]]


def _cache_problem(cache: Any) -> str:
    """The kind of a cached value that disagrees with the recalculated one: none saved, inf or nan (which other
    tools write, and a viewer shows as such), or a stale number or text."""
    if cache is None:
        return "no-cache"
    return "non-finite-cache" if isinstance(cache, float) and not math.isfinite(cache) else "stale-cache"


def compare(bp: Blueprint, cells: Cells, recalc: dict, path: str = "", engine: str = "") -> VerifyReport:
    """The report for recalculated values (keyed by blueprint sheet names) of a workbook read as `cells`."""
    return judge(expect(bp, cells), recalc, path, engine)


def _quantity_name(cell: Cell) -> str:
    """`advantages[1,2]`, or just `pg_loss` for a scalar."""
    return f"{cell.quantity}[{','.join(map(str, cell.idx))}]" if cell.idx else cell.quantity
