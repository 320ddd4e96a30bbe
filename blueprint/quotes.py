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
SHOWN = 125  # characters of a quote shown beside a block; the rest is in the cell's note


@dataclass(frozen=True)
class Quote:
    quantity: str
    framework: str
    kind: str  # "quote" or "description"
    text: str  # the source lines joined by "\n", or "(a description)"
    where: str  # `trl/experimental/ppo/ppo_trainer.py:703 @ f2cd577`, or the first source of a description
    note: str = ""
    show: tuple[int, ...] = ()  # the lines of `text` (1-based) to show when not all fit; () = as many as fit

    @property
    def shown(self) -> str:
        """One row of the workbook: whole source lines in order, each break marked, as many as fit in SHOWN characters
        (always the first), then `↵ …` where more follow: a verbatim excerpt, never a cut line."""
        lines = self.text.split("\n")
        if self.show:
            picked = [lines[k - 1] + (LINE_BREAK if k + 1 in self.show else " … " if k < len(lines) else "") for k in self.show]
            return ("… " if self.show[0] > 1 else "") + "".join(picked).rstrip()
        kept = lines[:1]
        for line in lines[1:]:
            if len(LINE_BREAK.join([*kept, line])) > SHOWN:
                return LINE_BREAK.join(kept) + LINE_BREAK + "…"
            kept.append(line)
        return LINE_BREAK.join(kept)


    def source_note(self) -> str:
        """The cell note beside a shown quote: where it comes from, the whole quote, and its context."""
        whole = self.shown == self.text.replace("\n", LINE_BREAK)
        return "\n".join(filter(None, [f"{self.framework} — {self.where}", "" if whole else self.text, self.note]))


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
            out[q["quantity"], q["framework"]] = Quote(q["quantity"], q["framework"], q["kind"], q["text"], _where(located), q.get("note", ""),
                                                       tuple(q.get("show", ())))
    return out


def code(quantity: str) -> tuple[Quote, ...]:
    """The quantity's main entry in TRL, OpenRLHF and verl, in that order."""
    return tuple(main_quotes()[quantity, f] for f in FRAMEWORKS)
