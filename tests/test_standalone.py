"""The repository stands on its own: a clone with nothing beside it collects and passes.

Everything the code, tests, README and docs point a reader to lives inside the repository
(docs/, tests/data/); no tracked file reaches outside it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OUTSIDE = re.compile(r"\.\./" + "shared")  # split so this file does not match itself
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")


def tracked_files() -> list[Path]:
    """The files a clone gets: `git ls-files`, or every file but caches and venvs when this is no git checkout."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
        return [ROOT / name for name in out.decode().split("\0") if name and (ROOT / name).is_file()]
    except (OSError, subprocess.CalledProcessError):
        skip = {".git", "__pycache__", ".pytest_cache", ".hypothesis", "output"}
        return [p for p in ROOT.rglob("*") if p.is_file() and not skip & set(p.relative_to(ROOT).parts)
                and not p.relative_to(ROOT).parts[0].startswith(".venv")]


def _text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None  # pictures


def test_no_tracked_file_points_outside_the_repository() -> None:
    offenders = [f"{p.relative_to(ROOT)}:{n}" for p in tracked_files() if (text := _text(p)) is not None
                 for n, line in enumerate(text.splitlines(), 1) if OUTSIDE.search(line)]
    assert not offenders, f"these lines point outside the repository: {offenders}"


def test_every_relative_markdown_link_resolves_inside_the_repository() -> None:
    broken = []
    for p in tracked_files():
        if p.suffix != ".md":
            continue
        for target in MARKDOWN_LINK.findall(p.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:|#", target):
                continue  # a URL or an anchor
            resolved = (p.parent / target.split("#")[0]).resolve()
            if not resolved.is_relative_to(ROOT) or not resolved.exists():
                broken.append(f"{p.relative_to(ROOT)} -> {target}")
    assert not broken, f"broken or outside links: {broken}"


@pytest.mark.slow
def test_a_clone_with_nothing_beside_it_collects_and_passes_the_data_tests(tmp_path: Path) -> None:
    """Copy exactly the tracked files into an empty folder; pytest collects everything there without one
    error, and the tests that read data files (the golden case) pass from the copy's own modules."""
    repo = tmp_path / "clone" / "repo"  # tmp_path/clone holds nothing but the repository
    for src in tracked_files():
        dst = repo / src.relative_to(ROOT)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
    run = lambda *args: subprocess.run([sys.executable, *args], cwd=repo, capture_output=True, text=True, timeout=600)  # noqa: E731
    where = run("-c", "import blueprint, reference, sheets; print(blueprint.__file__, reference.__file__, sheets.__file__)")
    assert all(Path(f).is_relative_to(repo) for f in where.stdout.split()), where.stdout + where.stderr
    collected = run("-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider")
    assert collected.returncode == 0, collected.stdout[-3000:] + collected.stderr[-2000:]
    count = int(re.search(r"(\d+) tests? collected", collected.stdout)[1])
    assert count > 800, collected.stdout[-500:]
    passed = run("-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_reference_golden.py", "tests/test_conventions.py",
                 "-k", "golden or switch_functions")
    assert passed.returncode == 0, passed.stdout[-3000:] + passed.stderr[-2000:]
    assert re.search(r"(\d{2,}) passed", passed.stdout), passed.stdout[-500:]
