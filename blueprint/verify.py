"""`blueprint verify`: recalculate a workbook and prove every formula cell against the reference.

Contract (docs/design.md §6): config and inputs are read back from the workbook (so edits count),
the reference is recomputed from them, an engine recalculates every formula cell of the file,
and each cell is compared with the reference value at its address (|got - want| ≤ 1e-12 +
1e-9·|want|). Beyond values, a cell is reported when its formula text is not what the generator
would write, its cached value disagrees with the recalculation, it maps to no quantity, an
expected formula is missing, or it holds an error value. Problems are listed cause first, and a
whole class of them with one cause (no cached value anywhere) is one line with its count.
"""

from __future__ import annotations

import contextlib
import gc
import math
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from blueprint import a1 as A1
from blueprint.cellvalues import is_formula
from blueprint.layout import SHEETS
from blueprint.readback import Cells, read_cells, read_config, read_inputs
from blueprint.workbook import Blueprint, Cell, build

ATOL, RTOL = 1e-12, 1e-9
ENGINES = ("formulas", "formulas-stock", "libreoffice")

# Problem kinds, in the order a user should fix them (the report lists problems in this order): a sheet
# gone or renamed breaks every formula that reads it; a changed, stray or missing formula spoils the
# values downstream of it; the values follow; stale or missing caches only mislead a viewer.
KINDS = {
    "sheet-missing": "a blueprint sheet is not in the file",
    "sheet-renamed": "a blueprint sheet has another name in the file",
    "formula-text": "formula differs from what the generator writes for this cell",
    "unmapped": "formula cell that maps to no reference quantity",
    "missing-formula": "an expected formula cell is empty or holds a constant",
    "value": "recalculated value disagrees with the reference",
    "error-value": "the engine produced an error value",
    "no-value": "the engine produced no value (circular or unsupported)",
    "stale-cache": "cached value disagrees with the recalculated one",
    "non-finite-cache": "cached value is not a finite number",
    "no-cache": "no cached value: a viewer that does not recalculate shows an empty cell",
}
_KIND_ORDER = {kind: i for i, kind in enumerate(KINDS)}
_CACHE_KINDS = ("stale-cache", "non-finite-cache", "no-cache")

# Cache problems that, when every formula cell whose cache was compared has the same one, have a single
# cause: reported as one line with the count instead of a line per cell (`collapse`).
CLASSES = {
    "no-cache": "no cached values anywhere ({n:,} formula cells): the file was saved by a tool that does not calculate; "
                "open and save it in Excel/LibreOffice, or ignore with --no-cache-check",
    "stale-cache": "every cached value disagrees with the recalculated one ({n:,} formula cells): the file was changed or "
                   "written without recalculating; open and save it in Excel/LibreOffice, or ignore with --no-cache-check",
}
_SHEET_ORDER = {sheet: i for i, sheet in enumerate(SHEETS)}


@dataclass(frozen=True)
class Problem:
    kind: str
    sheet: str
    cell: str
    quantity: str  # `advantages[1,2]`, or "" when unmapped
    formula: str
    expected: Any
    got: Any
    cells: int = 1  # a whole class collapsed into one problem (no sheet, no cell): how many cells it stands for

    def line(self) -> str:
        if not self.cell:
            return CLASSES[self.kind].format(n=self.cells)
        where = f"{A1.sheet_prefix(self.sheet)}{self.cell}"
        what = f" {self.quantity}" if self.quantity else ""
        return f"{where}{what}: {self.kind}: {KINDS[self.kind]}; formula {self.formula or '(none)'}; expected {self.expected!r}, got {self.got!r}"


# The counting columns of the report's per-sheet table (SheetStats' fields) and their headings.
COLUMNS = {"formula_cells": "formula cells", "mapped": "mapped", "value_ok": "value ok", "formula_text_ok": "formula text ok", "cache_ok": "cache ok"}


