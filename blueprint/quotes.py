"""The frameworks' own code, quoted verbatim: what the workbook shows beside a block.

`quotes.toml` (package data) holds, for every (quantity, framework), one `main` entry: 1-3
consecutive source lines with the file, first line and full commit they come from (TRL f2cd577,
OpenRLHF 3c3be62, verl b178a3c), or a parenthesised description where the framework has no such
step, itself backed by quoted sources. `docs/check_quotes.py` checks every text against the
frameworks' git directories; `docs/quotes.md` lists them for reading.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from importlib import resources

FRAMEWORKS = ("TRL", "OpenRLHF", "verl")
LINE_BREAK = " ↵ "  # how a quote of several source lines reads on one spreadsheet row


@dataclass(frozen=True)
class Quote:
    quantity: str
    framework: str
    kind: str  # "quote" or "description"
    text: str  # the source lines joined by "\n", or "(a description)"
    where: str  # `trl/experimental/ppo/ppo_trainer.py:703 @ f2cd577`, or the first source of a description
    note: str = ""

    @property
    def shown(self) -> str:
        """One row of the workbook: the lines in order, each break marked."""
        return self.text.replace("\n", LINE_BREAK)


def _where(item: dict) -> str:
    return f"{item['path']}:{item['line']} @ {item['commit'][:7]}"


@functools.cache
def main_quotes() -> dict[tuple[str, str], Quote]:
    """(quantity, framework) -> the entry to show."""
    data = tomllib.loads(resources.files("blueprint").joinpath("quotes.toml").read_text(encoding="utf-8"))
    out = {}
    for q in data["quote"]:
        if q["role"] == "main":
            located = q if q["kind"] == "quote" else q["source"][0]
            out[q["quantity"], q["framework"]] = Quote(q["quantity"], q["framework"], q["kind"], q["text"], _where(located), q.get("note", ""))
    return out


def code(quantity: str) -> tuple[Quote, ...]:
    """The quantity's main entry in TRL, OpenRLHF and verl, in that order."""
    return tuple(main_quotes()[quantity, f] for f in FRAMEWORKS)
