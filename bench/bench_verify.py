"""Benchmark: generate each preset, then recalculate and check it end to end with each engine (not a test).

A verification is the command a user runs, `blueprint verify PATH`, in a fresh process; its time
is the whole process's wall time, spawn to exit (start-up, imports, reading, rebuilding the
reference, recalculating, comparing), and its memory the process's peak RSS. Measured in one run,
so that every ratio compares figures taken minutes apart at most:

- ours: `blueprint verify PATH` (the `formulas` engine: blueprint.fastcalc, one process),
  `--repeat` times; best and median;
- stock: `--engine formulas-stock`, the `formulas` package's own ExcelModel, once, only on the
  presets given to `--stock` (it needs minutes and gigabytes from `large` on);
- LibreOffice: `--engine libreoffice` (headless, forced recalculation), once, when soffice is installed;
- Gnumeric: `--engine gnumeric` when this checkout has that engine, else the bare
  `ssconvert --recalc in.xlsx out.xlsx` (load, recalculate, save: no checks at all, so a lower
  bound for a verifier built on it), once, when ssconvert is installed;
- optionally a baseline: another checkout's verifier (`--baseline DIR`, run with PYTHONPATH=DIR,
  extra arguments with `--baseline-args`), `--repeat` times, alternating with ours.

Each command runs once untimed first, so Python's bytecode caches exist as they do for a user
(this machine's environment may set PYTHONDONTWRITEBYTECODE; the children run without it). This
machine's speed drifts (a shared 2-core VM), so each row also shows a pure-Python loop's time
(median of one before each round of ours); compare ratios, not seconds across runs.

    python bench/bench_verify.py                                   # small, medium, large, xl
    python bench/bench_verify.py --presets xl --repeat 9 --stock
    python bench/bench_verify.py --presets xl --baseline /tmp/old-checkout --baseline-args=--one-process
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PRESETS = ("small", "medium", "large", "xl")


def command(path: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "blueprint.cli", "verify", str(path), *args]


def timed(cmd: list[str], env: dict[str, str] | None = None, ok: tuple[int, ...] = (0,)) -> dict:
    """Wall seconds from spawn to exit and the peak RSS (MB) of one process (its own, from wait4).
    It runs in the temporary folder: `python -m` looks for the package in the working folder first."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=tempfile.gettempdir())
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    if code not in ok:
        raise SystemExit(f"{shlex.join(cmd)}: exit code {code}\n{proc.stderr.read().decode()[-2000:]}")
    proc.stderr.close()
    return {"seconds": seconds, "mb": usage.ru_maxrss / 1024}


def summary(runs: list[dict]) -> dict:
    """Best and median seconds, largest peak. Noise here only ever adds time, so the best run is the
    closest to what the code costs (as `timeit` reports); the median is what a user typically waits."""
    seconds = [r["seconds"] for r in runs]
    return {"best": min(seconds), "median": statistics.median(seconds), "mb": max(r["mb"] for r in runs)}


def cpu_loop() -> float:
    """Seconds for 3 million pure-Python additions: how fast this machine is right now."""
    t0 = time.perf_counter()
    total = 0
    for k in range(3_000_000):
        total += k
    return time.perf_counter() - t0


def gnumeric(path: Path, tmp: Path, has_engine: bool) -> dict | None:
    """Gnumeric's time: our engine if this checkout has it, else bare `ssconvert --recalc`."""
    if shutil.which("ssconvert") is None:
        return None
    if has_engine:
        return timed(command(path, "--engine", "gnumeric"))
    out = tmp / f"{path.stem}-gnumeric.xlsx"
    return timed(["ssconvert", "--recalc", str(path), str(out)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=list(PRESETS), choices=PRESETS)
    parser.add_argument("--stock", nargs="*", default=["small", "medium"], choices=PRESETS,
                        help="presets to verify with stock ExcelModel too (default small medium; --stock alone: none)")
    parser.add_argument("--repeat", type=int, default=5, help="runs of our verifier (best and median shown)")
    parser.add_argument("--baseline", type=Path, metavar="DIR", help="another checkout whose verifier runs alongside ours")
    parser.add_argument("--baseline-args", default="", metavar="ARGS", help="extra arguments for the baseline's verify")
    args = parser.parse_args()

    from blueprint.api import generate
    from blueprint.config import load_config
    from blueprint.libreoffice import find_soffice
    from blueprint.verify import ENGINES

    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    base_env = {**env, "PYTHONPATH": str(args.baseline)} if args.baseline else None
    with_lo, with_gnumeric_engine = find_soffice() is not None, "gnumeric" in ENGINES
    g_label = "Gnumeric (verify --engine gnumeric)" if with_gnumeric_engine else "Gnumeric (bare ssconvert --recalc)"
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.2f} at start; LibreOffice: {'yes' if with_lo else 'not installed'}; "
          f"ssconvert: {'yes' if shutil.which('ssconvert') else 'not installed'}; {args.repeat} runs of ours")
    cols = ["preset", "formula cells", "CPU loop s", "generate s", "ours s best (median)", "ours cells/s best (median)", "peak MB",
            "stock s", "stock ÷ ours", "LibreOffice s", "LibreOffice ÷ ours", f"{g_label} s", "Gnumeric ÷ ours"]
    if args.baseline:
        cols += ["baseline s best (median)", "baseline ÷ ours"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        for preset in args.presets:
            path = tmp / f"{preset}.xlsx"
            gen = generate(load_config(preset), path)
            n = gen.total_formula_cells
            timed(command(path), env)  # untimed: bytecode caches, the file in the page cache
            runs, base_runs, loops = [], [], []
            for k in range(args.repeat):
                loops.append(cpu_loop())
                order = ("ours", "base") if k % 2 == 0 else ("base", "ours")
                for who in order:
                    if who == "ours":
                        runs.append(timed(command(path), env))
                    elif base_env is not None:
                        base_runs.append(timed(command(path, *shlex.split(args.baseline_args)), base_env))
            ours = summary(runs)
            row = [preset, f"{n:,}", f"{statistics.median(loops):.3f}", f"{gen.seconds:.2f}", f"{ours['best']:.2f} ({ours['median']:.2f})",
                   f"{n / ours['best']:,.0f} ({n / ours['median']:,.0f})", f"{ours['mb']:.0f}"]
            if preset in args.stock:
                stock = timed(command(path, "--engine", "formulas-stock"), env)
                row += [f"{stock['seconds']:.1f}", f"{stock['seconds'] / ours['median']:.1f}"]
            else:
                row += ["–", "–"]
            if with_lo:
                lo = timed(command(path, "--engine", "libreoffice"), env)
                row += [f"{lo['seconds']:.2f}", f"{lo['seconds'] / ours['median']:.2f}"]
            else:
                row += ["–", "–"]
            g = gnumeric(path, tmp, with_gnumeric_engine)
            row += ["–", "–"] if g is None else [f"{g['seconds']:.2f}", f"{g['seconds'] / ours['median']:.2f}"]
            if base_runs:
                base = summary(base_runs)
                row += [f"{base['best']:.2f} ({base['median']:.2f})", f"{base['median'] / ours['median']:.2f}"]
            print("| " + " | ".join(row) + " |", flush=True)
    print("generate s: `generate` in this process, for scale; s: wall time of one process, spawn to exit; ratios: the other's time over our median. peak MB: our process's peak RSS. "
          f"load average {os.getloadavg()[0]:.2f} at the end.")


if __name__ == "__main__":
    main()
