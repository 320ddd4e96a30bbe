"""Worksheet `After Step` (reference.after_step): θ' and φ' on the same rollout — what the next PPO epoch sees.

    ℓ'_t = z^θ'_t[y_t]/τ - logsumexp(z^θ'_t/τ);   ρ'_t = exp(clamp(ℓ' - ℓ_old)·m)      (against θ_old, as before)
    L'_t = min(max(-Â·ρ', -Â·clip(ρ', 1-ε, 1+ε_high)), -c·Â)      (the same Â: advantages are fixed for the iteration)
    V'_t = w_v'·h + b_v'    (h of θ' when the value loss trains the trunk, of θ when it is detached)
    L'   = pg_loss' + c_v·vf_loss' - c_H·entropy' + kl_in_loss·c_KL·kl_loss'
    ΔL   = L' - L  against  gᵀ·Δθ, the first-order prediction
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from blueprint.blocks import HEAD, PARAMS, Grid, Q, Scalars, Table
from sheets import rnn
from sheets._common import VALUE, Formulas, Refs, aggregate, masked_mean
from sheets.clip import dual_clipped, surrogates
from sheets.ratio import logratio
from sheets.total import kl_loss_token
from sheets.value_loss import clipped_value

if TYPE_CHECKING:
    from blueprint.layout import Layout

SHEET = "After Step"
TITLE = "After Step — θ' and φ' on the same rollout: what the next epoch over this batch sees"
SUMMARY = ("ρ' = π_θ'/π_θ_old;  L' = the same losses with the same Â and R;  ΔL = L' - L against gᵀ·Δθ;  "
           "the clip fraction after the step")
TAB = "#C00000"  # tab colour: its phase (rollout, reward and KL, advantages, losses, the update)
WHY = ("PPO takes several steps on one batch: after a step ρ moves, tokens enter the clip band's edges, and their "
       "gradient stops — the trust region at work")  # a block's note says this when it has none of its own
BLOCKS = (
    rnn.policy(probs=True),
    Grid(Q("logp_next", "ℓ'_t = z^θ'_t[y_t]/τ - logsumexp(z^θ'_t/τ) — θ' on the rollout", named=True)),
    Grid(Q("token_entropy_next", "H'_t = lse - Σ_v p_v z_v/τ of π_θ'")),
    Grid(Q("logratio_next", "clamp(ℓ' - ℓ_old, ±logratio_clamp)·m")),
    Grid(Q("ratio_next", "ρ'_t = exp(logratio') — θ' against θ_old, the policy that sampled", named=True)),
    Grid(Q("ratio_real_next", "ρ'_t on real tokens, #N/A after the first EOS — for the chart")),
    Grid(Q("pg_losses_next", "L'_t = max(-Â·ρ', -Â·clip(ρ', 1-ε, 1+ε_high)), capped at -c·Â for Â < 0", flags=("pg_clipped_next",))),
    Grid(Q("pg_clipped_next", "1[the clipped branch wins] after the step: these tokens would send no gradient next epoch", "integer",
           note="# Next epoch ↳ 1 where ρ' has left the band in Â's direction ↳ on the next pass over this batch these tokens "
                "stop pulling: the step made the trust region bind")),
    Grid(Q("values_next", "V'_t = w_v'·h + b_v' — h of θ' (shared) or of θ (detached: the critic's trunk does not move)", value_slots=True)),
    Grid(Q("vf_losses_next", "max((V' - R)², (clip(V', V_old ± ε_v) - R)²)", value_slots=True)),
    Grid(Q("kl_loss_token_next", "k(ℓ', ℓ_ref)·m — kl_loss_estimator")),
    Table(Q("pg_next_seq_sum", "Σ_t L'·m"), Q("pg_next_seq_mean", "Σ_t L'·m / n_b")),
    Table(Q("vf_next_seq_sum", "Σ_t vf_losses'·m_v"), Q("vf_next_seq_mean", "Σ_t vf_losses'·m_v / n_v")),
    Table(Q("entropy_next_seq_sum", "Σ_t H'·m"), Q("entropy_next_seq_mean", "Σ_t H'·m / n_b")),
    Table(Q("kl_next_seq_sum", "Σ_t k'·m"), Q("kl_next_seq_mean", "Σ_t k'·m / n_b")),
    Scalars(
        Q("pg_loss_next", "L^PG' = agg(L') — the policy loss after the step", "key", named=True),
        Q("pg_clipfrac_next", "Σ clipped'·m / N — the clip fraction after the step (before: Clip)", "key"),
        Q("vf_loss_next", "L^VF' = ½ agg(vf_losses') over m_v (Reward's value mask)", "key", named=True),
        Q("entropy_next", "agg(H')"),
        Q("kl_loss_next", "agg(k')"),
        Q("total_loss_next", "L' = L^PG' + c_v·use_critic·L^VF' - c_H·H' + kl_in_loss·c_KL·L^KL'", "key", named=True),
        Q("d_total_loss", "ΔL = L' - L — what the step did to the loss", "key",
          note="# Change ↳ the loss after the step minus before, on the same batch ↳ beside it the first-order prediction "
               "gᵀ·Δθ: close for a small step, apart where the step is large or crosses a clip edge"),
        Q("d_total_loss_pred", "gᵀ·Δθ = Σ ∇·Δ over every weight — the first-order prediction (unclipped g)", "key"),
    ),
)


def formulas(L: Layout) -> Formulas:
    r, d = Refs(L, SHEET), L.dims
    yield from rnn.unroll(r, d, "theta_next", rnn.read_rollout(r, d), d.N, d.P - 1, probs=True, weights="Step")
    for b in range(d.B):
        for t in range(d.T):
            m, adv = r("mask", b, t, sheet="Rollout"), r("adv", b, t, sheet="Advantage")
            yield "logp_next", (b, t), rnn.token_logprob(r, b, t)
            yield "token_entropy_next", (b, t), rnn.entropy(r, b, t)
            yield "logratio_next", (b, t), logratio(r, r("logp_next", b, t), b, t)
            rho = r("ratio_next", b, t)
            yield "ratio_next", (b, t), f"=EXP({r('logratio_next', b, t)})"
            yield "ratio_real_next", (b, t), f"=IF({m}=1,{rho},NA())"
            l1, l2 = surrogates(adv, rho)
            yield "pg_losses_next", (b, t), "=" + dual_clipped(adv, f"MAX({l1},{l2})")
            yield "pg_clipped_next", (b, t), f"=({l2}>{l1})*1"
            w_v, b_v = r.w_row("phi_next.w_v", sheet="Step"), r.w("phi_next.b_v", sheet="Step")
            h_new, h_old = r.range("h", b, d.P - 1 + t), r.range("h", b, d.P - 1 + t, sheet="Ratio")
            yield "values_next", (b, t), f'=IF(value_trunk="shared",SUMPRODUCT({w_v},{h_new}),SUMPRODUCT({w_v},{h_old}))+{b_v}'
            V, V_old, R = r("values_next", b, t), r("values_old", b, t, sheet="Rollout"), r("returns", b, t, sheet="GAE")
            yield "vf_losses_next", (b, t), f"=MAX(({V}-{R})^2,({clipped_value(V, V_old)}-{R})^2)"
            yield "kl_loss_token_next", (b, t), kl_loss_token(r, r("logp_next", b, t), b, t)
    yield from aggregate(r, "pg_losses_next", "pg_next", "pg_loss_next", d.B)
    yield from aggregate(r, "vf_losses_next", "vf_next", "vf_loss_next", d.B, scale="0.5*", over=VALUE)
    yield from aggregate(r, "token_entropy_next", "entropy_next", "entropy_next", d.B)
    yield from aggregate(r, "kl_loss_token_next", "kl_next", "kl_loss_next", d.B)
    yield "pg_clipfrac_next", (), masked_mean(r, "pg_clipped_next")
    yield "total_loss_next", (), (f"={r('pg_loss_next')}+vf_coef*use_critic*{r('vf_loss_next')}-ent_coef*{r('entropy_next')}"
                                  f"+kl_in_loss*kl_loss_coef*{r('kl_loss_next')}")
    yield "d_total_loss", (), f"={r('total_loss_next')}-{r('total_loss', sheet='Total')}"
    grads = [f"SUMPRODUCT({r.range(f'grad.{p}', sheet='Backward')},{r.range(f'delta.{p}', sheet='Step')})" for p in (*PARAMS, HEAD[0])]
    yield "d_total_loss_pred", (), "=" + "+".join(grads) + f"+{r('grad.b_v', sheet='Backward')}*{r('delta.b_v', sheet='Step')}"
