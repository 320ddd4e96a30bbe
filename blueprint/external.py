"""Run a spreadsheet program (LibreOffice, Gnumeric) on copies of workbooks, and read back what it recalculated.

What both engines share, in one place: finding the program on PATH (one line saying how to
install it when it is not there), a private temporary directory per run (the inputs copied to
plain names, the program's HOME, XDG folders and settings inside it, so nothing touches the
user's home or a concurrent run), a timeout that kills the program's whole process group, one
line when the program fails or writes nothing, an output moved into place only when complete,
and reading the recalculated values back with the one reader of workbook files
(`blueprint.xlsx`, through `readback.load_cells`).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from blueprint.cellvalues import is_formula
from blueprint.errors import BlueprintError

CellKey = tuple[str, int, int]
# (a private temporary directory, the copied input workbooks in it, the folder for the results) -> the command line
Command = Callable[[Path, list[Path], Path], list[str]]


@dataclass(frozen=True)
class Program:
    """A spreadsheet program we run headless."""

    name: str  # `LibreOffice`
    executables: tuple[str, ...]  # looked for on PATH in this order: (`soffice`, `libreoffice`)
    package: str  # the Debian package that installs it
    env: tuple[tuple[str, str], ...] = ()  # set for every run, over the private HOME and XDG folders
    errors: str = ""  # a regex matching the program's error lines among its warnings ("": all it says is the detail)
    exit_code_counts: bool = False  # a non-zero exit code means failure even when a file was written

    def find(self) -> str | None:
        """The path of the program's executable, or None."""
        return next((path for name in self.executables if (path := shutil.which(name))), None)

    def missing(self) -> BlueprintError:
        return BlueprintError(f"{self.name} ({self.executables[0]}) not found on PATH; "
                              f"install it with: apt-get install -y --no-install-recommends {self.package}")


def run(program: Program, executable: str | None, pairs: list[tuple[Path, Path]], command: Command, suffix: str,
        what: str, made: str, timeout: float) -> None:
    """Run `program` on copies of the (src, dst) pairs' sources in a private temporary directory; move each result to its dst.

    `command(tmp, books, outdir)` is the command line: the sources are copied to `tmp/in/book<k>.xlsx`
    (plain names: no surprises with spaces or unicode in the user's paths, and the outputs are known),
    and the result of each is expected at `outdir/book<k>.<suffix>`. Raises BlueprintError (one line)
    when the program is missing (`executable` None), a source is not a file, the run times out, fails
    or writes no file; a dst is then never half-written. `what` names the job in messages
    (`recalculation`), `made` its product (`recalculated`).
    """
    pairs = [(Path(src), Path(dst)) for src, dst in pairs]
    if executable is None:
        raise program.missing()
    for src, _ in pairs:
        if not src.is_file():
            raise BlueprintError(f"{src}: workbook not found")
    names = ", ".join(str(src) for src, _ in pairs)
    with tempfile.TemporaryDirectory(prefix=f"blueprint-{program.executables[0]}-") as tmp_name:
        tmp = Path(tmp_name)
        indir, outdir = tmp / "in", tmp / "out"
        indir.mkdir()
        outdir.mkdir()
        books = [indir / f"book{k}.xlsx" for k in range(len(pairs))]
        for (src, _), book in zip(pairs, books):
            shutil.copyfile(src, book)
        code, output = _run(command(tmp, books, outdir), _private_env(tmp, program), timeout,
                            f"{names}: {program.name} {what} timed out after {timeout:g} s; "
                            f"raise the timeout or check that no {program.executables[0]} process is hung")
        results = [outdir / f"{book.stem}.{suffix}" for book in books]
        if (program.exit_code_counts and code != 0) or any(not r.is_file() or r.stat().st_size == 0 for r in results):
            detail = _detail(output, program.errors)
            raise BlueprintError(f"{names}: {program.name} produced no {made} file (exit code {code}{'; ' + detail if detail else ''}); "
                                 "check that the file is a valid .xlsx")
        for (_, dst), result in zip(pairs, results):
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(result), str(dst))


def _private_env(tmp: Path, program: Program) -> dict[str, str]:
    """The environment of a run: HOME and the XDG folders inside the private directory, then the program's own settings."""
    return {**os.environ, "HOME": str(tmp), "XDG_CONFIG_HOME": str(tmp / ".config"), "XDG_CACHE_HOME": str(tmp / ".cache"),
            "XDG_DATA_HOME": str(tmp / ".local" / "share"), **dict(program.env)}


def _run(cmd: list[str], env: dict[str, str], timeout: float, timed_out: str) -> tuple[int, str]:
    """Exit code and output (stdout and stderr together) of `cmd`, run in its own session so that a timeout kills the
    whole process group (soffice is a wrapper script that forks soffice.bin), not only the process started."""
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise BlueprintError(timed_out) from None
    return proc.returncode, output.decode(errors="replace")


def _detail(output: str, errors: str, most: int = 300) -> str:
    """What the program said about its failure, on one line: the lines it marks as errors; when it marks
    none (or marks no lines at all), the end of what it said (the start, for a program that marks none)."""
    said = " ".join(output.split())
    if not errors:
        return said[:most]
    marked = " ".join(" ".join(line for line in output.splitlines() if re.match(errors, line)).split())
    return marked[:most] if marked else said[-most:]


def recalculated_cells(src: Path, recalculate: Callable[[Path, Path], None], formulas: dict[CellKey, Any] | None = None
                       ) -> dict[CellKey, Any]:
    """Every formula cell of `src` -> the value the program computed there, keyed by (the file's sheet name, row, col).

    `recalculate(src, dst)` writes the recalculated copy; its values are read back with the reader the
    verifier reads `src` with (cached values of formula cells; a constant where the program left one).
    The formula cells are those of `src` itself (`formulas`: its cells, as `readback.load_cells` read
    them, or read here), so a cell the program drops or leaves empty comes back as None rather than
    silently disappearing. Error values come back as `ErrorValue` (`#N/A`, `#DIV/0!`, ...), text as str.
    """
    from blueprint.readback import load_cells

    if formulas is None:
        formulas = load_cells(src).values
    keys = [key for key, v in formulas.items() if is_formula(v)]
    with tempfile.TemporaryDirectory(prefix="blueprint-recalc-") as tmp:
        out = Path(tmp) / "recalculated.xlsx"
        recalculate(Path(src), out)
        got = load_cells(out)
    return {key: got.cached[key] if key in got.cached else got.values.get(key) for key in keys}
