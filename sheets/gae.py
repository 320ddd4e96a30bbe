"""Worksheet `GAE` (reference.gae): credit assignment backwards through the response, then whitening."""

from __future__ import annotations

from typing import TYPE_CHECKING

from blueprint.blocks import Grid, Q, Scalars
from sheets._common import WHITEN_DENOM, Formulas, Refs, check, masked_moments, moments_blocks, whiten_std

if TYPE_CHECKING:
    from blueprint.layout import Layout

SHEET = "GAE"
TITLE = "GAE — advantages and value targets from the old critic, then whitening"
SUMMARY = "δ_t = r_t + γV_{t+1} - V_t;  A_t = δ_t + γλA_{t+1};  R_t = A_t + V_t;  Â = (A - μ)/√(var + ε)·m (or √max(var, ε))"
TAB = "#548235"  # tab colour: its phase (rollout, reward and KL, advantages, losses)
WHY = ("advantages tell each token how much better it did than the critic expected; whitening fixes the step's scale, "
       "whatever the reward model's units")  # a block's note says this when it has none of its own
BLOCKS = (
    Grid(Q("values", "V_t = V_old_t·m_v_t — old values, zero after EOS (after the score's slot e + 1: score_slot = after_eos)",
           note="# Old values ↳ V_old kept on Reward's m_v: the real tokens, or up to e + 1 when the score lands there ↳ "
                "TRL-new masks the values with padding_mask_p1, so δ and A run through the score's slot: there δ = s - V_old "
                "and R = s, the target V is trained on", value_slots=True)),
    Grid(Q("delta", "δ_t = r_t + γ·V_{t+1} - V_t — TD residual", code="delta",
           note="# TD ↳ δ_t = r_t + γV_{t+1} - V_t ↳ one-step surprise of the old critic", value_slots=True)),
    Grid(Q("advantages", "A_t = δ_t + γλ·A_{t+1} — GAE, filled right to left", named=True, code="advantages",
           note="# GAE ↳ A_t = δ_t + γλA_{t+1}, right to left ↳ λ trades bias (λ=0) against variance (λ=1). A response "
                "cut at T without EOS is treated as finished: V after the cut is 0, nothing is bootstrapped", value_slots=True)),
    Grid(Q("returns", "R_t = A_t + V_t — value targets", named=True, code="returns",
           note="# Targets ↳ R_t = A_t + V_old_t ↳ the critic's regression target comes from the OLD critic", value_slots=True)),
    *moments_blocks("adv", "A"),
    Grid(Q("adv_whitened", "Â_t = (A_t - μ)/√(var + eps)·m_t, √max(var, eps) if whiten_eps_mode = max (A·m if adv_whiten = off)", named=True, code="adv_whitened", flags=("adv_flipped",),
           note="# Whiten ↳ (A - μ)/σ over the batch (adv_whiten) ↳ a scale-free step, whatever the reward model's "
                "units; it can flip the sign of a whole sequence. Over what: TRL one process's batch, OpenRLHF the "
                "step's whole rollout batch, verl the whole batch")),
    Grid(Q("adv_flipped", "1[A_t·Â_t < 0] — whitening turned the sign (the batch's mean moved it)", "integer")),
    Scalars(
        Q("adv_flipfrac", "Σ flipped / N — share of tokens whose advantage changed sign"),
        Q("adv_mean_check", "check: Σ Â·m / N = 0", "check"),
        Q("adv_std_check", "check: std(Â) = 1", "check"),
    ),
)


def formulas(L: Layout) -> Formulas:
    r, d = Refs(L, SHEET), L.dims
    mask = r.range("mask", sheet="Rollout")
    for b in range(d.B):
        for t in range(d.T):
            yield "values", (b, t), f"={r('values_old', b, t, sheet='Rollout')}*{r('mask_v', b, t, sheet='Reward')}"
    for b in range(d.B):
        for t in range(d.T):
            last = t + 1 == d.T
            rew = r("rewards", b, t, sheet="KL")
            yield "delta", (b, t), f"={rew}-{r('values', b, t)}" if last else f"={rew}+gamma*{r('values', b, t + 1)}-{r('values', b, t)}"
            yield "advantages", (b, t), f"={r('delta', b, t)}" if last else f"={r('delta', b, t)}+gamma*lam*{r('advantages', b, t + 1)}"
            yield "returns", (b, t), f"={r('advantages', b, t)}+{r('values', b, t)}"
    yield from masked_moments(r, d.B, d.T, "advantages", "adv", WHITEN_DENOM)
    for b in range(d.B):
        for t in range(d.T):
            adv, m = r("advantages", b, t), r("mask", b, t, sheet="Rollout")
            whitened = f"({adv}-{r('adv_mean')})/{whiten_std(r('adv_var'))}"
            yield "adv_whitened", (b, t), f'=IF(adv_whiten="off",{adv},{whitened})*{m}'
    for b in range(d.B):
        for t in range(d.T):
            yield "adv_flipped", (b, t), f"=({r('advantages', b, t)}*{r('adv_whitened', b, t)}<0)*1"
    yield "adv_flipfrac", (), f"=SUM({r.range('adv_flipped')})/n_tokens"
    aw = r.range("adv_whitened")
    mean_check = check(f"SUMPRODUCT({aw},{mask})/n_tokens")[1:]
    std_check = check(f"SQRT(SUMPRODUCT({aw},{aw})/{WHITEN_DENOM})-1")[1:]
    yield "adv_mean_check", (), f'=IF(adv_whiten="off","off",{mean_check})'
    yield "adv_std_check", (), f'=IF(adv_whiten="off","off",{std_check})'
