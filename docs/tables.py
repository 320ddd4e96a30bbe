"""Print the README's generated tables: presets and their formula cells, every configuration key, conventions and their switches.

    python docs/tables.py          # paste into README.md; tests/test_readme.py checks they match
"""

from __future__ import annotations

import re
from collections import Counter

from blueprint.config import ALLOWED, CONVENTIONS, MEANING, PRESETS, SWITCHES, Config, load_config
from blueprint.inputs import make_inputs
from blueprint.layout import SHEETS
from blueprint.workbook import build

SWITCH_KEYS = (*SWITCHES, "beta", "kl_loss_coef", "lam", "eps", "eps_high", "dual_clip", "eps_v", "vf_coef", "logratio_clamp", "tau")


def presets_table() -> str:
    formula_sheets = [s for s in SHEETS if s not in ("Guide", "Weights")]
    lines = ["| preset | B | P | T | V | H | formula cells | " + " | ".join(formula_sheets) + " |",
             "|---" * (7 + len(formula_sheets)) + "|"]
    for name in PRESETS:
        c = load_config(name)
        counts = Counter(cell.sheet for cell in build(c, make_inputs(c)).formula_cells())
        lines.append(f"| {name} | {c.batch_size} | {c.prompt_len} | {c.response_len} | {c.V} | {c.hidden} | "
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


def conventions_table() -> str:
    default = load_config()
    lines = ["| switch | default | " + " | ".join(CONVENTIONS) + " |", "|---" * (2 + len(CONVENTIONS)) + "|"]
    for key in SWITCH_KEYS:
        row = [f"`{key}`", str(getattr(default, key))] + [str(CONVENTIONS[n].get(key, getattr(default, key))) for n in CONVENTIONS]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(presets_table(), end="\n\n")
    print(config_keys_table(), end="\n\n")
    print(conventions_table())
