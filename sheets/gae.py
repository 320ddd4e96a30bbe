"""Worksheet `GAE` (reference.gae): credit assignment backwards through the response, then whitening."""

from __future__ import annotations

from blueprint.layout import Layout
from sheets._common import Formulas, Refs, check, masked_moments

SHEET = "GAE"
TITLE = "GAE — advantages and value targets from the old critic, then whitening"
SUMMARY = "δ_t = r_t + γV_{t+1} - V_t;  A_t = δ_t + γλA_{t+1};  R_t = A_t + V_t;  Â = (A - μ)/√(var + 1e-8)·m"
LABELS = {
    "values": "V_t = V_old_t·m_t — old values, zero after EOS",
    "delta": "δ_t = r_t + γ·V_{t+1} - V_t — TD residual",
    "advantages": "A_t = δ_t + γλ·A_{t+1} — GAE, filled right to left",
    "returns": "R_t = A_t + V_t — value targets",
    "adv_mean": "μ = Σ A·m / N",
    "adv_dev2": "(A_t - μ)²",
    "adv_var": "var = Σ (A-μ)²·m / max(N - 1, 1) — unbiased (or / N: population)",
    "adv_whitened": "Â_t = (A_t - μ)/√(var + whiten_eps)·m_t (A·m if adv_whiten = off)",
    "adv_flipped": "1[A_t·Â_t < 0] — whitening turned the sign (the batch's mean moved it)",
    "adv_flipfrac": "Σ flipped / N — share of tokens whose advantage changed sign",
    "adv_mean_check": "check: Σ Â·m / N = 0",
    "adv_std_check": "check: std(Â) = 1",
}


def formulas(L: Layout) -> Formulas:
    r, d = Refs(L, SHEET), L.dims
    mask = r.range("mask", sheet="Rollout")
    for b in range(d.B):
        for t in range(d.T):
            yield "values", (b, t), f"={r('values_old', b, t, sheet='Rollout')}*{r('mask', b, t, sheet='Rollout')}"
    for b in range(d.B):
        for t in range(d.T):
            last = t + 1 == d.T
            rew = r("rewards", b, t, sheet="KL")
            yield "delta", (b, t), f"={rew}-{r('values', b, t)}" if last else f"={rew}+gamma*{r('values', b, t + 1)}-{r('values', b, t)}"
            yield "advantages", (b, t), f"={r('delta', b, t)}" if last else f"={r('delta', b, t)}+gamma*lam*{r('advantages', b, t + 1)}"
            yield "returns", (b, t), f"={r('advantages', b, t)}+{r('values', b, t)}"
    denom = 'IF(adv_whiten="population",n_tokens,MAX(n_tokens-1,1))'
    yield from masked_moments(r, d.B, d.T, "advantages", "adv", denom)
    for b in range(d.B):
        for t in range(d.T):
            adv, m = r("advantages", b, t), r("mask", b, t, sheet="Rollout")
            whitened = f"({adv}-{r('adv_mean')})/SQRT({r('adv_var')}+whiten_eps)"
            yield "adv_whitened", (b, t), f'=IF(adv_whiten="off",{adv},{whitened})*{m}'
    for b in range(d.B):
        for t in range(d.T):
            yield "adv_flipped", (b, t), f"=({r('advantages', b, t)}*{r('adv_whitened', b, t)}<0)*1"
    yield "adv_flipfrac", (), f"=SUM({r.range('adv_flipped')})/n_tokens"
    aw = r.range("adv_whitened")
    mean_check = check(f"SUMPRODUCT({aw},{mask})/n_tokens")[1:]
    std_check = check(f"SQRT(SUMPRODUCT({aw},{aw})/{denom})-1")[1:]
    yield "adv_mean_check", (), f'=IF(adv_whiten="off","off",{mean_check})'
    yield "adv_std_check", (), f'=IF(adv_whiten="off","off",{std_check})'
