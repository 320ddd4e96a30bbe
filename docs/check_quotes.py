"""Check every quote in blueprint/quotes.toml against the frameworks' sources at their pinned commits.

A developer script (CI has no GitHub access; tests/test_quotes.py checks the file's format offline).
Give the three git directories (a clone or a bare mirror, anything `git -C DIR show COMMIT:PATH` reads):

    python docs/check_quotes.py --trl DIR --openrlhf DIR --verl DIR
    TRL_GIT=DIR OPENRLHF_GIT=DIR VERL_GIT=DIR python docs/check_quotes.py

Each `text` (a quote, or a description's source) must occur verbatim in `path` at `commit`, starting at
`line`, compared line by line with surrounding whitespace stripped. Prints one line per failure (with the
line where the text does occur, if it moved) and a summary; exit 0 when all pass, 1 on any failure,
2 on a usage error. Standard library only.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tomllib
from pathlib import Path

QUOTES = Path(__file__).resolve().parents[1] / "blueprint" / "quotes.toml"
# repository -> (command-line option, environment variable)
REPOS = {
    "huggingface/trl": ("trl", "TRL_GIT"),
    "OpenRLHF/OpenRLHF": ("openrlhf", "OPENRLHF_GIT"),
    "volcengine/verl": ("verl", "VERL_GIT"),
}


def git_show(gitdir: str, commit: str, path: str, cache: dict) -> list[str] | str:
    """The file's lines at the commit, or an error message."""
    key = (gitdir, commit, path)
    if key not in cache:
        run = subprocess.run(["git", "-C", gitdir, "show", f"{commit}:{path}"], capture_output=True)
        if run.returncode != 0:
            cache[key] = run.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["git show failed"]
            cache[key] = f"cannot read {commit[:12]}:{path} ({cache[key][0]})"
        else:
            cache[key] = run.stdout.decode("utf-8").split("\n")
    return cache[key]


def find(lines: list[str], want: list[str]) -> list[int]:
    """1-based line numbers where the stripped `want` lines start."""
    stripped = [s.strip() for s in lines]
    n = len(want)
    return [i + 1 for i in range(len(stripped) - n + 1) if stripped[i:i + n] == want]


def check_one(where: str, item: dict, dirs: dict[str, str], cache: dict) -> str | None:
    """None if `item` (repo, commit, path, line, text) holds, else the failure line."""
    missing = [k for k in ("repo", "commit", "path", "line", "text") if k not in item]
    if missing:
        return f"{where}: missing {', '.join(missing)}"
    repo, commit, path, line, text = (item[k] for k in ("repo", "commit", "path", "line", "text"))
    if repo not in dirs:
        return f"{where}: unknown repo {repo!r}"
    lines = git_show(dirs[repo], commit, path, cache)
    if isinstance(lines, str):
        return f"{where}: {lines}"
    want = [s.strip() for s in text.split("\n")]
    got = [s.strip() for s in lines[line - 1: line - 1 + len(want)]] if line >= 1 else []
    if got == want:
        return None
    at = find(lines, want)
    moved = f"; the text occurs at line {', '.join(map(str, at))}" if at else "; the text occurs nowhere in the file"
    shown = (got[0] if got else "<past the end of the file>")[:80]
    return f"{where}: {path}:{line} does not start {want[0][:60]!r} (line {line} is {shown!r}){moved}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for repo, (opt, env) in REPOS.items():
        parser.add_argument(f"--{opt}", default=os.environ.get(env), metavar="DIR", help=f"git directory of {repo} (or ${env})")
    parser.add_argument("--quotes", default=str(QUOTES), help="the TOML file to check (default: blueprint/quotes.toml)")
    args = parser.parse_args(argv)
    dirs = {repo: getattr(args, opt) for repo, (opt, _) in REPOS.items()}
    unset = [f"--{REPOS[r][0]} / ${REPOS[r][1]}" for r, d in dirs.items() if not d]
    bad = [d for d in dirs.values() if d and not Path(d).is_dir()]
    if unset or bad:
        print(f"check_quotes: {'set ' + ', '.join(unset) if unset else ''}{' ' if unset and bad else ''}"
              f"{'not a directory: ' + ', '.join(bad) if bad else ''}", file=sys.stderr)
        return 2
    try:
        entries = tomllib.loads(Path(args.quotes).read_text(encoding="utf-8"))["quote"]
    except (OSError, tomllib.TOMLDecodeError, KeyError) as exc:
        print(f"check_quotes: cannot read {args.quotes}: {exc}", file=sys.stderr)
        return 2

    cache: dict = {}
    failures: list[str] = []
    checked = verbatim = 0
    for n, entry in enumerate(entries, 1):
        where = f"#{n} {entry.get('quantity')}/{entry.get('framework')}/{entry.get('role', 'main')}"
        items = [entry] if entry.get("kind") == "quote" else entry.get("source", [])
        if entry.get("kind") not in ("quote", "description"):
            failures.append(f"{where}: kind must be quote or description")
            continue
        if not items:
            failures.append(f"{where}: a description needs at least one [[quote.source]]")
        for i, item in enumerate(items):
            checked += 1
            label = where if entry["kind"] == "quote" else f"{where} source {i + 1}"
            if (msg := check_one(label, item, dirs, cache)) is None:
                verbatim += 1
            else:
                failures.append(msg)
    for msg in failures:
        print(f"FAIL {msg}")
    print(f"{len(entries)} entries, {checked} texts checked against the pinned sources: "
          f"{verbatim} verbatim, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
