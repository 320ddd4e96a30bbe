"""Worksheet `Total` (reference.total): the loss PPO descends, and what people watch while it trains."""

from __future__ import annotations

from typing import TYPE_CHECKING

from blueprint.blocks import Grid, Q, Scalars, Table
from sheets._common import Formulas, Refs, aggregate, check
from sheets.kl import kl_clamped

if TYPE_CHECKING:
    from blueprint.layout import Layout

SHEET = "Total"
TITLE = "Total — the losses the optimizers descend, and the training diagnostics"
SUMMARY = ("actor L^A = L^PG - c_H·H + kl_in_loss·c_KL·L^KL, critic L^VF (OpenRLHF, verl: two optimizers);  TRL: L = L^A + c_v·L^VF;  "
           "objective/kl = mean_b Σ_t k_t;  β_next from the KL controller")
TAB = "#7030A0"  # tab colour: its phase (rollout, reward and KL, advantages, losses)
WHY = "the numbers the optimizers descend, and the diagnostics that tell whether training is healthy"  # a block's note says this when it has none of its own
BLOCKS = (
    Scalars(
        Q("total_loss", "L = actor_loss + vf_coef·critic_loss — TRL's one loss; under OpenRLHF and verl a sum for display only", "key", named=True, code="total_loss",
          note="# Total ↳ L = L^A + c_v·L^VF ↳ TRL: one backward pass, one optimizer step. OpenRLHF and verl step "
               "actor_loss and critic_loss with two optimizers: their total is for display, and vf_coef is TRL's"),
        Q("actor_loss", "L^A = pg_loss - ent_coef·entropy + kl_in_loss·kl_loss_coef·kl_loss — the actor's loss", named=True),
        Q("critic_loss", "L^VF = use_critic·vf_loss — the critic's loss (its own optimizer in OpenRLHF and verl; 0 critic-free)", named=True),
    ),
    Table(
        Q("entropy_seq_sum", "Σ_t H·m"),
        Q("entropy_seq_mean", "Σ_t H·m / n_b"),
    ),
    Scalars(Q("entropy", "agg(H) — entropy of π_θ", "key", named=True)),
    Grid(Q("kl_loss_token", "k(ℓ_θ, ℓ_ref)·m — KL(θ‖θ_ref) per token, kl_loss_estimator, clamped to ±kl_clamp (0 = off)", code="kl_loss_token",
           note="# KL loss ↳ k(ℓ_θ, ℓ_ref) per token ↳ as a loss the estimators' gradients differ (samples from π_θ): "
                "k1's expected gradient is zero, k2's is ∇KL(θ‖θ_ref), k3's is ∇KL(θ_ref‖θ) (verl's comment in "
                "core_algos.py). OpenRLHF defaults to k1 and recommends k2 or k3 when KL is a loss")),
    Table(
        Q("kl_seq_sum", "Σ_t kl_loss_token"),
        Q("kl_seq_mean", "Σ_t kl_loss_token / n_b"),
    ),
    Scalars(Q("kl_loss", "L^KL = agg(kl_loss_token) — KL as a loss term", "key", named=True)),
    Scalars(
        Q("part_pg", "policy loss  L^PG"),
        Q("part_vf", "value loss   c_v·L^VF (0 without a critic)"),
        Q("part_ent", "entropy bonus  -c_H·H"),
        Q("part_kl", "KL loss  kl_in_loss·c_KL·L^KL"),
        Q("total_check", "check: L = Σ parts", "check"),
    ),
    Scalars(
        Q("kl_sum", "objective/kl = mean_b Σ_t k_t"),
        Q("non_score_sum", "objective/non_score_reward = mean_b Σ_t -β·k_t"),
        Q("score_mean", "objective/scores = mean_b s"),
        Q("rlhf_reward", "objective/rlhf_reward = scores + non_score_reward"),
    ),
    Table(Q("ctl_seq_kl", "Σ_t k_t / n_b — per-sequence token-mean KL (verl masked_mean)")),
    Scalars(
        Q("ctl_kl", "the controller's KL: mean_b Σ_t k_t (seq-sum) or mean_b of Σ_t k_t / n_b (seq-mean)"),
        Q("beta_next", "β_next = β·(1 + clip(ctl_kl / kl_target - 1, ±kl_ctl_clip)·B/kl_horizon) if kl_ctl = adaptive, else β", "key", named=True, code="beta_next",
          note="# Controller ↳ β for the next iteration (kl_ctl, kl_ctl_input) ↳ TRL-new has none; OpenRLHF and verl "
               "are fixed by default; adaptive, verl feeds the per-sequence token-mean KL (target 0.1), TRL-legacy and "
               "OpenAI-2019 the per-sequence sum (target 6)"),
    ),
)


