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

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from blueprint.errors import BlueprintError

__all__ = ["convert", "convert_all", "find_soffice", "recalculate", "recalculated_values"]

_PROFILE_XCU = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry"
           xmlns:xs="http://www.w3.org/2001/XMLSchema"
           xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>0</value></prop></item>
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="ODFRecalcMode" oor:op="fuse"><value>0</value></prop></item>
<item oor:path="/org.openoffice.Office.Calc/Formula/Calculation"><prop oor:name="UseThreadedCalculationForFormulaGroups" oor:op="fuse"><value>false</value></prop></item>
</oor:items>
"""

_INSTALL_HINT = "install it with: apt-get install -y --no-install-recommends libreoffice-calc-nogui"


def find_soffice() -> str | None:
    """Return the path of the LibreOffice executable (``soffice`` or ``libreoffice``), or None."""
    for name in ("soffice", "libreoffice"):
        path = shutil.which(name)
        if path:
            return path
    return None


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
    pairs = [(Path(src), Path(dst)) for src, dst in pairs]
    soffice = find_soffice()
    if soffice is None:
        raise BlueprintError(f"LibreOffice (soffice) not found on PATH; {_INSTALL_HINT}")
    for src, _ in pairs:
        if not src.is_file():
            raise BlueprintError(f"{src}: workbook not found")
    names = ", ".join(str(src) for src, _ in pairs)

    with tempfile.TemporaryDirectory(prefix="blueprint-lo-") as tmp_name:
        tmp = Path(tmp_name)
        profile, indir, outdir = tmp / "profile", tmp / "in", tmp / "out"
        _write_profile(profile)
        indir.mkdir()
        outdir.mkdir()
        # Fixed plain input names avoid surprises with spaces/unicode in the user's path
        # and tell us exactly which output files to expect.
        books = [indir / f"book{k}.xlsx" for k in range(len(pairs))]
        for (source, _), book in zip(pairs, books):
            shutil.copyfile(source, book)
        cmd = [
            soffice,
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless",
            "--invisible",
            "--nologo",
            "--nodefault",
            "--norestore",
            "--nolockcheck",
            "--convert-to",
            target,
            "--outdir",
            str(outdir),
            *map(str, books),
        ]
        env = {**os.environ, "SC_NO_THREADED_CALCULATION": "1", "HOME": str(tmp)}
        # soffice is a wrapper script that forks soffice.bin: run it in its own session so a
        # timeout kills the whole process group, not just the wrapper.
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        try:
            output, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise BlueprintError(
                f"{names}: LibreOffice {what} timed out after {timeout:g} s; "
                "raise the timeout or check that no soffice process is hung"
            ) from None
        results = [outdir / f"{book.stem}.{target.partition(':')[0]}" for book in books]
        if any(not result.is_file() or result.stat().st_size == 0 for result in results):
            detail = " ".join(output.decode(errors="replace").split())[:300]
            raise BlueprintError(
                f"{names}: LibreOffice produced no {made} file "
                f"(exit code {proc.returncode}{'; ' + detail if detail else ''}); "
                "check that the file is a valid .xlsx"
            )
        for (_, dst), result in zip(pairs, results):
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(result), str(dst))


def recalculated_values(src: Path, timeout: float = 300) -> dict[tuple[str, str], object]:
    """Return ``{(sheet, "B7"): value}`` as LibreOffice computes it, for every formula cell of ``src``.

    The formula cells are found in ``src`` itself (not in LibreOffice's output), so a cell that
    LibreOffice drops or leaves empty shows up as None rather than silently disappearing.
    Error values are returned as the strings openpyxl gives (``'#VALUE!'``, ``'#NAME?'``, ...);
    callers must treat any such string as a failure.
    """
    from openpyxl import load_workbook
    from openpyxl.worksheet.formula import ArrayFormula

    src = Path(src)
    formulas = load_workbook(src, data_only=False, read_only=True)
    try:
        cells: list[tuple[str, str]] = [
            (ws.title, cell.coordinate)
            for ws in formulas.worksheets
            for row in ws.iter_rows()
            for cell in row
            if cell.data_type == "f" or isinstance(cell.value, ArrayFormula)  # text that starts with `=` is text
        ]
    finally:
        formulas.close()

    with tempfile.TemporaryDirectory(prefix="blueprint-recalc-") as tmp:
        out = Path(tmp) / "recalculated.xlsx"
        recalculate(src, out, timeout=timeout)
        values = load_workbook(out, data_only=True)
        try:
            return {(sheet, ref): values[sheet][ref].value for sheet, ref in cells}
        finally:
            values.close()
