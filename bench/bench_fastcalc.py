"""Benchmark: fastcalc against stock `formulas.ExcelModel` on the presets (not a test).

Each measurement runs in a fresh interpreter, so the cold fastcalc run pays the one-time import
of the package's function modules (scipy deferred: `fastcalc.functions`) and the peak RSS is that
run's alone. `bench_verify.py` times the whole `blueprint verify` command against the other engines.

    python bench/bench_fastcalc.py                 # small, medium, large, xl; stock on small, medium
    python bench/bench_fastcalc.py --stock large   # also time stock on large (several minutes)
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from _child import peak_mb, run_child

PRESETS = ("small", "medium", "large", "xl")


def child_fast(path: str) -> dict:
    """Read the cells, then evaluate twice: cold (importing fastcalc and the package's functions first) and warm."""
    from blueprint.readback import load_cells
    from blueprint.workbook import NA

    t0 = time.perf_counter()
    cells = load_cells(Path(path))
    read = time.perf_counter() - t0
    t0 = time.perf_counter()
    from blueprint.fastcalc import evaluate

    values = evaluate(cells.values, cells.names)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    evaluate(cells.values, cells.names)
    warm = time.perf_counter() - t0
    errors = sum(isinstance(v, str) and v.startswith("#") and v != NA for v in values.values())  # NA: Clip's ratio_real gaps
    return {"cells": len(values), "read": read, "cold": cold, "warm": warm, "peak": peak_mb(), "errors": errors}


def child_stock(path: str) -> dict:
    from blueprint.engine import formulas_values
    from blueprint.readback import load_cells

    sheets = load_cells(Path(path)).sheets
    t0 = time.perf_counter()
    formulas_values(Path(path), sheets)
    return {"stock": time.perf_counter() - t0, "stock_peak": peak_mb()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=list(PRESETS), choices=PRESETS)
    parser.add_argument("--stock", nargs="*", default=["small", "medium"], help="presets to time stock ExcelModel on")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, path = args.child
        print(json.dumps(child_fast(path) if kind == "fast" else child_stock(path)))
        return

    from blueprint.api import generate
    from blueprint.config import load_config

    print(f"{'':<7}{'formula':>8}{'read':>7} | {'fastcalc cold':^22} | {'fastcalc warm':^16} | {'stock ExcelModel':^22} | {'stock ÷ fast':^12}")
    print(f"{'preset':<7}{'cells':>8}{'s':>7} | {'s':>6}{'cells/s':>8}{'peak MB':>8} | {'s':>6}{'cells/s':>10} | "
          f"{'s':>6}{'cells/s':>8}{'peak MB':>8} | {'cold':>6}{'warm':>6}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for preset in args.presets:
            path = Path(tmp) / f"{preset}.xlsx"
            generate(load_config(preset), path)
            r = run_child(__file__, "fast", path)
            n = r["cells"]
            line = (f"{preset:<7}{n:>8}{r['read']:>7.2f} | {r['cold']:>6.2f}{n / r['cold']:>8.0f}{r['peak']:>8.0f} | "
                    f"{r['warm']:>6.2f}{n / r['warm']:>10.0f} | ")
            if preset in args.stock:
                r |= run_child(__file__, "stock", path)
                line += f"{r['stock']:>6.1f}{n / r['stock']:>8.0f}{r['stock_peak']:>8.0f} | {r['stock'] / r['cold']:>6.1f}{r['stock'] / r['warm']:>6.0f}"
            print(line + (f"   ({r['errors']} unexpected error values!)" if r["errors"] else ""), flush=True)
    print("cold: first evaluate() in a fresh process, including the one-time import of the formulas package's "
          "functions (~0.15 s, scipy deferred); warm: a second call. peak MB: the process's peak RSS, reading included.")


if __name__ == "__main__":
    main()
