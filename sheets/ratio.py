"""Worksheet `Ratio` (reference.ratio): the current policy θ re-reads the rollout; ρ = π_θ/π_θ_old."""

from __future__ import annotations

from typing import TYPE_CHECKING

from blueprint.blocks import Grid, Q, Scalars
from sheets import rnn
from sheets._common import Formulas, Refs, softmax_checks

if TYPE_CHECKING:
    from blueprint.layout import Layout

SHEET = "Ratio"
TITLE = "Ratio — the updated policy θ against the policy that sampled, θ_old"
SUMMARY = "ℓ_θ = z^θ[y]/τ - lse;  H = lse - Σ p·z/τ;  logratio = (ℓ_θ - ℓ_old)·m;  ρ = exp(logratio)"
TAB = "#7030A0"  # tab colour: its phase (rollout, reward and KL, advantages, losses)
WHY = "PPO reuses a batch sampled by θ_old to update θ: the ratio re-weights each token to the current policy"  # a block's note says this when it has none of its own
BLOCKS = (
    rnn.policy(probs=True),
    Grid(Q("logp_new", "ℓ_θ_t = z^θ_t[y_t]/τ - logsumexp(z^θ_t/τ)", named=True, code="logp_new")),
    Grid(Q("token_entropy", "H_t = lse - Σ_v p_v z_v/τ — entropy of π_θ", code="token_entropy",
           note="# Entropy ↳ H_t of π_θ(·|s_t) at z/τ ↳ a diagnostic (or a bonus, ent_coef). TRL logs an unmasked mean "
                "(padding counts); OpenRLHF computes it from the logits before dividing by τ")),
    Grid(Q("logratio", "clamp(ℓ_θ - ℓ_old, ±logratio_clamp)·m — log-ratio, 0 after EOS", code="ratio_clamp")),
    Grid(Q("ratio", "ρ_t = exp(logratio_t) — importance ratio", named=True, code="ratio",
           note="# Ratio ↳ ρ = exp(ℓ_θ - ℓ_old) ↳ re-weights θ_old's samples to the current policy")),
    Grid(Q("p_check", "check: Σ_v p_tv = 1", "check")),
    Scalars(
        Q("approx_kl", "½ Σ logratio² / N — TRL approxkl (θ vs θ_old)", "key", named=True, code="approx_kl",
          note="# Policy KL ↳ ½⟨(ℓ_θ - ℓ_old)²⟩ over real tokens ↳ how far this update has moved. TRL's approxkl is a "
               "mean over every slot, padding included; OpenRLHF's ppo_kl uses the unclamped log-ratio, verl's the "
               "clamped one"),
        Q("ppo_kl", "-Σ logratio / N — ppo_kl / policykl (θ_old‖θ)"),
    ),
)


def formulas(L: Layout) -> Formulas:
    r, d = Refs(L, SHEET), L.dims
    yield from rnn.unroll(r, d, "theta", rnn.read_rollout(r, d), d.N, d.P - 1, probs=True)
    for b in range(d.B):
        for t in range(d.T):
            yield "logp_new", (b, t), rnn.token_logprob(r, b, t)
            yield "token_entropy", (b, t), rnn.entropy(r, b, t)
            yield "logratio", (b, t), logratio(r, r("logp_new", b, t), b, t)
            yield "ratio", (b, t), f"=EXP({r('logratio', b, t)})"
    lr = r.range("logratio")
    yield "approx_kl", (), f"=0.5*SUMPRODUCT({lr},{lr})/n_tokens"
    yield "ppo_kl", (), f"=-SUM({lr})/n_tokens"
    yield from softmax_checks(r, d.B, d.T)


def logratio(r: Refs, logp: str, b: int, t: int) -> str:
    """clamp(ℓ - ℓ_old, ±logratio_clamp)·m (no clamp when it is 0): for θ here, for θ' on After Step."""
    diff = f"({logp}-{r('logp_old', b, t, sheet='Rollout')})"
    clamped = f"MIN(MAX({diff},-logratio_clamp),logratio_clamp)"
    return f"=IF(logratio_clamp>0,{clamped},{diff})*{r('mask', b, t, sheet='Rollout')}"
