"""Benchmark: generate each preset, then verify it end to end with each engine (not a test).

Each verification runs in a fresh interpreter, so its time includes imports and reading the
file, and its peak memory is its own. Stock `formulas.ExcelModel` is timed only where it ends in
a few minutes; LibreOffice only when `soffice` is installed. Figures are printed as measured,
with ratios against the other engines from the same run.

    python bench/bench_verify.py                      # small, medium, large, xl
    python bench/bench_verify.py --stock small medium large
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

from _child import peak_mb, run_child

PRESETS = ("small", "medium", "large", "xl")


def child(engine: str, path: str) -> dict:
    """One `verify` in this process: seconds, peak RSS, and whether every cell agreed."""
    from blueprint.verify import verify

    t0 = time.perf_counter()
    report = verify(Path(path), engine)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "peak_mb": peak_mb(),
            "ok": report.ok, "checked": report.totals().checked}


def measure(engine: str, path: Path) -> dict:
    return run_child(__file__, engine, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=list(PRESETS), choices=PRESETS)
    parser.add_argument("--stock", nargs="*", default=["small", "medium"], help="presets to verify with stock ExcelModel too")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return

    from blueprint.api import generate
    from blueprint.config import load_config
    from blueprint.libreoffice import find_soffice

    with_lo = find_soffice() is not None
    print(f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
          f"{__import__('os').cpu_count()} cores; LibreOffice: {'yes' if with_lo else 'not installed'}")
    head = ("| preset | formula cells | generate s | gen cells/s | verify s | verify cells/s | peak MB | "
            "stock s | stock peak MB | stock ÷ ours | LibreOffice s | ours ÷ LibreOffice |")
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    with tempfile.TemporaryDirectory() as tmp:
        for preset in args.presets:
            path = Path(tmp) / f"{preset}.xlsx"
            gen = generate(load_config(preset), path)
            ours = measure("formulas", path)
            assert ours["ok"], f"{preset}: verification failed"
            n = gen.total_formula_cells
            row = [preset, f"{n:,}", f"{gen.seconds:.2f}", f"{n / gen.seconds:,.0f}", f"{ours['seconds']:.2f}",
                   f"{n / ours['seconds']:,.0f}", f"{ours['peak_mb']:.0f}"]
            if preset in args.stock:
                stock = measure("formulas-stock", path)
                row += [f"{stock['seconds']:.1f}", f"{stock['peak_mb']:.0f}", f"{stock['seconds'] / ours['seconds']:.1f}"]
            else:
                row += ["–", "–", "–"]
            if with_lo:
                lo = measure("libreoffice", path)
                row += [f"{lo['seconds']:.2f}", f"{ours['seconds'] / lo['seconds']:.2f}"]
            else:
                row += ["–", "–"]
            print("| " + " | ".join(row) + " |", flush=True)
    print("verify s: `blueprint verify` end to end in a fresh process (imports, reading, recalculation, comparison);"
          " peak MB: that process's peak RSS.")


if __name__ == "__main__":
    main()