@dataclass
class SheetStats:
    """What was compared on one sheet, each count on its own: a cell can have a right value under a
    changed formula text, or right value and text beside a missing cache."""

    formula_cells: int = 0  # in the file
    mapped: int = 0  # of those, at a cell where the generator writes a formula: compared with the reference
    value_ok: int = 0  # of the mapped, the recalculated value agrees with the reference's
    formula_text_ok: int = 0  # of the mapped, the formula text is the generator's
    cache_ok: int = 0  # of the mapped, the cached value agrees with the recalculated one
    max_error: float = 0.0  # largest |recalculated - reference| over the mapped cells with a number

    def add(self, other: SheetStats) -> None:
        """Count `other` in too: the total row."""
        for name in COLUMNS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.max_error = max(self.max_error, other.max_error)

    def row(self, cache_check: bool = True) -> dict[str, int | float | None]:
        """The counts by field name, and max_error; cache_ok None when caches were not compared (--no-cache-check)."""
        return {**{name: getattr(self, name) for name in COLUMNS}, **({} if cache_check else {"cache_ok": None}), "max_error": self.max_error}

    def summary(self, cache_check: bool = True) -> str:
        """`formula cells 291, mapped 291, value ok 291, ..., max |error| 8.9e-16`: a row of the table in words."""
        row = self.row(cache_check)
        return ", ".join([*(f"{label} {_count(row[name])}" for name, label in COLUMNS.items()), f"max |error| {self.max_error:.1e}"])


def _count(n: int | float | None) -> str:
    """A count of the table; `-` for one not made (cache ok under --no-cache-check), not a misleading 0."""
    return "-" if n is None else str(n)


@dataclass
class VerifyReport:
    path: str
    engine: str
    sheets: dict[str, SheetStats] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0
    cache_check: bool = True  # False: cached values were not compared (--no-cache-check)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def totals(self) -> SheetStats:
        t = SheetStats()
        for s in self.sheets.values():
            t.add(s)
        return t

    def table(self) -> list[str]:
        """The per-sheet table, a row per sheet and a total, each column saying what it compared."""
        widths = {name: max(len(label), 7) for name, label in COLUMNS.items()}
        lines = [f"{'sheet':<12}" + "".join(f"  {label:>{widths[name]}}" for name, label in COLUMNS.items()) + f"  {'max |error|':>11}"]
        for name, s in [*self.sheets.items(), ("total", self.totals())]:
            row = s.row(self.cache_check)
            lines.append(f"{name:<12}" + "".join(f"  {_count(row[k]):>{w}}" for k, w in widths.items()) + f"  {s.max_error:>11.1e}")
        return lines

    def text(self, max_report: int = 20) -> str:
        lines = [f"{self.path}: engine {self.engine}, {self.seconds:.1f} s", *self.table()]
        if self.ok:
            lines.append(f"OK: all {self.totals().mapped} formula cells agree with the reference")
        else:
            lines.append(f"FAILED: {counted(len(self.problems), 'problem')} ({_by_kind(self.problems)})")
            shown = self.problems[:max_report] + [p for p in self.problems[max_report:] if not p.cell]  # a collapsed class is always shown
            lines += [p.line() for p in shown]
            if len(self.problems) > len(shown):
                lines.append(f"... and {len(self.problems) - len(shown)} more (--max-report N shows more)")
        return "\n".join(lines)

    def as_dict(self, max_report: int | None = None) -> dict[str, Any]:
        probs = self.problems if max_report is None else self.problems[:max_report]
        return {"path": self.path, "engine": self.engine, "ok": self.ok, "seconds": round(self.seconds, 3),
                "cache_check": self.cache_check, "sheets": {k: v.row(self.cache_check) for k, v in self.sheets.items()},
                "totals": self.totals().row(self.cache_check), "problem_count": len(self.problems), "listed": len(probs),
                "problems": [{**asdict(p), "line": p.line()} for p in probs]}


def counted(n: int, noun: str) -> str:
    """`1 problem`, `57 problems`."""
    return f"{n} {noun}{'s' * (n != 1)}"


def _by_kind(problems: list[Problem]) -> str:
    """`formula-text 1, value 66, no-cache 1,045 cells in one line`: the problems counted by kind, in their order."""
    counts, classes = Counter(p.kind for p in problems), {p.kind: p.cells for p in problems if not p.cell}
    return ", ".join(f"{kind} {classes[kind]:,} cells in one line" if kind in classes else f"{kind} {n}" for kind, n in counts.items())


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


