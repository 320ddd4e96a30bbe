"""`blueprint` command line: a thin layer over `blueprint.api`.

Exit codes: 0 success; 1 verification found a disagreement; 2 unusable input (config, file,
environment) — always with one line on stderr saying what, where and how to fix it.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from blueprint import __version__
from blueprint.config import PRESETS
from blueprint.errors import BlueprintError

DEFAULT_OUTPUT = Path("output/rlhf_ppo_blueprint.xlsx")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="blueprint", description="RLHF with PPO as a live-formula Excel workbook, with a NumPy reference and a verifier.",
                                epilog="exit codes: 0 ok, 1 verification disagreement, 2 unusable input")
    p.add_argument("--version", action="version", version=f"blueprint {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    g = sub.add_parser("generate", help="write the workbook", description="Write the RLHF-PPO workbook: one live-formula worksheet per stage.")
    g.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT, help=f"where to write the .xlsx (default {DEFAULT_OUTPUT})")
    g.add_argument("--preset", default="small", choices=sorted(PRESETS), help="size of the model and batch (default small)")
    g.add_argument("--config", type=Path, help="TOML file of config keys, applied over the preset")
    g.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override one config key (repeatable)")
    g.add_argument("--seed", type=int, help="seed for weights, prompts and draws")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(argv)
    if args.command is None:
        _parser().print_help()
        return 0
    try:
        if args.command == "generate":
            return _generate(args, "blueprint " + shlex.join(argv))
    except BlueprintError as exc:
        print(f"blueprint {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"blueprint {args.command}: interrupted", file=sys.stderr)
        return 130
    return 2  # pragma: no cover - argparse rejects unknown commands


def _generate(args: argparse.Namespace, command: str) -> int:
    from blueprint.api import generate
    from blueprint.config import load_config

    extra = {} if args.seed is None else {"seed": args.seed}
    config = load_config(args.preset, args.config, args.overrides, **extra)
    report = generate(config, args.output, command=command)
    print(report.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
