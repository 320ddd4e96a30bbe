"""Recalculate a workbook in Gnumeric (`ssconvert --recalc`) and read the values back: the third engine.

Gnumeric is an independent implementation of Excel's functions, in C: beside the `formulas`
package and LibreOffice it is the third engine that must land on the reference's numbers.
What was measured (ssconvert 1.12.55, Debian 12; docs/excel_notes.md, section 4b):

* ``ssconvert in.xlsx out.xlsx`` keeps the cached values; ``--recalc`` recalculates every cell
  before writing (tests/test_gnumeric_engine.py writes every cached value wrong and gets the
  right ones back).
* It reads its settings through GSettings, and with the dconf backend writes
  ``~/.cache/dconf/user``: every run gets the in-memory backend and a private HOME.
* It warns on stderr about what it does not keep (cell notes, colour scales, multi-range
  print titles), hundreds of lines for a blueprint, and exits 0; on failure it exits 1 and
  marks most errors with ``E `` (not `Loading … failed`). The warnings are dropped; a failure's
  one line quotes the ``E`` lines, or else the end of what it said.
* Values come back with 17 or more significant digits: full doubles, unlike LibreOffice's 15.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from blueprint import external

__all__ = ["find_ssconvert", "recalculate", "recalculated_cells"]

GNUMERIC = external.Program("Gnumeric", ("ssconvert",), "gnumeric", env=(("GSETTINGS_BACKEND", "memory"),),
                            errors=r"E ", exit_code_counts=True)


def find_ssconvert() -> str | None:
    """Return the path of Gnumeric's ``ssconvert``, or None."""
    return GNUMERIC.find()


def recalculate(src: Path, dst: Path, timeout: float = 300) -> None:
    """Save at ``dst`` a copy of ``src`` whose every formula Gnumeric has recalculated.

    Read as .xlsx and written as .xlsx whatever the names' suffixes say; in a private temporary
    directory, moved into place only when complete. Raises BlueprintError (one line) if ssconvert
    is missing, times out, fails or writes no file.
    """
    ssconvert = find_ssconvert()

    def command(tmp: Path, books: list[Path], outdir: Path) -> list[str]:
        return [ssconvert, "--recalc", "--import-type=Gnumeric_Excel:xlsx", "--export-type=Gnumeric_Excel:xlsx2",
                str(books[0]), str(outdir / books[0].name)]

    external.run(GNUMERIC, ssconvert, [(src, dst)], command, "xlsx", "recalculation", "recalculated", timeout)


def recalculated_cells(src: Path, formulas: dict | None = None, timeout: float = 300) -> dict[tuple[str, int, int], Any]:
    """``{(sheet, row, col): value}`` as Gnumeric computes it, for every formula cell of ``src`` (0-based row and col).

    ``formulas``: the cells of ``src`` as ``readback.load_cells`` read them (read here when None).
    A cell Gnumeric drops or leaves empty is None; error values are ``ErrorValue`` (``'#N/A'``,
    ``'#DIV/0!'``, ...): callers must treat any error value they did not ask for as a failure.
    """
    return external.recalculated_cells(src, partial(recalculate, timeout=timeout), formulas)
