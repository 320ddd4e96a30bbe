"""The README's generated tables: presets and their formula cells, every configuration key, the workbook's names,
conventions and their switches; and docs/quotes.md. tests/test_readme.py checks they are current.

    python docs/tables.py          # print them
    python docs/tables.py --write  # rewrite the blocks of README.md between their markers, and docs/quotes.md
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

from blueprint import quotes
from blueprint.config import ALLOWED, CONVENTION_NOTES, CONVENTIONS, FIELD_NAMES, FRAMEWORK_LR, HYPERPARAMETERS, MEANING, PRESETS, SWITCHES, Config, load_config
from blueprint.inputs import make_inputs
from blueprint.layout import SHEETS, Dims, build_layout
from blueprint.workbook import build
from sheets import CODED, NAMED

# The conventions table's rows: every text switch, then every number some convention sets, in Config's order.
SWITCH_KEYS = (*SWITCHES, *(k for k in FIELD_NAMES if k not in SWITCHES and any(k in c for c in CONVENTIONS.values())))


def presets_table() -> str:
    formula_sheets = [s for s in SHEETS if s not in ("Guide", "Weights")]
    lines = ["| preset | B | P | T | V | H | formula cells | " + " | ".join(formula_sheets) + " |",
             "|---" * (7 + len(formula_sheets)) + "|"]
    for name in PRESETS:
        c = load_config(name)
        counts = Counter(cell.sheet for cell in build(c, make_inputs(c)).formula_cells())
        lines.append(f"| {name} | {c.B} | {c.P} | {c.T} | {c.V} | {c.H} | "
                     f"{sum(counts.values()):,} | " + " | ".join(f"{counts[s]:,}" for s in formula_sheets) + " |")
    return "\n".join(lines)


def config_keys_table() -> str:
    """Every key of Config, as declared: name, default, what it allows, what it means."""
    lines = ["| key | default | allowed | meaning |", "|---|---|---|---|"]
    for name, allowed in ALLOWED.items():
        default = getattr(Config(), name)
        shown = ", ".join(default) if isinstance(default, tuple) else default
        allowed_cell = _text(allowed) if isinstance(allowed, str) else _code(allowed.text)
        lines.append(f"| `{name}` | {_code(shown)} | {allowed_cell} | {_text(MEANING[name])} |")
    return "\n".join(lines)


def _code(value: object) -> str:
    """A code span in a Markdown table cell (pipes still need escaping there)."""
    return "`" + str(value).replace("|", "\\|") + "`"


def _text(value: str) -> str:
    """Plain text in a Markdown table cell: characters Markdown would read as markup escaped."""
    return re.sub(r"([\\|*_<>~`])", r"\\\1", value)


def named_ranges_list() -> str:
    """The workbook-level names (declared `named` in sheets/*.py), grouped by what they point at."""
    dims = Dims(B=2, P=3, T=4, V=5, H=6)  # distinct sizes, so a shape spells its axes
    letter, layout = {n: axis for axis, n in vars(dims).items()}, build_layout(dims)
    groups: dict[str, list[str]] = {"hyper": [], "config": [], "token": [], "other": [], "params": []}
    for name, (sheet, quantity) in NAMED.items():
        shape = layout.block(sheet, quantity).shape
        if "." in quantity:  # a parameter set's: listed once per set, by its prefix
            prefix = f"`{quantity.partition('.')[0]}_`"
            groups["params"] += [] if prefix in groups["params"] else [prefix]
            continue
        kind = "hyper" if name in HYPERPARAMETERS else "config" if sheet == "Config" else "token" if shape == (dims.B, dims.T) else "other"
        groups[kind].append(f"`{name}`" + (f" ({'×'.join(letter[n] for n in shape)})" if kind == "other" and shape else ""))
    return "\n".join([
        f"- hyperparameters and switches (single Config cells): {', '.join(groups['hyper'])};",
        f"- other Config cells (`vocab` is a row of V): {', '.join(groups['config'])};",
        f"- per-token B×T blocks (row = sequence, column = response position): {', '.join(groups['token'])};",
        f"- others (scalars unless a shape is given): {', '.join(groups['other'])};",
        "- parameter sets, each parameter shaped as on Weights (`W_xh` H×V, `b_h` H, `W_hh` H×H, `W_hy` V×H or 1×H for the reward "
        "model, `b_y` V or 1, a value head's `w_v` H and `b_v` a single cell), named prefix + parameter (`theta_W_xh`, "
        f"`phi_w_v`, `grad_W_hh`): {', '.join(groups['params'])}.",
    ])


def conventions_table() -> str:
    default = load_config()
    lines = ["| switch | default | " + " | ".join(CONVENTIONS) + " |", "|---" * (2 + len(CONVENTIONS)) + "|"]
    for key in SWITCH_KEYS:
        row = [f"`{key}`", str(getattr(default, key))] + [str(CONVENTIONS[n].get(key, getattr(default, key))) for n in CONVENTIONS]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("| `lr` (the framework's; not applied) | " + " | ".join([str(default.lr), *(FRAMEWORK_LR[n] for n in CONVENTIONS)]) + " |")
    return "\n".join(lines)


def convention_notes() -> str:
    """What each convention's numbers do not say, as a list under the table."""
    return "\n".join(f"- **{name}**: " + " ".join(notes) for name, notes in CONVENTION_NOTES.items())


def quotes_markdown() -> str:
    """docs/quotes.md: every line the workbook shows as the frameworks' code, with where it comes from."""
    lines = ["# The frameworks' code beside the workbook's blocks", "",
             "Generated from `blueprint/quotes.toml` by `python docs/tables.py quotes > docs/quotes.md` (tests/test_readme.py",
             "checks it is current); `python docs/check_quotes.py` checks every line against the frameworks' git directories at",
             "TRL `f2cd577`, OpenRLHF `3c3be62` and verl `b178a3c`. A quote is verbatim, its source lines joined by ` ↵ `; a text",
             "in parentheses is a description of a step the framework does not have, with the source that shows it.", "",
             "| block | framework | shown | source |", "|---|---|---|---|"]
    for block, key in CODED.items():
        for q in quotes.code(key):
            lines.append(f"| `{block}` | {q.framework} | {_code(q.shown) if q.kind == 'quote' else _text(q.shown)} | `{q.where}` |")
    return "\n".join(lines)


BLOCKS = {"presets-table": presets_table, "config-keys-table": config_keys_table, "conventions-table": conventions_table,
          "named-ranges": named_ranges_list, "convention-notes": convention_notes}


def write(root: Path) -> None:
    """Regenerate README.md's blocks in place (each between `<!-- name: … -->` and `<!-- /name -->`) and docs/quotes.md."""
    readme = root / "README.md"
    text = readme.read_text(encoding="utf-8")
    for name, make in BLOCKS.items():
        text = re.sub(rf"(<!-- {name}:.*?-->\n).*?(\n<!-- /{name} -->)", lambda m: m.group(1) + make() + m.group(2), text, flags=re.S)
    readme.write_text(text, encoding="utf-8")
    (root / "docs" / "quotes.md").write_text(quotes_markdown() + "\n", encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write(Path(__file__).resolve().parents[1])
        sys.exit()
    if sys.argv[1:] == ["quotes"]:
        print(quotes_markdown())
        sys.exit()
    print(presets_table(), end="\n\n")
    print(config_keys_table(), end="\n\n")
    print(named_ranges_list(), end="\n\n")
    print(convention_notes(), end="\n\n")
    print(conventions_table())
