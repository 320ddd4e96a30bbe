"""Recalculate a workbook in LibreOffice headless and read the values back.

Our workbooks carry a cached value next to every formula. A second, independent engine
must recompute them so that tests can compare LibreOffice with the NumPy reference. Plain
``soffice --convert-to`` is not enough; these traps were measured (docs/excel_notes.md, section 4):

* ``--convert-to`` keeps the cached values unless the profile sets
  ``Formula/Load/OOXMLRecalcMode = 0`` (always recalculate on load).
* Threaded formula-group calculation gave WRONG results on big workbooks, so it is turned
  off twice: in the profile and with ``SC_NO_THREADED_CALCULATION=1``.
* Two soffice processes sharing a profile collide, so every call gets its own temporary
  profile through ``-env:UserInstallation``.
* Values come back through xlsx with about 15 significant digits: compare with a relative
  tolerance (1e-9), never bit equality.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from blueprint import a1 as A1
from blueprint import external

__all__ = ["convert", "convert_all", "find_soffice", "recalculate", "recalculated_cells", "recalculated_values"]

_PROFILE_XCU = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry"
           xmlns:xs="http://www.w3.org/2001/XMLSchema"
           xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>0</value></prop></item>
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="ODFRecalcMode" oor:op="fuse"><value>0</value></prop></item>
<item oor:path="/org.openoffice.Office.Calc/Formula/Calculation"><prop oor:name="UseThreadedCalculationForFormulaGroups" oor:op="fuse"><value>false</value></prop></item>
</oor:items>
"""

LIBREOFFICE = external.Program("LibreOffice", ("soffice", "libreoffice"), "libreoffice-calc-nogui",
                               env=(("SC_NO_THREADED_CALCULATION", "1"),))


def find_soffice() -> str | None:
    """Return the path of the LibreOffice executable (``soffice`` or ``libreoffice``), or None."""
    return LIBREOFFICE.find()


def _write_profile(profile: Path) -> None:
    """Create a private LibreOffice profile that always recalculates, single-threaded."""
    user = profile / "user"
    user.mkdir(parents=True, exist_ok=True)
    (user / "registrymodifications.xcu").write_text(_PROFILE_XCU, encoding="utf-8")


def recalculate(src: Path, dst: Path, timeout: float = 300) -> None:
    """Save at ``dst`` a copy of ``src`` whose formulas LibreOffice has recalculated.

    The conversion happens in a temporary directory (private profile, copied input, output)
    and the result is moved into place only when complete, so a failed or timed-out run never
    leaves a half-written ``dst``. Raises BlueprintError if soffice is missing, times out,
    fails, or produces no file.
    """
    _convert([(src, dst)], "xlsx:Calc MS Excel 2007 XML", "recalculation", "recalculated", timeout)


def convert(src: Path, dst: Path, target: str = "pdf", timeout: float = 300) -> None:
    """Save at ``dst`` what ``soffice --convert-to target`` makes of ``src`` (recalculated first).

    ``target`` is a LibreOffice filter spec such as ``"pdf"`` or ``"ods"``; the same private
    profile, timeout and atomic move as ``recalculate``. Used by ``docs/render.py``.
    """
    convert_all([(src, dst)], target, timeout)


def convert_all(pairs: list[tuple[Path, Path]], target: str = "pdf", timeout: float = 300) -> None:
    """`convert` for several (src, dst) pairs in one soffice run: LibreOffice starts once (seconds) for all."""
    _convert(pairs, target, "conversion", target.partition(":")[0], timeout)


def _convert(pairs: list[tuple[Path, Path]], target: str, what: str, made: str, timeout: float) -> None:
    soffice = find_soffice()

    def command(tmp: Path, books: list[Path], outdir: Path) -> list[str]:
        profile = tmp / "profile"  # private: two soffice processes sharing a profile collide
        _write_profile(profile)
        return [soffice, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--invisible", "--nologo", "--nodefault",
                "--norestore", "--nolockcheck", "--convert-to", target, "--outdir", str(outdir), *map(str, books)]

    external.run(LIBREOFFICE, soffice, pairs, command, target.partition(":")[0], what, made, timeout)


def recalculated_cells(src: Path, formulas: dict | None = None, timeout: float = 300) -> dict[tuple[str, int, int], Any]:
    """``{(sheet, row, col): value}`` as LibreOffice computes it, for every formula cell of ``src`` (0-based row and col).

    ``formulas``: the cells of ``src`` as ``readback.load_cells`` read them (read here when None).
    A cell LibreOffice drops or leaves empty is None; error values are ``ErrorValue`` (``'#VALUE!'``,
    ``'#NAME?'``, ...): callers must treat any error value they did not ask for as a failure.
    """
    return external.recalculated_cells(src, partial(recalculate, timeout=timeout), formulas)


def recalculated_values(src: Path, timeout: float = 300) -> dict[tuple[str, str], object]:
    """`recalculated_cells` keyed by ``(sheet, "B7")``."""
    return {(sheet, A1.cell(r, c)): v for (sheet, r, c), v in recalculated_cells(src, timeout=timeout).items()}