def formulas(L: Layout) -> Formulas:
    r, d = Refs(L, SHEET), L.dims
    B = L.a1("Config", "B", here=SHEET, absolute=True)
    yield from aggregate(r, "token_entropy", "entropy", "entropy", d.B, sheet="Ratio")
    for b in range(d.B):
        for t in range(d.T):
            yield "kl_loss_token", (b, t), kl_loss_token(r, r("logp_new", b, t, sheet="Ratio"), b, t)
    yield from aggregate(r, "kl_loss_token", "kl", "kl_loss", d.B)
    yield "actor_loss", (), f"={r('pg_loss', sheet='Clip')}-ent_coef*{r('entropy')}+kl_in_loss*kl_loss_coef*{r('kl_loss')}"
    yield "critic_loss", (), f"=use_critic*{r('vf_loss', sheet='Value Loss')}"
    yield "total_loss", (), f"={r('actor_loss')}+vf_coef*{r('critic_loss')}"
    yield "kl_sum", (), f"=SUM({r.range('kl_token', sheet='KL')})/{B}"
    yield "non_score_sum", (), f"=SUM({r.range('non_score_reward', sheet='KL')})/{B}"
    yield "score_mean", (), f"=AVERAGE({r.range('score', sheet='Reward')})"
    yield "rlhf_reward", (), f"={r('score_mean')}+{r('non_score_sum')}"
    yield "part_pg", (), f"={r('pg_loss', sheet='Clip')}"
    yield "part_vf", (), f"=vf_coef*{r('critic_loss')}"
    yield "part_ent", (), f"=-ent_coef*{r('entropy')}"
    yield "part_kl", (), f"=kl_in_loss*kl_loss_coef*{r('kl_loss')}"
    parts = "+".join(r(p) for p in ("part_pg", "part_vf", "part_ent", "part_kl"))
    yield "total_check", (), check(f"{r('total_loss')}-({parts})")
    for b in range(d.B):
        yield "ctl_seq_kl", (b,), f"=SUM({r.range('kl_token', b, sheet='KL')})/{r('n_real', b, sheet='Reward')}"
    yield "ctl_kl", (), f'=IF(kl_ctl_input="seq-mean",AVERAGE({r.range("ctl_seq_kl")}),{r("kl_sum")})'
    err = f"MIN(MAX({r('ctl_kl')}/kl_target-1,-kl_ctl_clip),kl_ctl_clip)"
    yield "beta_next", (), f'=IF(kl_ctl="adaptive",beta*(1+{err}*{B}/kl_horizon),beta)'


def kl_loss_token(r: Refs, logp: str, b: int, t: int) -> str:
    """k(ℓ, ℓ_ref)·m for the kl_loss_estimator, d = ℓ - ℓ_ref: k1 = d, k2 = d²/2, k3 = e^-d - 1 + d, clamped to ±kl_clamp as
    the reward's is (θ here, θ' on After Step)."""
    k = kl_loss_estimate(f"({logp}-{r('logp_ref', b, t, sheet='KL')})")
    return f"={kl_clamped(k, 'kl_loss_estimator')}*{r('mask', b, t, sheet='Rollout')}"


def kl_loss_estimate(dk: str) -> str:
    """k1 = d, k2 = d²/2 or k3 = e^-d - 1 + d by kl_loss_estimator, d = ℓ - ℓ_ref (unclamped: Backward asks whether the clamp binds)."""
    return f'IF(kl_loss_estimator="k2",0.5*{dk}^2,IF(kl_loss_estimator="k3",EXP(-{dk})-1+{dk},{dk}))'
