"""The verify report: its problems, its per-sheet counts, and how it reads as text and as JSON."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from blueprint import a1 as A1

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

# Cache problems that, when every formula cell whose cache was compared has the same one, have a single
# cause: reported as one line with the count instead of a line per cell (`collapse`).
CLASSES = {
    "no-cache": "no cached values anywhere ({n:,} formula cells): the file was saved by a tool that does not calculate; "
                "open and save it in Excel/LibreOffice, or ignore with --no-cache-check",
    "stale-cache": "every cached value disagrees with the recalculated one ({n:,} formula cells): the file was changed or "
                   "written without recalculating; open and save it in Excel/LibreOffice, or ignore with --no-cache-check",
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
