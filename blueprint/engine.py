"""Recalculate a workbook with the `formulas` package (a pure-Python Excel engine).

Stock `ExcelModel().loads(path).finish().calculate()`; results come keyed
`'[file.xlsx]SHEET'!C3` with the sheet name upper-cased (docs/excel_notes.md §2), mapped back here
to (sheet, row, col) with the workbook's own sheet names.
"""

from __future__ import annotations

import functools
import logging
import types
from pathlib import Path
from typing import Any, Callable

from blueprint import a1 as A1


def formulas_values(path: Path, sheet_names: list[str], progress: Callable[[str], None] | None = None) -> dict[tuple[str, int, int], Any]:
    """Every cell value the engine computed (formula cells and the constants it read), by (sheet, row, col)."""
    import formulas
    import formulas.excel as fx
    import tqdm

    say = progress or (lambda msg: None)
    quiet = types.SimpleNamespace(tqdm=functools.partial(tqdm.tqdm, disable=True))
    saved, fx.tqdm = fx.tqdm, quiet  # the engine's own progress bar would break --json output
    log = logging.getLogger("formulas")
    level = log.level
    log.setLevel(logging.CRITICAL)  # it logs each broken reference; the report says it once
    try:
        say("formulas: parsing")
        model = formulas.ExcelModel().loads(str(Path(path).resolve())).finish()
        say("formulas: calculating")
        solution = model.calculate()
    finally:
        fx.tqdm = saved
        log.setLevel(level)
    return _by_cell(solution, {name.upper(): name for name in sheet_names})


def _by_cell(solution: dict, sheets: dict[str, str]) -> dict[tuple[str, int, int], Any]:
    out: dict[tuple[str, int, int], Any] = {}
    for key, value in solution.items():
        book_sheet, _, addr = str(key).rpartition("!")
        sheet = sheets.get(book_sheet.strip("'").partition("]")[2])
        rc = A1.parse_cell(addr)
        if sheet is None or rc is None:
            continue  # ranges, and defined names the engine keeps as nodes of their own
        out[(sheet, *rc)] = _scalar(value)
    return out


def _scalar(value: Any) -> Any:
    v = value.value[0, 0] if hasattr(value, "value") else value
    if hasattr(v, "item"):
        v = v.item()
    if type(v).__name__ == "XlError" or (isinstance(v, str) and v.startswith("#")):
        return str(v)
    return v
