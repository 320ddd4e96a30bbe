"""blueprint/quotes.toml, the verbatim framework quotes shown beside the workbook's blocks, is well formed.

Offline: whether each text really occurs at its line is checked by docs/check_quotes.py against the
frameworks' git directories (a developer step; CI has no GitHub access).
"""

from __future__ import annotations

import re
import tomllib
from collections import Counter
from pathlib import Path

import pytest

from sheets import CODED

QUOTES = Path(__file__).resolve().parents[1] / "blueprint" / "quotes.toml"
PINNED = {"huggingface/trl": "f2cd577", "OpenRLHF/OpenRLHF": "3c3be62", "volcengine/verl": "b178a3c"}
FRAMEWORK_REPO = {"TRL": "huggingface/trl", "OpenRLHF": "OpenRLHF/OpenRLHF", "verl": "volcengine/verl"}
FRAMEWORKS = tuple(FRAMEWORK_REPO)  # the order of CODE's tuples
EXTRA = ("kl_ctl", "ratio_clamp", "pg_clipfrac", "pg_clipfrac_lower", "entropy_metric", "approx_kl_metric",
         "score_slot", "logprob_recompute", "critic", "whiten_scope", "epochs")
LOCATED = ("repo", "commit", "path", "line", "text")


def entries() -> list[dict]:
    return tomllib.loads(QUOTES.read_text(encoding="utf-8"))["quote"]


def located_texts() -> list[tuple[str, dict]]:
    """Every (label, table) that names a place in a framework's source: quotes and description sources."""
    out = []
    for q in entries():
        label = f"{q['quantity']}/{q['framework']}/{q.get('role')}"
        out += [(label, q)] if q["kind"] == "quote" else [(f"{label} source", s) for s in q.get("source", [])]
    return out


def test_quotes_file_parses_and_every_entry_has_its_fields() -> None:
    for q in entries():
        for key in ("quantity", "framework", "role", "kind", "text"):
            assert isinstance(q.get(key), str) and q[key], (q, key)
        assert q["framework"] in FRAMEWORK_REPO, q
        assert q["kind"] in ("quote", "description"), q
        if q["kind"] == "description":
            assert q.get("source"), f"a description needs [[quote.source]]: {q}"
    for label, item in located_texts():
        for key in LOCATED:
            assert key in item, (label, key)
        assert isinstance(item["line"], int) and item["line"] >= 1, label
        assert isinstance(item["path"], str) and item["path"] and not item["path"].startswith("/"), label


def test_every_located_text_is_in_its_frameworks_repository_at_the_full_pinned_commit() -> None:
    for label, item in located_texts():
        assert item["repo"] in PINNED, label
        assert re.fullmatch(r"[0-9a-f]{40}", item["commit"]), label
        assert item["commit"].startswith(PINNED[item["repo"]]), label
    for q in entries():
        if q["kind"] == "quote":
            assert q["repo"] == FRAMEWORK_REPO[q["framework"]], q
        for s in q.get("source", []):
            assert s["repo"] == FRAMEWORK_REPO[q["framework"]], q


def test_quote_texts_are_stripped_lines_and_not_descriptions() -> None:
    for label, item in located_texts():
        text = item["text"]
        assert text.strip(), label
        lines = text.split("\n")
        assert 1 <= len(lines) <= 3, f"{label}: a quote is 1-3 consecutive lines"
        for line in lines:
            assert line and line == line.strip(), f"{label}: {line!r} must be stripped and non-empty"
        assert not (text.startswith("(") and text.endswith(")")), f"{label}: a quote is not a description"


def test_descriptions_are_in_parentheses() -> None:
    for q in entries():
        if q["kind"] == "description":
            assert q["text"].startswith("(") and q["text"].endswith(")") and "\n" not in q["text"], q["text"]


def test_each_quantity_and_framework_has_one_main_entry_and_roles_are_unique() -> None:
    roles = Counter((q["quantity"], q["framework"], q["role"]) for q in entries())
    assert all(n == 1 for n in roles.values()), [k for k, n in roles.items() if n > 1]
    mains = {(q, f) for q, f, r in roles if r == "main"}
    pairs = {(q, f) for q, f, _ in roles}
    for quantity in CODED.values():
        for framework in FRAMEWORKS:
            assert (quantity, framework) in mains, f"no main quote for {quantity}/{framework}"
    for quantity in EXTRA:
        for framework in FRAMEWORKS:
            assert (quantity, framework) in mains, f"no main entry for {quantity}/{framework}"
    assert {q for q, _ in pairs} <= set(CODED.values()) | set(EXTRA)


@pytest.mark.parametrize("quantity", sorted(CODED.values()))
def test_main_quotes_fit_beside_a_block(quantity: str) -> None:
    for q in entries():
        if q["quantity"] == quantity and q["role"] == "main":
            assert all(len(line) <= 120 for line in q["text"].split("\n")), (quantity, q["framework"], q["text"])


def test_shown_lines_are_lines_of_the_quote_in_order() -> None:
    for q in entries():
        if "show" in q:
            n = q["text"].count("\n") + 1
            assert q["role"] == "main" and q["show"] == sorted(set(q["show"])) and all(1 <= k <= n for k in q["show"]), q


def test_what_a_block_shows_is_whole_source_lines() -> None:
    """Beside a block: whole lines of the quote, joined by ↵ (next line) or … (lines left out), never a cut line."""
    from blueprint.quotes import SHOWN, code

    for key in CODED.values():
        for quote in code(key):
            shown = [part for chunk in quote.shown.split(" ↵ ") for part in chunk.split(" … ")]
            lines = quote.text.split("\n")
            assert all(part.strip("… ") in lines for part in shown if part.strip("… ")), (quote.quantity, quote.framework, quote.shown)
            assert len(quote.shown) <= SHOWN + len(" ↵ …"), (quote.quantity, quote.framework)
