"""Worksheet `Config`: dimensions, vocabulary and hyperparameters as named cells; the switches' derived cells."""

from __future__ import annotations

from typing import TYPE_CHECKING

from blueprint.blocks import Q, Row, Scalars
from blueprint.config import HYPERPARAMETERS
from sheets._common import Formulas, Refs

if TYPE_CHECKING:
    from blueprint.layout import Layout

SHEET = "Config"
TITLE = "Config — hyperparameters (edit the yellow cells) and dimensions (fixed by the layout)"
SUMMARY = "Every formula reads these through workbook names: beta, gamma, lam, eps, eps_v, vf_coef, tau, ..."
TAB = "#BF9000"  # tab colour: its phase (rollout, reward and KL, advantages, losses)
WHY = "every formula reads these through workbook names, so one edit re-flows the whole workbook"  # a block's note says this when it has none of its own
BLOCKS = (
    Scalars(*(Q(d, label, "fixed") for d, label in (("B", "B — sequences in the batch"), ("P", "P — prompt tokens"),
                                                    ("T", "T — response window"), ("V", "V — vocabulary size"),
                                                    ("H", "H — hidden units")))),
    Row(Q("vocab", "vocabulary (token 0 .. V-1)", "config", named=True), "V"),
    Scalars(Q("eos", "EOS token", "config")),
    Scalars(Q("eos_id", "eos_id = MATCH(eos, vocab, 0) - 1", "integer", named=True)),
    Scalars(*(Q(key, label, "config", named=True) for key, label in HYPERPARAMETERS.items())),  # declared in blueprint.config
    Scalars(Q("kl_in_reward", "1 if kl_placement is reward or both", "integer", named=True),
            Q("kl_in_loss", "1 if kl_placement is loss or both", "integer", named=True),
            Q("use_critic", "1 if advantage_estimator is gae: the critic, its loss and its step play a part", "integer", named=True)),
)


def formulas(L: Layout) -> Formulas:
    r = Refs(L, SHEET)
    yield "eos_id", (), f"=MATCH({r('eos')},{r.range('vocab')},0)-1"
    yield "kl_in_reward", (), '=OR(kl_placement="reward",kl_placement="both")*1'
    yield "kl_in_loss", (), '=OR(kl_placement="loss",kl_placement="both")*1'
    yield "use_critic", (), '=(advantage_estimator="gae")*1'
