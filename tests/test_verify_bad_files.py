"""Untrusted files: each is refused with one line and exit code 2, quickly, with bounded memory."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter

from blueprint.cli import main


def run_verify(path: Path) -> tuple[int, str, str]:
    """`blueprint verify PATH` in a fresh process: exit code, stdout, stderr."""
    proc = subprocess.run([sys.executable, "-m", "blueprint.cli", "verify", str(path)], capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


def rewrite_member(src: Path, dst: Path, member: str, transform) -> None:  # noqa: ANN001
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            zout.writestr(info, transform(data) if info.filename == member else data)


def bad_files(tmp: Path, small: Path) -> dict[str, Path]:
    files = {}
    files["empty"] = tmp / "empty.xlsx"
    files["empty"].write_bytes(b"")
    files["random-bytes"] = tmp / "random.xlsx"
    files["random-bytes"].write_bytes(os.urandom(4096))
    files["truncated"] = tmp / "truncated.xlsx"
    files["truncated"].write_bytes(small.read_bytes()[: small.stat().st_size // 2])
    files["text"] = tmp / "text.xlsx"
    files["text"].write_text("sheet,value\nConfig,1\n")
    files["no-config"] = tmp / "other.xlsx"
    wb = xlsxwriter.Workbook(files["no-config"])
    wb.add_worksheet("Data").write_formula("A1", "=1+1", None, 2)
    wb.close()
    files["zip-not-xlsx"] = tmp / "plain.xlsx"
    with zipfile.ZipFile(files["zip-not-xlsx"], "w") as z:
        z.writestr("hello.txt", "hi")
    files["archive-bomb"] = tmp / "bomb.xlsx"
    with zipfile.ZipFile(small) as zin, zipfile.ZipFile(files["archive-bomb"], "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info, zin.read(info))
        with zout.open("xl/worksheets/sheet99.xml", "w", force_zip64=True) as big:  # 256 MB of zeros packs to ~250 kB
            chunk = b"\0" * 2**20
            for _ in range(256):
                big.write(chunk)
    xxe = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    files["xml-external-entity"] = tmp / "xxe.xlsx"
    rewrite_member(small, files["xml-external-entity"], "xl/workbook.xml", lambda d: xxe + d.split(b"?>", 1)[1])
    lol = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    files["billion-laughs"] = tmp / "lol.xlsx"
    rewrite_member(small, files["billion-laughs"], "xl/worksheets/sheet2.xml", lambda d: lol + d.split(b"?>", 1)[1])
    files["late-doctype"] = tmp / "late-doctype.xlsx"  # a DOCTYPE may follow any amount of comment
    rewrite_member(small, files["late-doctype"], "xl/worksheets/sheet2.xml",
                   lambda d: b'<?xml version="1.0"?><!--' + b"x" * 8192 + b"-->" + lol.split(b"?>", 1)[1] + d.split(b"?>", 1)[1])
    files["damaged-cell"] = tmp / "damaged-cell.xlsx"
    rewrite_member(small, files["damaged-cell"], "xl/worksheets/sheet2.xml", lambda d: d.replace(b'r="B5"', b'r="B9"', 1))
    files["missing-sheet-part"] = tmp / "missing-part.xlsx"  # workbook.xml lists Ratio, its part is gone
    with zipfile.ZipFile(small) as zin, zipfile.ZipFile(files["missing-sheet-part"], "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if info.filename != "xl/worksheets/sheet9.xml":
                zout.writestr(info, zin.read(info))
    files["unparsable-strings"] = tmp / "bad-strings.xlsx"
    rewrite_member(small, files["unparsable-strings"], "xl/sharedStrings.xml", lambda d: d[: len(d) // 2])
    files["external-formula"] = tmp / "external.xlsx"
    wb = openpyxl.load_workbook(small)
    wb["Total"]["B5"] = "='[other.xlsx]Config'!B2*2"
    wb.save(files["external-formula"])
    files["external-name"] = tmp / "external-name.xlsx"
    wb = openpyxl.load_workbook(small)
    wb.defined_names["elsewhere"] = openpyxl.workbook.defined_name.DefinedName("elsewhere", attr_text="[1]Config!$B$2")
    wb.save(files["external-name"])
    files["macro"] = tmp / "macro.xlsx"
    with zipfile.ZipFile(small) as zin, zipfile.ZipFile(files["macro"], "w") as zout:
        for info in zin.infolist():
            zout.writestr(info, zin.read(info))
        zout.writestr("xl/vbaProject.bin", b"\0" * 64)
    files["missing"] = tmp / "does-not-exist.xlsx"
    files["folder"] = tmp / "a-folder"
    files["folder"].mkdir()
    files["device"] = Path(os.devnull)
    return files


EXPECTED = {
    "empty": "empty", "random-bytes": "not an .xlsx", "truncated": "not an .xlsx", "text": "not an .xlsx",
    "no-config": "sheet 'Config' is missing", "zip-not-xlsx": "not an .xlsx workbook", "archive-bomb": "archive bomb",
    "xml-external-entity": "ENTITY", "billion-laughs": "ENTITY", "external-formula": "another workbook",
    "external-name": "another workbook", "macro": "macros", "missing": "no such file",
    "late-doctype": "DOCTYPE", "damaged-cell": "cell reference 'B9' in row 5",
    "missing-sheet-part": "sheet 'Ratio': its part xl/worksheets/sheet9.xml is missing from the archive",
    "unparsable-strings": "cannot read the workbook (ParseError",
    "folder": "is a folder, not a workbook; give the path of the .xlsx",
    "device": "is not a regular file",
}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, small_path: Path) -> dict[str, Path]:
    return bad_files(tmp_path_factory.mktemp("bad"), small_path)


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_bad_file_is_one_line_exit_2(kind: str, files: dict[str, Path]) -> None:
    code, out, err = run_verify(files[kind])
    assert code == 2, (out, err)
    assert out == ""
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert EXPECTED[kind] in err, err
    assert str(files[kind]) in err


def test_bad_files_take_bounded_memory(files: dict[str, Path]) -> None:
    """Every refusal happens before anything is inflated or parsed: the process stays small."""
    # VmHWM is the peak RSS of this address space; ru_maxrss would carry over the forking pytest's size
    code = (
        "import re, sys\n"
        "from blueprint.cli import main\n"
        "for p in sys.argv[1:]:\n"
        "    assert main(['verify', p]) == 2\n"
        "    status = open('/proc/self/status').read()\n"
        "    print(p, re.search(r'VmHWM:\\s+(\\d+) kB', status).group(1))\n"
    )
    paths = [str(files[k]) for k in ("archive-bomb", "xml-external-entity", "billion-laughs", "random-bytes", "truncated")]
    proc = subprocess.run([sys.executable, "-c", code, *paths], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    peak_mb = int(proc.stdout.strip().splitlines()[-1].split()[-1]) / 1024
    assert peak_mb < 200, f"peak RSS {peak_mb:.0f} MB after: {proc.stdout}"  # inflating the bomb alone would take 256 MB


def test_in_process_bad_file_returns_2(files: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    assert main(["verify", str(files["archive-bomb"])]) == 2
    assert "archive bomb" in capsys.readouterr().err



@pytest.mark.parametrize("sheet, quantity, idx, value, needle", [
    ("Config", "gamma", (), 1.5, "gamma"),
    ("Config", "kl_estimator", (), "k4", "kl_estimator"),
    ("Weights", "old.W_hh", (0, 0), "oops", "old.W_hh"),
    ("Rollout", "draws", (0, 0), 1.5, "draws"),
    ("Rollout", "prompts", (0, 0), 99, "prompts"),
])
def test_unusable_values_in_the_workbook_are_one_line_exit_2(sheet: str, quantity: str, idx: tuple, value: object, needle: str,
                                                             small_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from blueprint.readback import read_blueprint

    layout = read_blueprint(small_path)[2]
    wb = openpyxl.load_workbook(small_path)
    r, c = layout.block(sheet, quantity).pos(idx)
    wb[sheet].cell(r + 1, c + 1).value = value
    path = tmp_path / "edited.xlsx"
    wb.save(path)
    assert main(["verify", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err and "Traceback" not in err, err
    if sheet == "Config":
        assert layout.cell(sheet, quantity) in err  # where to fix it


def test_a_folder_names_the_workbooks_it_holds(small_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["verify", str(small_path.parent)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a folder" in err and f"e.g. {small_path}" in err, err


def with_number_text(src: Path, dst: Path, sheet: str, addr: str, text: str) -> Path:
    """A copy of the blueprint at `src` whose cell `sheet!addr` holds `<v>text</v>`, as other tools write inf and nan."""
    import re

    from blueprint.layout import SHEETS

    def edit(data: bytes) -> bytes:
        out, n = re.subn(rb'(<c r="' + addr.encode() + rb'"[^>]*>(?:<f>[^<]*</f>)?<v>)[^<]*(</v>)', rb"\g<1>" + text.encode() + rb"\g<2>", data)
        assert n == 1, f"{sheet}!{addr} is not a number cell of the part"
        return out

    rewrite_member(src, dst, f"xl/worksheets/sheet{SHEETS.index(sheet) + 1}.xml", edit)
    return dst


@pytest.mark.parametrize("text", ["inf", "-inf", "nan", "INF", "NaN"])
def test_a_non_finite_cached_value_is_reported_at_its_cell(text: str, small_path: Path, tmp_path: Path) -> None:
    path = with_number_text(small_path, tmp_path / "cached.xlsx", "Total", "B5", text)
    code, out, err = run_verify(path)
    assert (code, err) == (1, ""), (out, err)
    problems = [line for line in out.splitlines() if line.startswith("Total!")]
    assert len(problems) == 1 and problems[0].startswith("Total!B5 total_loss: non-finite-cache: cached value is not a finite number"), out
    assert f"got {float(text)!r}" in problems[0], problems[0]


@pytest.mark.parametrize("sheet, quantity, idx, text", [
    ("Weights", "old.W_hh", (0, 0), "inf"),
    ("Config", "beta", (), "-inf"),
    ("Rollout", "draws", (1, 0), "nan"),
])
def test_a_non_finite_input_is_one_line_exit_2(sheet: str, quantity: str, idx: tuple, text: str, small_path: Path, tmp_path: Path) -> None:
    from blueprint.readback import read_blueprint

    layout = read_blueprint(small_path)[2]
    path = with_number_text(small_path, tmp_path / "input.xlsx", sheet, layout.cell(sheet, quantity, *idx).split("!")[-1], text)
    code, out, err = run_verify(path)
    assert code == 2 and out == "", (out, err)
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert f"{layout.cell(sheet, quantity, *idx)} ({quantity}) holds {float(text)!r}, not a finite number; put a finite number there" in err, err


def test_an_optimizer_state_that_overflows_the_step_is_one_line_exit_2(small_path: Path, tmp_path: Path) -> None:
    """Adam's first moment typed huge (v stays 0): θ' leaves what a double holds; refused naming the first cell that would."""
    from blueprint.readback import read_blueprint

    layout = read_blueprint(small_path)[2]
    path = with_number_text(small_path, tmp_path / "state.xlsx", "Step", layout.cell("Step", "m_theta.W_hy", 0, 0).split("!")[-1], "1e300")
    code, out, err = run_verify(path)
    assert code == 2 and out == "", (out, err)
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert "'After Step'!" in err and "would be inf" in err and "a smaller optimizer state on Step" in err, err


@pytest.mark.parametrize("quantity, idx, text, says", [
    ("opt_step", (), "2.5", "opt_step must be a whole number of steps, 0 or more; found 2.5"),
    ("opt_step", (), "-1", "opt_step must be a whole number of steps, 0 or more; found -1.0"),
    ("v_theta.W_hh", (0, 1), "-0.5", "(v_theta.W_hh) is a second moment, a mean of squares: it must be 0 or more; found -0.5"),
])
def test_an_impossible_optimizer_state_is_one_line_exit_2(quantity: str, idx: tuple, text: str, says: str, small_path: Path,
                                                         tmp_path: Path) -> None:
    from blueprint.readback import read_blueprint

    layout = read_blueprint(small_path)[2]
    where = layout.cell("Step", quantity, *idx)
    path = with_number_text(small_path, tmp_path / "state.xlsx", "Step", where.split("!")[-1], text)
    code, out, err = run_verify(path)
    assert code == 2 and out == "", (out, err)
    assert err.count("\n") == 1 and where in err and says in err, err


@pytest.mark.parametrize("text, found", [("1.5", "1.5"), ("-1", "-1.0")])
def test_a_group_that_names_no_prompt_is_one_line_exit_2(text: str, found: str, small_path: Path, tmp_path: Path) -> None:
    from blueprint.readback import read_blueprint

    where = read_blueprint(small_path)[2].cell("Rollout", "group", 1)
    path = with_number_text(small_path, tmp_path / "group.xlsx", "Rollout", where.split("!")[-1], text)
    code, out, err = run_verify(path)
    assert code == 2 and out == "", (out, err)
    assert err.count("\n") == 1 and where in err and f"must be a whole number, 0 or more; found {found}" in err, err