def verify(path: Path, engine: str = "formulas", progress: Callable[[str], None] | None = None,
           cache_check: bool = True) -> VerifyReport:
    """Check every formula cell of the workbook at `path`; see the module docstring.

    cache_check False: do not compare cached values (a file saved by a tool that does not calculate
    has none; it is still right if its formulas and inputs are).
    """
    t0 = time.perf_counter()
    path = Path(path)
    say = progress or (lambda _msg: None)
    with _without_gc() if engine == "formulas" else contextlib.nullcontext():  # stock makes garbage cycles by the million
        cells = _read(path, say)
        bp = _build(cells, say)
        recalc = recalculate(path, engine, cells, progress)
        if cells.renamed:
            back = {actual: sheet for sheet, actual in cells.renamed.items()}
            recalc = {(back.get(sh, sh), r, c): v for (sh, r, c), v in recalc.items()}
        say(f"verify: comparing {len(recalc)} recalculated cells with the reference")
        report = judge(expect(bp, cells), recalc, str(path), engine, cache_check)
    report.seconds = time.perf_counter() - t0
    return report


@contextlib.contextmanager
def _without_gc() -> Iterator[None]:
    """No cyclic garbage collection while verifying: the run makes ~10^6 short-lived objects and
    no garbage cycles to speak of, and full collections over its large heap cost ~10% of the time.

    While collection is off every new object stays in the youngest generation, so the first
    collection after it is back would walk all survivors (0.15-0.3 s on xl). `freeze` + `unfreeze`
    moves them to the oldest generation in one step instead (a list splice, no walk); not when the
    caller keeps objects frozen itself (unfreeze would thaw them too)."""
    was_enabled, was_frozen = gc.isenabled(), gc.get_freeze_count()
    gc.disable()
    try:
        yield
    finally:
        if not was_frozen:
            gc.freeze()
            gc.unfreeze()
        if was_enabled:
            gc.enable()


def _read(path: Path, say: Callable[[str], None]) -> Cells:
    say(f"verify: reading {path.name}")
    return read_cells(path)


def _build(cells: Cells, say: Callable[[str], None]) -> Blueprint:
    """The blueprint the generator writes for the workbook's own config and inputs: formulas and reference values."""
    config, layout = read_config(cells)
    say(f"verify: rebuilding the reference for B={config.batch_size}, T={config.response_len}, H={config.hidden} from the workbook's config and inputs")
    return build(config, read_inputs(cells, layout, config))


def expect(bp: Blueprint, cells: Cells) -> Expectations:
    """What each formula cell of the file should be: the rows `judge` checks recalculated values against."""
    expected = bp.by_address()
    problems = [Problem("sheet-renamed", sheet, "A1", "", "", sheet, actual) for sheet, actual in cells.renamed.items()]
    problems += [Problem("sheet-missing", sheet, "A1", "", "", sheet, None) for sheet in cells.missing]
    found = sorted((_SHEET_ORDER.get(key[0], len(SHEETS)), key) for key, v in cells.values.items() if is_formula(v))
    checks: list[Check] = []
    for _, key in found:
        want = expected.get(key)
        checks.append((*key, cells.values[key], want if want is not None and want.kind == "formula" else None, cells.cached.get(key)))
    present = {check[:3] for check in checks if check[4] is not None}
    missing = [Problem("missing-formula", cell.sheet, A1.cell(cell.row, cell.col), _quantity_name(cell), "", cell.formula,
                       cells.get(cell.sheet, cell.row, cell.col))
               for cell in bp.formula_cells() if (cell.sheet, cell.row, cell.col) not in present and cell.sheet not in cells.missing]
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


def recalculate(path: Path, engine: str, cells: Cells, progress: Callable[[str], None] | None = None) -> dict[tuple[str, int, int], Any]:
    """Every formula cell's recalculated value, keyed by (the file's sheet name, row, col).

    "formulas": the `formulas` package's parser and functions, each formula shape compiled once
    (blueprint.fastcalc); "formulas-stock": its stock ExcelModel, one dispatcher per cell (slow,
    kept as the yardstick); "libreoffice": LibreOffice headless, forced to recalculate.
    """
    if engine == "formulas":
        from blueprint.fastcalc import evaluate

        return evaluate(cells.file_values, cells.names, progress)
    if engine == "formulas-stock":
        from blueprint.engine import formulas_values

        return formulas_values(path, cells.sheets, progress)
    if engine == "libreoffice":
        from blueprint.libreoffice import recalculated_values

        out = {}
        for (sheet, addr), v in recalculated_values(path).items():
            out[(sheet, *A1.parse_cell(addr))] = v
        return out
    raise ValueError(f"engine {engine!r}: one of {', '.join(ENGINES)}")
