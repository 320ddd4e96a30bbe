"""The engines that recalculate a workbook for `blueprint verify`, behind one function."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Callable

from blueprint.readback import Cells

ENGINES = ("formulas", "formulas-stock", "libreoffice", "gnumeric")


def recalculate(path: Path, engine: str, cells: Cells, progress: Callable[[str], None] | None = None) -> dict[tuple[str, int, int], Any]:
    """Every formula cell's recalculated value, keyed by (the file's sheet name, row, col).

    "formulas": the `formulas` package's parser and functions, each formula shape compiled once
    (blueprint.fastcalc); "formulas-stock": its stock ExcelModel, one dispatcher per cell (slow,
    kept as the yardstick); "libreoffice": LibreOffice headless, forced to recalculate; "gnumeric":
    Gnumeric's `ssconvert --recalc`. The two programs' results are read back from the file they save.
    """
    if engine == "formulas":
        from blueprint.fastcalc import evaluate

        return evaluate(cells.file_values, cells.names, progress)
    if engine == "formulas-stock":
        from blueprint.engine import formulas_values

        return formulas_values(path, cells.sheets, progress)
    if engine in ("libreoffice", "gnumeric"):
        program = importlib.import_module(f"blueprint.{engine}")
        return program.recalculated_cells(path, cells.file_values)
    raise ValueError(f"engine {engine!r}: one of {', '.join(ENGINES)}")
