"""Worksheet `Clip` (reference.clip): PPO's clipped surrogate policy loss."""

from __future__ import annotations

from typing import TYPE_CHECKING

from blueprint.blocks import Grid, Q, Scalars, Table
from sheets._common import Formulas, Refs, agg_weight, aggregate, check, masked_mean

if TYPE_CHECKING:
    from blueprint.layout import Layout

SHEET = "Clip"
TITLE = "Clip — the clipped surrogate: move the policy, but not too far"
SUMMARY = "L1 = -Â·ρ;  L2 = -Â·clip(ρ, 1-ε_low, 1+ε_high);  max(L1, L2), capped at -c·Â for Â < 0 (dual clip);  pg_loss = agg(pg_losses)"
TAB = "#7030A0"  # tab colour: its phase (rollout, reward and KL, advantages, losses)
WHY = ("clipping removes the incentive to move ρ further out of [1-ε, 1+ε_high] in the direction Â rewards: a cheap "
       "trust region on the objective, not a bound on the step")  # a block's note says this when it has none of its own
BLOCKS = (
    Grid(Q("band_low", "1 - ε — the clip band's floor (for the chart)"), rows=1),
    Grid(Q("band_high", "1 + ε_high — the clip band's ceiling"), rows=1),
    Grid(Q("ratio_real", "ρ_t on real tokens, #N/A after the first EOS — the chart draws no point there")),
    Grid(Q("pg_losses1", "L1_t = -Â_t·ρ_t")),
    Grid(Q("ratio_clipped", "clip(ρ_t, 1-ε, 1+ε_high)", flags=("pg_clipped",))),
    Grid(Q("pg_losses2", "L2_t = -Â_t·clip(ρ_t, 1-ε, 1+ε_high)", code="pg_losses2")),
    Grid(Q("pg_losses_max", "max(L1_t, L2_t)")),
    Grid(Q("pg_losses", "per-token policy loss: min(max(L1, L2), -c·Â) if dual_clip > 0 and Â < 0", named=True, code="pg_losses", flags=("pg_clipped", "pg_clipped_lower"),
           note="# Clip ↳ the pessimistic max of the two surrogates ↳ no gain from moving ρ further past the band in "
                "Â's direction")),
    Grid(Q("pg_clipped", "1[L2_t > L1_t] — the clipped branch wins: no gradient through ρ", "integer",
           note="# Flag ↳ 1 where the clipped branch wins: Â > 0 with ρ > 1+ε_high, or Â < 0 with ρ < 1-ε ↳ those "
                "tokens send no gradient. A token outside the band on the other side keeps its full gradient, which "
                "pulls ρ back")),
    Grid(Q("pg_clipped_lower", "1[Â_t < 0 and max(L1, L2) > -c·Â_t] — the dual clip binds: no gradient either", "integer",
           note="# Dual clip ↳ 1 where Â < 0 and the loss max(L1, L2) exceeds -c·Â, so the cap -c·Â binds ↳ those "
                "tokens send no gradient either: a ρ far above the band cannot drag a bad token's loss without bound "
                "(verl logs their share as pg_clipfrac_lower)")),
    Grid(Q("agg_w", "w_t = k·m_t/N, k·m_t/(B·n_b), k·m_t/B or k·m_t/F — each token's weight in agg (loss_agg; F = loss_scale_factor "
                    "or T; k = keep, N and B the kept tokens and sequences: Advantage)",
           note="# Weigh ↳ every agg(x) of the workbook is Σ_t w_t·x_t ↳ so the backward pass of an aggregated loss is its "
                "per-token derivative times w: token-mean gives every real token 1/N (long responses weigh more), "
                "seq-mean-token-mean gives every response 1/B, split over its n_b tokens")),
    Table(
        Q("pg_seq_sum", "Σ_t pg_losses·m"),
        Q("pg_seq_mean", "Σ_t pg_losses·m / n_b"),
    ),
    Scalars(
        Q("pg_loss", "L^PG = agg(pg_losses) — loss_agg", "key", named=True, code="pg_loss",
          note="# Aggregate ↳ loss_agg over the real tokens ↳ token-mean lets long responses weigh more (a length "
               "bias); seq-mean-token-mean weighs every response the same"),
        Q("pg_clipfrac", "Σ clipped·m / N — clip fraction", "key", named=True),
        Q("pg_clipfrac_lower", "Σ dual-clipped·m / N — verl's pg_clipfrac_lower", "key"),
        Q("pg_agg_check", "check: pg_loss = Σ w·pg_losses", "check"),
    ),
)


def formulas(L: Layout) -> Formulas:
    r, d = Refs(L, SHEET), L.dims
    for t in range(d.T):
        yield "band_low", (0, t), "=1-eps"
        yield "band_high", (0, t), "=1+eps_high"
    for b in range(d.B):
        for t in range(d.T):
            adv, rho = r("adv", b, t, sheet="Advantage"), r("ratio", b, t, sheet="Ratio")
            yield "ratio_real", (b, t), f"=IF({r('mask', b, t, sheet='Rollout')}=1,{rho},NA())"
            yield "pg_losses1", (b, t), f"=-{adv}*{rho}"
            yield "ratio_clipped", (b, t), f"={clipped_ratio(rho)}"
            yield "pg_losses2", (b, t), f"=-{adv}*{r('ratio_clipped', b, t)}"
            yield "pg_losses_max", (b, t), f"=MAX({r('pg_losses1', b, t)},{r('pg_losses2', b, t)})"
            yield "pg_losses", (b, t), "=" + dual_clipped(adv, r("pg_losses_max", b, t))
            yield "pg_clipped", (b, t), f"=({r('pg_losses2', b, t)}>{r('pg_losses1', b, t)})*1"
            yield "pg_clipped_lower", (b, t), f"=AND(dual_clip>0,{adv}<0,{r('pg_losses_max', b, t)}>-dual_clip*{adv})*1"
            yield "agg_w", (b, t), agg_weight(r, b, t)
    yield from aggregate(r, "pg_losses", "pg", "pg_loss", d.B)
    yield "pg_clipfrac", (), masked_mean(r, "pg_clipped")
    yield "pg_clipfrac_lower", (), masked_mean(r, "pg_clipped_lower")
    yield "pg_agg_check", (), check(f"SUMPRODUCT({r.range('agg_w')},{r.range('pg_losses')})-{r('pg_loss')}")


def surrogates(adv: str, rho: str) -> tuple[str, str]:
    """L1 = -Â·ρ and L2 = -Â·clip(ρ, 1-ε, 1+ε_high), as expressions (After Step writes them into one cell)."""
    return f"-{adv}*{rho}", f"-{adv}*{clipped_ratio(rho)}"


def clipped_ratio(rho: str) -> str:
    """clip(ρ, 1-ε, 1+ε_high): the clip band, for θ here and for θ' on After Step."""
    return f"MIN(MAX({rho},1-eps),1+eps_high)"


def dual_clipped(adv: str, top: str) -> str:
    """min(max(L1, L2), -c·Â) for Â < 0 when the dual clip is on, else max(L1, L2) (`top`)."""
    return f"IF(AND(dual_clip>0,{adv}<0),MIN({top},-dual_clip*{adv}),{top})"
