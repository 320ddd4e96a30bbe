"""The engines that recalculate a workbook for `blueprint verify`, behind one function."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from blueprint import a1 as A1
from blueprint.readback import Cells

ENGINES = ("formulas", "formulas-stock", "libreoffice")


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
