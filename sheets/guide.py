"""Worksheet `Guide`: the story of one iteration and what the switches make of each piece, as live text.

Each cell is a formula over the switches on Config (blueprint.livetext), declared once in
blueprint/guide.py: flip `kl_placement` in Excel and the story of step 3 changes with it. The
expected text comes from the same declaration (`values`), so the verifier checks the words too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from blueprint import guide
from blueprint.blocks import Lines, Q
from blueprint.config import SWITCHES
from blueprint.livetext import Switch, formula, render
from sheets._common import Formulas

if TYPE_CHECKING:
    from blueprint.layout import Layout

SHEET = "Guide"
TITLE = guide.TITLE
SUMMARY = guide.SUBTITLE
TAB = "#7F7F7F"  # tab colour: its phase (rollout, reward and KL, advantages, losses)
BLOCKS = (  # each line a formula in the rows blueprint.layout.guide_rows gives its section
    Lines(Q("story", "One PPO iteration, in plain words", "text",
            note="# Story ↳ one PPO iteration, step by step ↳ each line is a formula over the switches on Config: flip one "
                 "there and the story retells itself"), "story", form="story"),
    Lines(Q("piece_now", "with the switches now", "text",
            note="# Now ↳ what the current switches make of each piece ↳ live, like the story"), "pieces", col=3),
    Lines(Q("switch_now", "the switches now", "text",
            note="# Switches ↳ each text switch as Config holds it now ↳ live: the convention above says how they started"), "switches"),
)
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
