"""Worksheet `Guide`: the story of one iteration and what the switches make of each piece, as live text.

Each cell is a formula over the switches on Config (blueprint.livetext), declared once in
blueprint/guide.py: flip `kl_placement` in Excel and the story of step 3 changes with it. The
expected text comes from the same declaration (`values`), so the verifier checks the words too.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from blueprint import guide
from blueprint.config import SWITCHES
from blueprint.layout import Layout
from blueprint.livetext import Switch, formula, render
from sheets._common import Formulas

SHEET = "Guide"
TITLE = guide.TITLE
SUMMARY = guide.SUBTITLE
LABELS = {
    "story": "One PPO iteration, in plain words",
    "piece_now": "with the switches now",
    "switch_now": "the switches now",
}
# The live texts, by block: the story's steps, each piece's words for the current switches, `key = value` per switch.
TEXTS = {
    "story": guide.STORY,
    "piece_now": tuple(now for *_, now in guide.PIECES),
    "switch_now": tuple((f"{key} = ", Switch(key)) for key in SWITCHES),
}


def formulas(L: Layout) -> Formulas:
    for quantity, texts in TEXTS.items():
        for k, parts in enumerate(texts):
            if parts:
                yield quantity, (k,), formula(parts)


def values(config: Any) -> dict[str, np.ndarray]:
    """The text each cell shows for `config`."""
    return {quantity: np.array([render(parts, config) for parts in texts], dtype=object) for quantity, texts in TEXTS.items()}
