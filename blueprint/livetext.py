"""Text that follows the switches: declared once, written as an Excel formula, rendered in Python.

A sentence is a tuple of parts: plain text; `By(key, {value: parts, ...})`, the words for each
value of a text switch on Config; `IfPositive(key, parts, otherwise)`, for a number that turns
a feature on when it is > 0 (dual_clip, logratio_clamp, ent_coef); `Switch(key)`, a text switch's
own value (numbers are never shown: engines format them differently). `formula(parts)` is the live
cell, IF over the switch's workbook name; `render(parts, config)` is the text the verifier
expects from the same declaration, so a user who flips a switch in Excel reads the story of the
workbook in front of them, and the two renderings cannot drift apart unnoticed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Union

EXCEL_LITERAL = 255  # Excel's longest string literal inside a formula


@dataclass(frozen=True)
class By:
    """The words for each value of a text switch; the last one is the formula's fallback."""

    key: str
    words: Mapping[str, "Parts"]


@dataclass(frozen=True)
class IfPositive:
    """`then` while the number `key` is > 0, else `otherwise`."""

    key: str
    then: "Parts"
    otherwise: "Parts" = ""


@dataclass(frozen=True)
class Switch:
    """The current value of a text switch."""

    key: str


Part = Union[str, By, IfPositive, Switch, tuple]
Parts = Union[Part, tuple[Part, ...]]


def render(parts: Parts, config: Any) -> str:
    """The text as it reads for `config` (anything with the switches as attributes)."""
    if isinstance(parts, str):
        return parts
    if isinstance(parts, By):
        return render(parts.words[getattr(config, parts.key)], config)
    if isinstance(parts, IfPositive):
        return render(parts.then if getattr(config, parts.key) > 0 else parts.otherwise, config)
    if isinstance(parts, Switch):
        return getattr(config, parts.key)
    return "".join(render(p, config) for p in parts)


def formula(parts: Parts) -> str:
    """The live cell: `="…"&IF(key="value","…",…)`."""
    return "=" + _expr(parts)


def _expr(parts: Parts) -> str:
    if isinstance(parts, str):
        return _literal(parts)
    if isinstance(parts, By):
        *head, last = parts.words.values()
        out = _expr(last)
        for value, words in reversed(list(parts.words.items())[:-1]):
            out = f'IF({parts.key}="{value}",{_expr(words)},{out})'
        return out
    if isinstance(parts, IfPositive):
        return f"IF({parts.key}>0,{_expr(parts.then)},{_expr(parts.otherwise)})"
    if isinstance(parts, Switch):
        return parts.key
    pieces = [_expr(p) for p in parts if p != ""]
    return "&".join(pieces) if pieces else '""'


def _literal(text: str) -> str:
    """A string literal, in pieces of at most 255 characters joined by &, quotes doubled."""
    chunks, chunk = [], ""
    for ch in text:  # a doubled quote counts twice and is never split
        piece = '""' if ch == '"' else ch
        if len(chunk) + len(piece) > EXCEL_LITERAL:
            chunks.append(chunk)
            chunk = ""
        chunk += piece
    return "&".join(f'"{c}"' for c in [*chunks, chunk])


def keys(parts: Parts) -> set[str]:
    """The Config keys a text depends on."""
    if isinstance(parts, str):
        return set()
    if isinstance(parts, By):
        return {parts.key}.union(*(keys(w) for w in parts.words.values()))
    if isinstance(parts, IfPositive):
        return {parts.key} | keys(parts.then) | keys(parts.otherwise)
    if isinstance(parts, Switch):
        return {parts.key}
    return set().union(*(keys(p) for p in parts))
