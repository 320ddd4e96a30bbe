"""`blueprint` command line: a thin layer over `blueprint.api`.

Exit codes: 0 success; 1 verification found a disagreement; 2 unusable input (config, file,
environment) — always with one line on stderr saying what, where and how to fix it; 3 an
internal error (a bug: one line, and the traceback with BLUEPRINT_DEBUG=1).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path
from typing import NoReturn

from blueprint import __version__
from blueprint.config import CONVENTIONS, PRESETS
from blueprint.errors import BlueprintError
from blueprint.files import emit
from blueprint.junit import write_junit
from blueprint.verify import ENGINES

DEFAULT_OUTPUT = Path("output/rlhf_ppo_blueprint.xlsx")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line like every other error: what, and where to read more."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="blueprint", description="RLHF with PPO as a live-formula Excel workbook, with a NumPy reference and a verifier.",
                                epilog="exit codes: 0 ok, 1 verification disagreement, 2 unusable input or a file that cannot be written, 3 internal error")
    p.add_argument("--version", action="version", version=f"blueprint {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    g = sub.add_parser("generate", help="write the workbook", description="Write the RLHF-PPO workbook: one live-formula worksheet per stage.")
    g.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT, help=f"where to write the .xlsx (default {DEFAULT_OUTPUT})")
    g.add_argument("--preset", choices=sorted(PRESETS), help="size of the model and batch (default small; a TOML file or --set may say it instead)")
    g.add_argument("--convention", choices=sorted(CONVENTIONS), help="set the switches to a framework's defaults (over the preset)")
    g.add_argument("--config", type=Path, help="TOML file of config keys, applied over the preset and convention")
    g.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override one config key (repeatable)")
    g.add_argument("--seed", type=int, help="seed for weights, prompts and draws")
    g.add_argument("--verify", action="store_true", help="verify the written workbook with the formulas engine (exit 1 on disagreement)")
    v = sub.add_parser("verify", help="prove every formula cell of a workbook against the NumPy reference",
                       description="Recalculate a workbook and check every formula cell against the reference recomputed from its own config and inputs.")
    v.add_argument("path", type=Path, help="the .xlsx to verify")
    v.add_argument("--engine", choices=ENGINES, default="formulas", help="recalculation engine (default formulas; libreoffice needs soffice, gnumeric needs ssconvert)")
    v.add_argument("--json", action="store_true", help="print the report as JSON (nothing else on stdout)")
    v.add_argument("--junit", type=Path, metavar="FILE", help="also write a JUnit XML report (a test case per sheet)")
    v.add_argument("--max-report", type=int, metavar="N", help="problems to list (default: 20 in the text report, every one with --json)")
    v.add_argument("--no-cache-check", action="store_true",
                   help="do not compare cached values (the values saved with the formulas, which a viewer that does not recalculate shows): "
                        "for a file saved by a tool that does not calculate, such as openpyxl")
    t = sub.add_parser("trace", help="show a cell's formula, value and precedents down to the inputs",
                       description="Print a cell's formula and value, then its precedents as a tree down to the input cells.")
    t.add_argument("path", type=Path, help="the .xlsx to read")
    t.add_argument("address", help="the cell, SHEET!CELL, e.g. Total!B5 or 'Value Loss'!B6")
    t.add_argument("--depth", type=_depth, default=4, metavar="N", help="levels of precedents to show (default 4)")
    return p


def _depth(text: str) -> int:
    n = int(text)  # argparse turns the ValueError into a usage error
    if n < 0:
        raise argparse.ArgumentTypeError(f"{n}: must be >= 0")
    return n


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(argv)
    if args.command is None:  # argparse's convention for a missing sub-command: usage on stderr, exit 2
        _parser().print_help(sys.stderr)
        return 2
    try:
        if args.command == "generate":
            return _generate(args, provenance_command(argv))
        if args.command == "verify":
            return _verify(args.path, args.engine, args.json, args.junit, args.max_report, not args.no_cache_check)
        if args.command == "trace":
            return _trace(args.path, args.address, args.depth)
    except BlueprintError as exc:
        print(f"blueprint {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"blueprint {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug of ours: one line for the user, the traceback on request
        if os.environ.get("BLUEPRINT_DEBUG"):
            raise
        print(f"blueprint {args.command}: internal error: {type(exc).__name__}: {exc} "
              "(a bug in blueprint; rerun with BLUEPRINT_DEBUG=1 for the traceback and report it)", file=sys.stderr)
        return 3
    return 2  # pragma: no cover - argparse rejects unknown commands


def provenance_command(argv: list[str]) -> str:
    """The command as the Guide records it, without the output path: the same config gives the same bytes wherever it is written."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("-o", "--output"):
            skip = True
        elif not arg.startswith(("-o", "--output=")):
            kept.append(arg)
    return "blueprint " + shlex.join(kept)


def _generate(args: argparse.Namespace, command: str) -> int:
    from blueprint.api import generate
    from blueprint.config import load_config

    extra = {} if args.seed is None else {"seed": args.seed}
    config = load_config(args.preset, args.config, args.overrides, args.convention, **extra)
    if args.output == DEFAULT_OUTPUT:
        DEFAULT_OUTPUT.parent.mkdir(exist_ok=True)  # the default folder is ours to make; a user's -o folder is not
    report = generate(config, args.output, command=command)
    emit(report.summary())
    return _verify(args.output, "formulas", False, None, None) if args.verify else 0


def _verify(path: Path, engine: str, as_json: bool, junit: Path | None, max_report: int | None, cache_check: bool = True) -> int:
    """max_report None: the text report's default, or every problem in JSON (a program reading it wants them all)."""
    from blueprint.verify import verify

    if max_report is not None and max_report < 0:
        raise BlueprintError(f"--max-report {max_report}: must be >= 0")
    progress = None if as_json or not sys.stderr.isatty() else (lambda msg: print(f"  {msg} ...", file=sys.stderr))
    report = verify(path, engine, progress, cache_check)
    if junit is not None:
        write_junit(report, junit)
    if as_json:
        emit(json.dumps(report.as_dict(max_report), indent=1, default=str))
    else:
        emit(report.text() if max_report is None else report.text(max_report))
    return report.exit_code


def _trace(path: Path, address: str, depth: int) -> int:
    from blueprint.trace import render, trace

    emit(render(trace(path, address, depth)))
    return 0


def run() -> NoReturn:
    """The `blueprint` command: `main`, then leave without tearing the interpreter down.

    Freeing every module and the objects a run leaves behind takes 0.1-0.2 s after a verify of
    xl, for a process that is about to end. Its output is out already (`emit` writes straight to
    the file descriptor, `--junit` files are closed), so once the standard streams flush the
    process exits at once; should a flush fail (a closed pipe), the interpreter's own exit reports it.
    """
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        sys.exit(code)
    os._exit(code)


if __name__ == "__main__":
    run()
