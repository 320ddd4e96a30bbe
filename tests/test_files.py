"""Faults of the machine are not bugs of blueprint: a file that cannot be written is one line, exit
code 2, no traceback and nothing left behind; a written file has the mode any file the user writes gets."""

from __future__ import annotations

import errno
import os
import resource
import signal
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from blueprint.cli import main

CLI = [sys.executable, "-m", "blueprint.cli"]


def run_limited(args: list[str], limit: int, cwd: Path, stdout: Path | None = None) -> subprocess.CompletedProcess:
    """The CLI in a child whose files may not grow past `limit` bytes (RLIMIT_FSIZE): every write beyond it
    fails with EFBIG, "File too large", exactly as a full disk fails with ENOSPC."""
    def limit_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    out = open(stdout, "wb") if stdout else subprocess.PIPE  # noqa: SIM115 - closed below
    try:
        return subprocess.run([*CLI, *args], cwd=cwd, stdout=out, stderr=subprocess.PIPE, preexec_fn=limit_files, timeout=300)
    finally:
        if stdout:
            out.close()


def one_line(err: bytes, *needles: str) -> str:
    text = err.decode()
    assert text.count("\n") == 1 and "Traceback" not in text and "Exception ignored" not in text, text
    assert all(n in text for n in needles), text
    return text


@pytest.mark.slow
def test_a_workbook_too_large_for_the_disk_is_one_line_and_leaves_nothing(tmp_path: Path, small_path: Path) -> None:
    """The issue's case: `generate --preset large` onto 40 kB of room was exit 3 and a ZipFile traceback."""
    out = tmp_path / "out"
    out.mkdir()
    done = run_limited(["generate", "--preset", "large", "-o", str(out / "big.xlsx")], 40_000, tmp_path)
    assert done.returncode == 2
    one_line(done.stderr, "output", "big.xlsx", "cannot write (File too large)", "free some space")
    assert list(out.iterdir()) == []  # no half workbook, no temporary file


def test_a_junit_report_that_cannot_be_written_is_one_line_and_leaves_nothing(tmp_path: Path, small_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    done = run_limited(["verify", str(small_path), "--junit", str(out / "report.xml")], 200, tmp_path)
    assert done.returncode == 2
    one_line(done.stderr, "--junit", "report.xml", "cannot write (File too large)")
    assert list(out.iterdir()) == []


def test_a_json_report_that_cannot_be_written_to_stdout_is_one_line(tmp_path: Path, small_path: Path) -> None:
    done = run_limited(["verify", str(small_path), "--json"], 200, tmp_path, stdout=tmp_path / "report.json")
    assert done.returncode == 2
    one_line(done.stderr, "cannot write to standard output (File too large)")


@pytest.mark.parametrize(("code", "words"), [(errno.ENOSPC, "No space left on device"), (errno.EACCES, "Permission denied"),
                                             (errno.EROFS, "Read-only file system")])
def test_an_oserror_while_writing_is_one_line_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
                                                     code: int, words: str) -> None:
    def refuse(*args: object, **kwargs: object) -> object:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    assert main(["generate", "-o", str(tmp_path / "w.xlsx")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"cannot write ({words})" in err
    assert list(tmp_path.iterdir()) == []


def test_a_failure_after_the_temporary_file_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> None:
        raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))

    monkeypatch.setattr(os, "replace", refuse)
    assert main(["generate", "-o", str(tmp_path / "w.xlsx")]) == 2
    assert list(tmp_path.iterdir()) == []


def test_a_new_file_gets_the_mode_the_umask_gives(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        assert main(["generate", "-o", str(tmp_path / "w.xlsx")]) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "w.xlsx").stat().st_mode) == 0o640  # 0666 & ~027, not mkstemp's 0600


def test_an_overwritten_file_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "w.xlsx"
    path.write_bytes(b"old")
    path.chmod(0o664)
    assert main(["generate", "-o", str(path)]) == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o664 and path.read_bytes()[:2] == b"PK"


def test_a_read_only_file_is_not_overwritten(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "w.xlsx"
    path.write_bytes(b"keep me")
    path.chmod(0o444)
    assert main(["generate", "-o", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "read-only" in err and "chmod u+w" in err
    assert path.read_bytes() == b"keep me" and stat.S_IMODE(path.stat().st_mode) == 0o444


def test_a_read_only_junit_file_is_not_overwritten(tmp_path: Path, small_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "report.xml"
    path.write_bytes(b"keep me")
    path.chmod(0o444)
    assert main(["verify", str(small_path), "--junit", str(path)]) == 2
    assert "read-only" in capsys.readouterr().err and path.read_bytes() == b"keep me"


def test_blueprint_without_a_command_is_a_usage_error(capsys: pytest.CaptureFixture) -> None:
    assert main([]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "usage: blueprint" in err and "generate" in err
