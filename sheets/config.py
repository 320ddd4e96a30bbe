"""Worksheet `Config`: dimensions, vocabulary and hyperparameters as named cells; one derived cell."""

from __future__ import annotations

from blueprint.layout import Layout
from sheets._common import Formulas, Refs

SHEET = "Config"
TITLE = "Config — hyperparameters (edit the yellow cells) and dimensions (fixed by the layout)"
SUMMARY = "Every formula reads these through workbook names: beta, gamma, lam, eps, eps_v, vf_coef, tau, ..."
LABELS = {
    "B": "B — sequences in the batch",
    "P": "P — prompt tokens",
    "T": "T — response window",
    "V": "V — vocabulary size",
    "H": "H — hidden units",
    "vocab": "vocabulary (token 0 .. V-1)",
    "eos": "EOS token",
    "eos_id": "eos_id = MATCH(eos, vocab, 0) - 1",
    "tau": "τ — sampling and log-prob temperature",
    "missing_eos_penalty": "subtracted from s when a response has no EOS",
    "kl_estimator": "k1, k2 or k3 in the reward",
    "beta": "β — KL coefficient in the reward",
    "gamma": "γ — discount",
    "lam": "λ — GAE parameter",
    "whiten_eps": "added to the variance when whitening",
    "eps": "ε — policy clip range",
    "eps_v": "ε_v — value clip range",
    "vf_coef": "c_v — value-loss weight",
    "ent_coef": "c_H — entropy-bonus weight",
}


def formulas(L: Layout) -> Formulas:
    r = Refs(L, SHEET)
    yield "eos_id", (), f"=MATCH({r('eos')},{r.range('vocab')},0)-1"
