"""The Python API the CLI, notebooks, CI scripts and tests call: `generate(config, path)`."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from blueprint.config import Config
from blueprint.files import check_target
from blueprint.inputs import make_inputs
from blueprint.layout import SHEETS
from blueprint.workbook import build
from blueprint.writer import write


@dataclass(frozen=True)
class GenerateReport:
    path: Path
    formula_cells: dict[str, int]  # per sheet
    seconds: float

    @property
    def total_formula_cells(self) -> int:
        return sum(self.formula_cells.values())

    def summary(self) -> str:
        per_sheet = ", ".join(f"{s} {n}" for s, n in self.formula_cells.items())
        return (f"wrote {self.path}: {len(SHEETS)} sheets ({', '.join(SHEETS)}); "
                f"{self.total_formula_cells} formula cells ({per_sheet}); {self.seconds:.2f} s")


def generate(config: Config, path: Path, command: str = "") -> GenerateReport:
    """Build the blueprint for `config` and write it atomically to `path` (a path that cannot take it is refused first)."""
    t0 = time.perf_counter()
    check_target(Path(path), "output", ".xlsx")
    bp = build(config, make_inputs(config))
    write(bp, Path(path), command)
    counts = Counter(c.sheet for c in bp.formula_cells())
    return GenerateReport(Path(path), {s: counts[s] for s in SHEETS if counts[s]}, time.perf_counter() - t0)
