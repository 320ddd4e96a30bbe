"""Worksheet `Clip` (reference.clip): PPO's clipped surrogate policy loss."""

from __future__ import annotations

from blueprint.layout import Layout
from sheets._common import Formulas, Refs

SHEET = "Clip"
TITLE = "Clip — the clipped surrogate: move the policy, but not too far"
SUMMARY = "L1 = -Â·ρ;  L2 = -Â·clip(ρ, 1-ε, 1+ε);  pg_losses = max(L1, L2);  pg_loss = Σ pg_losses·m / N"
LABELS = {
    "pg_losses1": "L1_t = -Â_t·ρ_t",
    "ratio_clipped": "clip(ρ_t, 1-ε, 1+ε)",
    "pg_losses2": "L2_t = -Â_t·clip(ρ_t, 1-ε, 1+ε)",
    "pg_losses": "max(L1_t, L2_t) — per-token policy loss",
    "pg_clipped": "1[L2_t > L1_t] — clipped tokens get no gradient",
    "pg_loss": "L^PG = Σ max(L1, L2)·m / N",
    "pg_clipfrac": "Σ clipped·m / N — clip fraction",
}


def formulas(L: Layout) -> Formulas:
    r, d = Refs(L, SHEET), L.dims
    for b in range(d.B):
        for t in range(d.T):
            adv, rho = r("adv_whitened", b, t, sheet="GAE"), r("ratio", b, t, sheet="Ratio")
            yield "pg_losses1", (b, t), f"=-{adv}*{rho}"
            yield "ratio_clipped", (b, t), f"=MIN(MAX({rho},1-eps),1+eps)"
            yield "pg_losses2", (b, t), f"=-{adv}*{r('ratio_clipped', b, t)}"
            yield "pg_losses", (b, t), f"=MAX({r('pg_losses1', b, t)},{r('pg_losses2', b, t)})"
            yield "pg_clipped", (b, t), f"=({r('pg_losses2', b, t)}>{r('pg_losses1', b, t)})*1"
    mask = r.range("mask", sheet="Rollout")
    yield "pg_loss", (), f"=SUMPRODUCT({r.range('pg_losses')},{mask})/n_tokens"
    yield "pg_clipfrac", (), f"=SUMPRODUCT({r.range('pg_clipped')},{mask})/n_tokens"
