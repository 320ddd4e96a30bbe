"""Helpers every sheet module uses to write references through the layout."""

from __future__ import annotations

from typing import Iterator

from blueprint.layout import Layout

Formula = tuple[str, tuple[int, ...], str]  # (quantity, index, "=...")
Formulas = Iterator[Formula]


class Refs:
    """References as seen from one sheet: same-sheet cells unqualified, others `Sheet!A1`."""

    def __init__(self, layout: Layout, here: str):
        self.L, self.here = layout, here

    def __call__(self, quantity: str, *idx: int, sheet: str | None = None) -> str:
        """One cell of a quantity on this sheet (or on `sheet`)."""
        return self.L.a1(sheet or self.here, quantity, *idx, here=self.here)

    def range(self, quantity: str, *prefix: int, sheet: str | None = None) -> str:
        """The cells of a quantity over the axes after `prefix`."""
        return self.L.range(sheet or self.here, quantity, *prefix, here=self.here)

    def w(self, quantity: str, *idx: int) -> str:
        """A weight: absolute, so a formula copied by hand still points at the same parameter."""
        return self.L.a1("Weights", quantity, *idx, here=self.here, absolute=True)

    def w_row(self, quantity: str, *prefix: int) -> str:
        return self.L.range("Weights", quantity, *prefix, here=self.here, absolute=True)

    def vocab(self) -> str:
        return self.L.range("Config", "vocab", here=self.here, absolute=True)
