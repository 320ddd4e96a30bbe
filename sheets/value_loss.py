"""Worksheet `Value Loss` (reference.value_loss): the critic φ regressed on the old critic's returns, clipped."""

from __future__ import annotations

from typing import TYPE_CHECKING

from blueprint.blocks import Grid, Q, Scalars, Table
from reference.value_loss import CRITIC_STATUS
from sheets._common import VALUE, Formulas, Refs, agg_weight, aggregate, check, masked_mean

if TYPE_CHECKING:
    from blueprint.layout import Layout

SHEET = "Value Loss"
TITLE = "Value Loss — the current critic against returns built from the old critic"
SUMMARY = "V_θ = w_v·h^θ + b_v;  Vclip = clip(V_θ, V_old ± ε_v);  vf_losses = max((V_θ-R)², (Vclip-R)²);  vf_loss = ½ agg(vf_losses) over m_v"
TAB = "#7030A0"  # tab colour: its phase (rollout, reward and KL, advantages, losses)
WHY = "a better critic gives lower-variance advantages next iteration; clipping stops it from chasing noisy targets"  # a block's note says this when it has none of its own
BLOCKS = (
    Scalars(Q("critic_status", "the critic: in use (advantage_estimator = gae), or unused (critic-free: Total adds no value term, "
                               "Step moves no φ)", "text",
              note="# Critic ↳ GAE needs a learned critic, trained by this sheet's loss ↳ the critic-free estimators (grpo, "
                   "rloo, reinforce_pp …) replace it by a group or batch baseline: this sheet is still computed, but Total adds "
                   "no value term and Step moves no φ")),
    Grid(Q("values_new", "V_θ_t = w_v^φ·h^θ_t + b_v^φ — current critic", named=True, value_slots=True)),
    Grid(Q("values_clipped", "clip(V_θ, V_old - ε_v, V_old + ε_v)", code="values_clipped", flags=("vf_clipped",), value_slots=True)),
    Grid(Q("vf_losses1", "(V_θ - R)²", value_slots=True)),
    Grid(Q("vf_losses2", "(Vclip - R)²", value_slots=True)),
    Grid(Q("vf_losses", "max of the two — per-token value loss", named=True, flags=("vf_clipped",),
           note="# Value ↳ max of unclipped and clipped squared errors ↳ pessimistic, as baselines PPO2", value_slots=True)),
    Grid(Q("vf_clipped", "1[(Vclip-R)² > (V_θ-R)²]", "integer", value_slots=True)),
    Grid(Q("vf_agg_w", "w^v_t — each slot's weight in agg over m_v: k·m_v/N_v, k·m_v/(B·n_v), k·m_v/B or k·m_v/F (loss_agg)",
           note="# Value weights ↳ Clip's agg_w over Reward's value mask m_v instead of the real tokens m ↳ with score_slot = "
                "after_eos TRL averages the value loss over ~padding_mask_p1, so the slot e + 1 the score lands on is trained "
                "too and every real token weighs a little less; Backward's ∂L/∂V uses these weights", value_slots=True)),
    Table(
        Q("vf_seq_sum", "Σ_t vf_losses·m_v"),
        Q("vf_seq_mean", "Σ_t vf_losses·m_v / n_v"),
    ),
    Scalars(
        Q("vf_loss", "L^VF = ½ agg(vf_losses) over m_v — loss_agg", "key", named=True, code="vf_loss"),
        Q("vf_clipfrac", "Σ vf_clipped·m_v / N_v — value clip fraction", "key", named=True),
        Q("vf_agg_check", "check: ½ Σ w^v·vf_losses = L^VF", "check"),
    ),
)


def formulas(L: Layout) -> Formulas:
    r, d = Refs(L, SHEET), L.dims
    yield "critic_status", (), f'=IF(use_critic=1,"{CRITIC_STATUS[0]}","{CRITIC_STATUS[1]}")'
    for b in range(d.B):
        for t in range(d.T):
            v, v_old, ret = r("values_new", b, t), r("values_old", b, t, sheet="Rollout"), r("returns", b, t, sheet="GAE")
            h_row = r.range("h", b, d.P - 1 + t, sheet="Ratio")
            yield "values_new", (b, t), f"=SUMPRODUCT({r.w_row('phi.w_v')},{h_row})+{r.w('phi.b_v')}"
            yield "values_clipped", (b, t), f"={clipped_value(v, v_old)}"
            yield "vf_losses1", (b, t), f"=({v}-{ret})^2"
            yield "vf_losses2", (b, t), f"=({r('values_clipped', b, t)}-{ret})^2"
            yield "vf_losses", (b, t), f"=MAX({r('vf_losses1', b, t)},{r('vf_losses2', b, t)})"
            yield "vf_clipped", (b, t), f"=({r('vf_losses2', b, t)}>{r('vf_losses1', b, t)})*1"
            yield "vf_agg_w", (b, t), agg_weight(r, b, t, VALUE)
    yield from aggregate(r, "vf_losses", "vf", "vf_loss", d.B, scale="0.5*", over=VALUE)
    yield "vf_clipfrac", (), masked_mean(r, "vf_clipped", VALUE)
    yield "vf_agg_check", (), check(f"0.5*SUMPRODUCT({r.range('vf_agg_w')},{r.range('vf_losses')})-{r('vf_loss')}")


def clipped_value(v: str, v_old: str) -> str:
    """clip(V, V_old - ε_v, V_old + ε_v): for φ here and for φ' on After Step."""
    return f"MIN(MAX({v},{v_old}-eps_v),{v_old}+eps_v)"
