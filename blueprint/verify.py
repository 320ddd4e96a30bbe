"""`blueprint verify`: recalculate a workbook and prove every formula cell against the reference.

Contract (docs/design.md §6): config and inputs are read back from the workbook (so edits count),
the reference is recomputed from them, an engine recalculates every formula cell of the file,
and each cell is compared with the reference value at its address (|got - want| ≤ 1e-12 +
1e-9·|want|). Beyond values, a cell is reported when its formula text is not what the generator
would write, its cached value disagrees with the recalculation, it maps to no quantity, an
expected formula is missing, or it holds an error value.
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
import sys
import time
import warnings
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from xlsxwriter.utility import xl_rowcol_to_cell

from blueprint.layout import SHEETS
from blueprint.readback import Cells, read_cells, read_config, read_inputs
from blueprint.workbook import Blueprint, Cell, build

if TYPE_CHECKING:
    from blueprint.fastcalc import Channel

ATOL, RTOL = 1e-12, 1e-9
ENGINES = ("formulas", "formulas-stock", "libreoffice")
TWO_PROCESS_BYTES = 256 * 1024  # medium (5k formula cells) is 120 kB, large (27k) 540 kB
WORKER_TIMEOUT = 120.0  # seconds without a word from the worker before this process goes on alone (xl: ~1.5 s at most)

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
           parallel: bool | None = None) -> VerifyReport:
    """Check every formula cell of the workbook at `path`; see the module docstring.

    parallel: with the default engine on Linux, a forked worker plans the recalculation while
    this process rebuilds the reference, then the two run it, half of every dependency level
    each (`_two_processes`): 1.2-1.5x faster on two cores from ~25k formula cells, slower below
    ~10k (a level's swap costs more than its half). None: only for files over TWO_PROCESS_BYTES.
    The report is the same either way.
    """
    t0 = time.perf_counter()
    path = Path(path)
    if parallel is None:
        parallel = path.is_file() and path.stat().st_size > TWO_PROCESS_BYTES
    say = progress or (lambda _msg: None)
    with _without_gc() if engine == "formulas" else contextlib.nullcontext():  # stock makes garbage cycles by the million
        if parallel and engine == "formulas" and sys.platform.startswith("linux"):
            cells, bp, recalc = _two_processes(path, say)
        else:
            cells = _read(path, say)
            bp = _build(cells, say)
            recalc = recalculate(path, engine, cells, progress)
        if cells.renamed:
            back = {actual: sheet for sheet, actual in cells.renamed.items()}
            recalc = {(back.get(sh, sh), r, c): v for (sh, r, c), v in recalc.items()}
        say(f"verify: comparing {len(recalc)} recalculated cells with the reference")
        report = judge(expect(bp, cells), recalc, str(path), engine)
    report.seconds = time.perf_counter() - t0
    return report


@contextlib.contextmanager
def _without_gc() -> Iterator[None]:
    """No cyclic garbage collection while verifying: the run makes ~10^6 short-lived objects and
    no garbage cycles to speak of, and full collections over its large heap cost ~10% of the time.
    Frozen first, so a forked worker does not copy its parent's pages by touching them (gc.freeze docs)."""
    was_enabled = gc.isenabled()
    gc.disable()
    gc.freeze()
    try:
        yield
    finally:
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


def _two_processes(path: Path, say: Callable[[str], None]) -> tuple[Cells, Blueprint, dict]:
    """Read the file and rebuild the reference here while a forked worker plans the recalculation, then run it together.

    The worker reads the file too, cuts the formulas into shapes (sent at once: this process
    compiles them while the worker levels the formulas) and levels (fastcalc.plan), sends the
    plan and becomes the helper of `fastcalc.run` (fastcalc.assist), taking half of every level.
    Should the worker fail, this process makes the plan and runs it alone.
    """
    import multiprocessing

    from blueprint.fastcalc import Channel, Plan, compile_shapes, plan, run

    ctx = multiprocessing.get_context("fork")
    mine, theirs = ctx.Pipe()
    process = ctx.Process(target=_worker, args=(path, Channel(theirs, background=True)), daemon=True, name="blueprint-verify-worker")
    with warnings.catch_warnings():
        # Python >= 3.12 warns when forking a process that has threads (here: numpy's BLAS pool). The
        # worker only parses XML and runs the package's functions on object arrays: it never enters BLAS.
        warnings.filterwarnings("ignore", message=r".*use of fork\(\) may lead to deadlocks", category=DeprecationWarning)
        process.start()
    theirs.close()
    worker = _Worker(Channel(mine))
    try:
        cells = _read(path, say)
        bp = _build(cells, say)
        say("verify: waiting for the worker's shapes and plan")
        shapes = worker.receive(list)
        if shapes is not None:
            say(f"verify: compiling {len(shapes)} formula shapes while the worker levels the formulas")
        programs = None if shapes is None else compile_shapes(shapes)
        the_plan = worker.receive(Plan) if shapes is not None else None
        if the_plan is None:
            the_plan, worker, programs = plan(cells.file_values, cells.names, say), None, None
        return cells, bp, run(the_plan, say, worker, programs)
    except BaseException:
        process.kill()  # a bad config value, Ctrl-C, ...: the worker's work is moot
        raise
    finally:
        mine.close()
        process.join(timeout=2)  # a worker that is done leaves at once (os._exit); one that is not is stuck
        if process.is_alive():
            process.kill()
            process.join()


class _Worker:
    """The forked worker as seen from here: it sends its shapes and its plan, then is fastcalc's Helper."""

    def __init__(self, conn: Channel):
        self.conn = conn
        self.joined = self.gone = False

    def receive(self, kind: type) -> Any:
        """The worker's next message if it is a `kind` (its shapes, then its plan), or None when it failed."""
        try:
            got = self.recv()
        except (EOFError, OSError):  # TimeoutError included
            return None
        return got if isinstance(got, kind) else None

    def ready(self) -> bool:
        if not self.joined and not self.gone and self.conn.poll():
            try:
                self.joined = self.conn.recv() == "ready"
            except (EOFError, OSError):
                pass
            self.gone = not self.joined  # anything but "ready" (None: it failed) is its last word
        return self.joined

    def send(self, obj: Any) -> None:
        self.conn.send(obj)

    def recv(self) -> Any:
        """The next message; TimeoutError when none comes within WORKER_TIMEOUT (a worker that hangs is a
        worker that failed: fastcalc.run then does its share, as for one that died)."""
        if not self.conn.poll(WORKER_TIMEOUT):
            raise TimeoutError(f"the verify worker said nothing for {WORKER_TIMEOUT} s")
        return self.conn.recv()


def _worker(path: Path, conn: Channel) -> None:
    from blueprint.fastcalc import assist, plan

    try:
        cells = read_cells(path)
        the_plan = plan(cells.file_values, cells.names, on_shapes=conn.send)
        del cells
        conn.send(the_plan)
        assist(conn, the_plan)
    except BaseException:  # noqa: BLE001 - the main process plans and runs alone, and meets any error itself
        with contextlib.suppress(OSError):  # the main process may have gone already
            conn.send(None)
    conn.close()
    os._exit(0)  # now: freeing a million objects one by one would keep the main process waiting in join()


def expect(bp: Blueprint, cells: Cells) -> Expectations:
    """What each formula cell of the file should be: the rows `judge` checks recalculated values against."""
    expected = bp.by_address()
    problems = [Problem("sheet-renamed", sheet, "A1", "", "", sheet, actual) for sheet, actual in cells.renamed.items()]
    problems += [Problem("sheet-missing", sheet, "A1", "", "", sheet, None) for sheet in cells.missing]
    order = {sheet: i for i, sheet in enumerate(SHEETS)}
    found = sorted((order.get(key[0], 99), key) for key, v in cells.values.items() if isinstance(v, str) and v.startswith("="))
    checks: list[Check] = []
    for _, key in found:
        want = expected.get(key)
        checks.append((*key, cells.values[key], want if want is not None and want.kind == "formula" else None, cells.cached.get(key)))
    present = {check[:3] for check in checks if check[4] is not None}
    missing = [Problem("missing-formula", cell.sheet, xl_rowcol_to_cell(cell.row, cell.col), _quantity_name(cell), "", cell.formula,
                       cells.get(cell.sheet, cell.row, cell.col))
               for cell in bp.formula_cells() if (cell.sheet, cell.row, cell.col) not in present and cell.sheet not in cells.missing]
    return Expectations(problems, checks, missing)


def judge(exp: Expectations, recalc: dict, path: str, engine: str) -> VerifyReport:
    """The report: each Check against the recalculated value at its cell (keyed by blueprint sheet names)."""
    report = VerifyReport(path, engine, {s: SheetStats() for s in SHEETS}, list(exp.problems))
    add = report.problems.append
    stats, real = SheetStats(), (float, int)
    for sheet, r, c, formula, cell, cache in exp.checks:
        if stats is not report.sheets.get(sheet):
            stats = report.sheets.setdefault(sheet, SheetStats())
        stats.found += 1
        got = recalc.get((sheet, r, c))
        if cell is None:
            add(Problem("unmapped", sheet, xl_rowcol_to_cell(r, c), "", formula, None, got))
            continue
        stats.checked += 1
        want = cell.value
        if type(got) in real and type(want) in real and type(cache) in real and formula == cell.formula:  # the usual case, quickly
            err = abs(got - want)
            if err <= ATOL + RTOL * abs(want) and abs(cache - got) <= ATOL + RTOL * abs(got):
                stats.agreeing += 1
                stats.max_error = max(stats.max_error, err)
                continue
        name, addr = _quantity_name(cell), xl_rowcol_to_cell(r, c)
        if got is None:
            add(Problem("no-value", sheet, addr, name, formula, want, None))
            continue
        if isinstance(got, str) and got.startswith(("#", "Err:")) and str(got) != want:  # an error not asked for (NA())
            add(Problem("error-value", sheet, addr, name, formula, want, got))
            continue
        ok, err = agree(want, got)
        if err > stats.max_error and math.isfinite(err):
            stats.max_error = err
        cache_ok = cache == str(got) if isinstance(got, str) else agree(float(got), cache)[0]
        if not ok:
            add(Problem("value", sheet, addr, name, formula, want, got))
        if formula != cell.formula:
            add(Problem("formula-text", sheet, addr, name, formula, cell.formula, formula))
        if not cache_ok:
            add(Problem("no-cache" if cache is None else "stale-cache", sheet, addr, name, formula, got, cache))
        stats.agreeing += ok and formula == cell.formula and cache_ok
    report.problems += exp.missing
    formula_sheets = {p.sheet for p in exp.missing} | {check[0] for check in exp.checks}
    report.sheets = {s: st for s, st in report.sheets.items() if st.found or s in formula_sheets}
    return report


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
        from openpyxl.utils.cell import coordinate_to_tuple

        from blueprint.libreoffice import recalculated_values

        out = {}
        for (sheet, addr), v in recalculated_values(path).items():
            r, c = coordinate_to_tuple(addr)
            out[sheet, r - 1, c - 1] = v
        return out
    raise ValueError(f"engine {engine!r}: one of {', '.join(ENGINES)}")
