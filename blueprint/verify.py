"""`blueprint verify`: recalculate a workbook and prove every formula cell against the reference.

Contract (DESIGN.md §6): config and inputs are read back from the workbook (so edits count),
the reference is recomputed from them, an engine recalculates every formula cell of the file,
and each cell is compared with the reference value at its address (|got - want| ≤ 1e-12 +
1e-9·|want|). Beyond values, a cell is reported when its formula text is not what the generator
would write, its cached value disagrees with the recalculation, it maps to no quantity, an
expected formula is missing, or it holds an error value.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from xlsxwriter.utility import xl_rowcol_to_cell

from blueprint.layout import SHEETS
from blueprint.readback import Cells, load_cells, read_blueprint
from blueprint.safety import check_archive
from blueprint.workbook import Blueprint, Cell, build

ATOL, RTOL = 1e-12, 1e-9
ENGINES = ("formulas", "formulas-stock", "libreoffice")

# Problem kinds, in the order a reader should care about them.
KINDS = {
    "value": "recalculated value disagrees with the reference",
    "error-value": "the engine produced an error value",
    "no-value": "the engine produced no value (circular or unsupported)",
    "formula-text": "formula differs from what the generator writes for this cell",
    "missing-formula": "an expected formula cell is empty or holds a constant",
    "unmapped": "formula cell that maps to no reference quantity",
    "stale-cache": "cached value disagrees with the recalculated one",
    "no-cache": "no cached value: a viewer that does not recalculate shows an empty cell",
    "sheet-renamed": "a blueprint sheet has another name in the file",
    "sheet-missing": "a blueprint sheet is not in the file",
}


@dataclass(frozen=True)
class Problem:
    kind: str
    sheet: str
    cell: str
    quantity: str  # `advantages[1,2]`, or "" when unmapped
    formula: str
    expected: Any
    got: Any

    def line(self) -> str:
        where = f"{_qualify(self.sheet)}{self.cell}"
        what = f" {self.quantity}" if self.quantity else ""
        return f"{where}{what}: {self.kind}: {KINDS[self.kind]}; formula {self.formula or '(none)'}; expected {self.expected!r}, got {self.got!r}"


@dataclass
class SheetStats:
    found: int = 0  # formula cells in the file
    checked: int = 0  # of those, compared with a reference value
    agreeing: int = 0
    max_error: float = 0.0


@dataclass
class VerifyReport:
    path: str
    engine: str
    sheets: dict[str, SheetStats] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def totals(self) -> SheetStats:
        t = SheetStats()
        for s in self.sheets.values():
            t.found, t.checked, t.agreeing = t.found + s.found, t.checked + s.checked, t.agreeing + s.agreeing
            t.max_error = max(t.max_error, s.max_error)
        return t

    def text(self, max_report: int = 20) -> str:
        lines = [f"{self.path}: engine {self.engine}, {self.seconds:.1f} s", f"{'sheet':<12} {'found':>7} {'checked':>8} {'agree':>7} {'max error':>10}"]
        for name, s in self.sheets.items():
            lines.append(f"{name:<12} {s.found:>7} {s.checked:>8} {s.agreeing:>7} {s.max_error:>10.1e}")
        t = self.totals()
        lines.append(f"{'total':<12} {t.found:>7} {t.checked:>8} {t.agreeing:>7} {t.max_error:>10.1e}")
        if self.ok:
            lines.append(f"OK: all {t.checked} formula cells agree with the reference")
        else:
            counts = Counter(p.kind for p in self.problems)
            lines.append(f"FAILED: {len(self.problems)} problems ({', '.join(f'{k} {n}' for k, n in counts.items())})")
            lines += [p.line() for p in self.problems[:max_report]]
            if len(self.problems) > max_report:
                lines.append(f"... and {len(self.problems) - max_report} more (--max-report N shows more)")
        return "\n".join(lines)

    def as_dict(self, max_report: int | None = None) -> dict[str, Any]:
        probs = self.problems if max_report is None else self.problems[:max_report]
        return {"path": self.path, "engine": self.engine, "ok": self.ok, "seconds": round(self.seconds, 3),
                "sheets": {k: asdict(v) for k, v in self.sheets.items()}, "totals": asdict(self.totals()),
                "problem_count": len(self.problems), "problems": [asdict(p) for p in probs]}


def _qualify(sheet: str) -> str:
    return f"'{sheet}'!" if " " in sheet else f"{sheet}!"


def agree(want: Any, got: Any) -> tuple[bool, float]:
    """Equality for text, |got - want| ≤ 1e-12 + 1e-9·|want| for numbers; the error for the report."""
    if isinstance(want, str):
        return (isinstance(got, str) and got == want), 0.0
    if isinstance(got, bool) or not isinstance(got, (int, float)) or not math.isfinite(got):
        return False, math.inf
    err = abs(float(got) - want)
    return err <= ATOL + RTOL * abs(want), err


def verify(path: Path, engine: str = "formulas", progress: Callable[[str], None] | None = None) -> VerifyReport:
    """Check every formula cell of the workbook at `path`; see the module docstring."""
    t0 = time.perf_counter()
    path = Path(path)
    check_archive(path)
    config, inputs, layout, cells = read_blueprint(path)
    bp = build(config, inputs)
    back = {actual: sheet for sheet, actual in cells.renamed.items()}
    cached = {(back.get(sh, sh), r, c): v for (sh, r, c), v in load_cells(path, data_only=True).values.items()}
    recalc = {(back.get(sh, sh), r, c): v for (sh, r, c), v in recalculate(path, engine, cells, progress).items()}
    report = VerifyReport(str(path), engine, {s: SheetStats() for s in SHEETS})
    for sheet, actual in cells.renamed.items():
        report.problems.append(Problem("sheet-renamed", sheet, "A1", "", "", sheet, actual))
    for sheet in cells.missing:
        report.problems.append(Problem("sheet-missing", sheet, "A1", "", "", sheet, None))
    compare(bp, cells, cached, recalc, report)
    report.seconds = time.perf_counter() - t0
    return report


def compare(bp: Blueprint, cells: Cells, cached: dict, recalc: dict, report: VerifyReport) -> None:
    """Fill `report` from the file's cells, its cached values and an engine's recalculated values."""
    expected = bp.by_address()
    seen: set[tuple[str, int, int]] = set()
    for (sheet, r, c), content in sorted(cells.values.items(), key=lambda kv: (SHEETS.index(kv[0][0]) if kv[0][0] in SHEETS else 99, kv[0][1:])):
        if not (isinstance(content, str) and content.startswith("=")) and not hasattr(content, "text"):
            continue
        formula = content if isinstance(content, str) else str(content.text)
        stats = report.sheets.setdefault(sheet, SheetStats())
        stats.found += 1
        addr = xl_rowcol_to_cell(r, c)
        want = expected.get((sheet, r, c))
        if want is None or want.kind != "formula":
            report.problems.append(Problem("unmapped", sheet, addr, "", formula, None, recalc.get((sheet, r, c))))
            continue
        seen.add((sheet, r, c))
        name = _quantity_name(want)
        stats.checked += 1
        got = recalc.get((sheet, r, c))
        if got is None:
            report.problems.append(Problem("no-value", sheet, addr, name, formula, want.value, None))
            continue
        if isinstance(got, str) and got.startswith(("#", "Err:")) and not isinstance(want.value, str):
            report.problems.append(Problem("error-value", sheet, addr, name, formula, want.value, got))
            continue
        ok, err = agree(want.value, got)
        stats.max_error = max(stats.max_error, err if math.isfinite(err) else 0.0)
        text_ok = formula == want.formula
        cache = cached.get((sheet, r, c))
        cache_ok = cache == got if isinstance(got, str) else agree(float(got), cache)[0]
        if not ok:
            report.problems.append(Problem("value", sheet, addr, name, formula, want.value, got))
        if not text_ok:
            report.problems.append(Problem("formula-text", sheet, addr, name, formula, want.formula, formula))
        if not cache_ok:
            report.problems.append(Problem("no-cache" if cache is None else "stale-cache", sheet, addr, name, formula, got, cache))
        stats.agreeing += ok and text_ok and cache_ok
    formula_sheets = set()
    for cell in bp.formula_cells():
        formula_sheets.add(cell.sheet)
        if (cell.sheet, cell.row, cell.col) not in seen and cell.sheet not in cells.missing:
            got = cells.get(cell.sheet, cell.row, cell.col)
            report.problems.append(Problem("missing-formula", cell.sheet, xl_rowcol_to_cell(cell.row, cell.col), _quantity_name(cell), "", cell.formula, got))
    report.sheets = {s: st for s, st in report.sheets.items() if st.found or s in formula_sheets}


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
        from openpyxl.utils.cell import coordinate_to_tuple

        from blueprint.libreoffice import recalculated_values

        out = {}
        for (sheet, addr), v in recalculated_values(path).items():
            r, c = coordinate_to_tuple(addr)
            out[sheet, r - 1, c - 1] = v
        return out
    raise ValueError(f"engine {engine!r}: one of {', '.join(ENGINES)}")
