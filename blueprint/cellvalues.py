"""What a cell of a file holds, as the reader hands it on: a number, a bool, text, a Formula or an ErrorValue.

Text is text: a vocabulary token `=1+1` or `#N/A` is a string constant, never a formula and
never an error value. These two str subclasses carry what the file's XML said (an `<f>`
element, `t="e"`) to every engine path, so no code has to guess from a string's first character.
"""

from __future__ import annotations

from typing import Any


class Formula(str):
    """A cell's formula text with its leading `=` (the file stored it as a formula)."""


class ErrorValue(str):
    """An error value a cell holds (`t="e"` in the file), e.g. `#N/A`; plain text that looks like one is not this."""


def is_formula(value: Any) -> bool:
    return isinstance(value, Formula)
