"""`blueprint verify`: recalculate a workbook and prove every formula cell against the reference.

Contract (docs/design.md §6): config and inputs are read back from the workbook (so edits count),
the reference is recomputed from them, an engine recalculates every formula cell of the file,
and each cell is compared with the reference value at its address (|got - want| ≤ 1e-12 +
1e-9·|want|). Beyond values, a cell is reported when its formula text is not what the generator
would write, its cached value disagrees with the recalculation, it maps to no quantity, an
expected formula is missing, or it holds an error value. Problems are listed cause first, and a
whole class of them with one cause (no cached value anywhere) is one line with its count.

Here: `verify` itself (read, rebuild, recalculate, judge). `report` holds the report, `compare`
the judging, `engines` the recalculation by each engine; their public names are importable from
here too.
"""

from __future__ import annotations

import contextlib
import gc
import time
from pathlib import Path
from typing import Callable, Iterator

from blueprint.readback import Cells, read_cells, read_config, read_inputs
from blueprint.verify.compare import ATOL, RTOL, Check, Expectations, agree, cause_first, collapse, compare, expect, judge
from blueprint.verify.engines import ENGINES, recalculate
from blueprint.verify.report import CLASSES, COLUMNS, KINDS, Problem, SheetStats, VerifyReport, counted
from blueprint.workbook import Blueprint, build

__all__ = ["ATOL", "CLASSES", "COLUMNS", "ENGINES", "KINDS", "RTOL", "Check", "Expectations", "Problem", "SheetStats", "VerifyReport",
           "agree", "cause_first", "collapse", "compare", "counted", "expect", "judge", "recalculate", "verify"]


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
    say(f"verify: rebuilding the reference for B={config.B}, T={config.T}, H={config.H} from the workbook's config and inputs")
    return build(config, read_inputs(cells, layout, config))
