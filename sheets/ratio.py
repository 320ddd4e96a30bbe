"""Worksheet `Ratio` (reference.ratio): the current policy θ re-reads the rollout; ρ = π_θ/π_θ_old."""

from __future__ import annotations

from blueprint.layout import Layout
from sheets import rnn
from sheets._common import Formulas, Refs, softmax_checks

SHEET = "Ratio"
TITLE = "Ratio — the updated policy θ against the policy that sampled, θ_old"
SUMMARY = "ℓ_θ = z^θ[y]/τ - lse;  H = lse - Σ p·z/τ;  logratio = (ℓ_θ - ℓ_old)·m;  ρ = exp(logratio)"
LABELS = {
    **rnn.LABELS,
    "logp_new": "ℓ_θ_t = z^θ_t[y_t]/τ - logsumexp(z^θ_t/τ)",
    "token_entropy": "H_t = lse - Σ_v p_v z_v/τ — entropy of π_θ",
    "logratio": "clamp(ℓ_θ - ℓ_old, ±logratio_clamp)·m — log-ratio, 0 after EOS",
    "ratio": "ρ_t = exp(logratio_t) — importance ratio",
    "approx_kl": "½ Σ logratio² / N — TRL approxkl (θ vs θ_old)",
    "ppo_kl": "-Σ logratio / N — ppo_kl / policykl (θ_old‖θ)",
    "p_check": "check: Σ_v p_tv = 1",
}


def formulas(L: Layout) -> Formulas:
    r, d = Refs(L, SHEET), L.dims
    yield from rnn.unroll(r, d, "new", rnn.read_rollout(r, d), d.N, d.P - 1, probs=True)
    for b in range(d.B):
        for t in range(d.T):
            yield "logp_new", (b, t), rnn.token_logprob(r, b, t)
            yield "token_entropy", (b, t), f"={r('lse', b, t)}-SUMPRODUCT({r.range('p', b, t)},{r.range('logits', b, t)})/tau"
            diff = f"({r('logp_new', b, t)}-{r('logp_old', b, t, sheet='Rollout')})"
            clamped = f"MIN(MAX({diff},-logratio_clamp),logratio_clamp)"
            yield "logratio", (b, t), f"=IF(logratio_clamp>0,{clamped},{diff})*{r('mask', b, t, sheet='Rollout')}"
            yield "ratio", (b, t), f"=EXP({r('logratio', b, t)})"
    lr = r.range("logratio")
    yield "approx_kl", (), f"=0.5*SUMPRODUCT({lr},{lr})/n_tokens"
    yield "ppo_kl", (), f"=-SUM({lr})/n_tokens"
    yield from softmax_checks(r, d.B, d.T)
