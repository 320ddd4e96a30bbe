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
    "eos_handling": "no EOS: subtract | replace | off",
    "missing_eos_penalty": "subtracted from s (eos_handling = subtract)",
    "missing_eos_score": "the score (eos_handling = replace)",
    "kl_placement": "KL to θ_ref in: reward | loss | both | none",
    "kl_estimator": "k1 | k2 | k3 — KL(θ_old‖θ_ref) in the reward",
    "beta": "β — KL coefficient in the reward",
    "kl_loss_estimator": "k1 | k2 | k3 — KL(θ‖θ_ref) as a loss",
    "kl_loss_coef": "c_KL — weight of the KL loss",
    "reward_whiten": "off | on — whiten rewards, keep their mean",
    "gamma": "γ — discount",
    "lam": "λ — GAE parameter",
    "adv_whiten": "unbiased | population | off",
    "whiten_eps": "added to the variance when whitening",
    "logratio_clamp": "clamp ℓ_θ - ℓ_old to ±this (0 = off)",
    "eps": "ε_low — policy clip range below 1",
    "eps_high": "ε_high — policy clip range above 1",
    "dual_clip": "c — cap -c·Â for Â < 0 (0 = off)",
    "eps_v": "ε_v — value clip range",
    "loss_agg": "token-mean | seq-mean-token-mean | seq-mean-token-sum",
    "vf_coef": "c_v — value-loss weight",
    "ent_coef": "c_H — entropy-bonus weight",
    "kl_ctl": "KL controller: fixed | adaptive",
    "kl_ctl_input": "its KL: seq-sum | seq-mean",
    "kl_target": "adaptive KL: target of its KL",
    "kl_horizon": "adaptive KL: horizon",
    "kl_ctl_clip": "adaptive KL: error clipped to ±this",
    "check_tol": "a check row shows OK within this",
    "kl_in_reward": "1 if kl_placement is reward or both",
    "kl_in_loss": "1 if kl_placement is loss or both",
}


def formulas(L: Layout) -> Formulas:
    r = Refs(L, SHEET)
    yield "eos_id", (), f"=MATCH({r('eos')},{r.range('vocab')},0)-1"
    yield "kl_in_reward", (), '=OR(kl_placement="reward",kl_placement="both")*1'
    yield "kl_in_loss", (), '=OR(kl_placement="loss",kl_placement="both")*1'
