"""Stage `Clip`: PPO's clipped surrogate policy loss.

    band_low = 1 - ε_low,  band_high = 1 + ε_high            (the clip band, a row per response step for the chart)
    L1_t       = -Â_t · ρ_t
    ρclip_t    = min(max(ρ_t, 1 - ε_low), 1 + ε_high)
    L2_t       = -Â_t · ρclip_t
    pg_losses_max = max(L1, L2)                    (= -min(ρÂ, clip(ρ)Â), OpenRLHF/verl form)
    pg_losses  = min(pg_losses_max, -c·Â) if c > 0 and Â < 0, else pg_losses_max
                                                   (dual clip: verl always c=3, OpenRLHF opt-in, TRL none)
    clipped_t  = 1[L2_t > L1_t]                     (the clipped branch wins: no gradient through ρ)
    clipped_lower_t = 1[c > 0, Â_t < 0, max(L1, L2) > -c·Â_t]   (the dual clip binds: no gradient either; verl)
    w_t        = k_b·m_t/N, k_b·m_t/(B·n_b), k_b·m_t/B or k_b·m_t/F (token-mean, seq-mean-token-mean, seq-mean-token-sum,
                                                   seq-mean-token-sum-norm with F = loss_scale_factor or T: agg(x) = Σ w·x;
                                                   k_b = keep, N and B the kept tokens and sequences: reference.advantage)
    pg_loss    = agg(pg_losses)                    (token-mean Σ L·m / Σ m, or a seq-mean mode)
    pg_clipfrac = Σ clipped·m / Σ m;  pg_clipfrac_lower = Σ clipped_lower·m / Σ m
    pg_agg_check = check(Σ w·pg_losses - pg_loss)  (the weights the backward pass multiplies by, held to the loss)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from reference._common import agg_weights, aggregate, check, masked_mean

if TYPE_CHECKING:
    from blueprint.config import Hyper  # the hyperparameters by name, declared once in blueprint/config.py


def clip(adv: np.ndarray, ratio: np.ndarray, mask: np.ndarray, hp: Hyper, keep: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per-token PPO policy losses (B, T) and their aggregate; Â (Advantage's adv) and ρ already masked; keep (B,) the
    sequences the loss counts (reference.advantage). dual_clip 0 = off."""
    T = ratio.shape[1]
    band_low = np.full((1, T), 1.0 - hp.eps)
    band_high = np.full((1, T), 1.0 + hp.eps_high)
    pg_losses1 = -adv * ratio
    ratio_clipped = np.minimum(np.maximum(ratio, 1.0 - hp.eps), 1.0 + hp.eps_high)
    pg_losses2 = -adv * ratio_clipped
    pg_losses_max = np.maximum(pg_losses1, pg_losses2)
    c = hp.dual_clip
    pg_losses = np.where(adv < 0, np.minimum(pg_losses_max, -c * adv), pg_losses_max) if c else pg_losses_max
    pg_clipped = (pg_losses2 > pg_losses1).astype(float)
    pg_clipped_lower = ((adv < 0) & (pg_losses_max > -c * adv)).astype(float) if c else np.zeros_like(pg_losses1)
    agg_w = agg_weights(mask, hp, keep)
    pg_seq_sum, pg_seq_mean, pg_loss = aggregate(pg_losses, mask, hp, keep)
    pg_clipfrac = masked_mean(pg_clipped, mask)
    pg_clipfrac_lower = masked_mean(pg_clipped_lower, mask)
    pg_agg_check = check((agg_w * pg_losses).sum() - pg_loss, hp.check_tol)
    return {"band_low": band_low, "band_high": band_high, "pg_losses1": pg_losses1, "ratio_clipped": ratio_clipped, "pg_losses2": pg_losses2,
            "pg_losses_max": pg_losses_max, "pg_losses": pg_losses, "pg_clipped": pg_clipped, "pg_clipped_lower": pg_clipped_lower,
            "agg_w": agg_w, "pg_seq_sum": pg_seq_sum, "pg_seq_mean": pg_seq_mean, "pg_loss": pg_loss, "pg_clipfrac": pg_clipfrac,
            "pg_clipfrac_lower": pg_clipfrac_lower, "pg_agg_check": pg_agg_check}
