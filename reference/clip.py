"""Stage `Clip`: PPO's clipped surrogate policy loss.

    L1_t       = -Â_t · ρ_t
    ρclip_t    = min(max(ρ_t, 1 - ε_low), 1 + ε_high)
    L2_t       = -Â_t · ρclip_t
    pg_losses  = max(L1, L2)                       (= -min(ρÂ, clip(ρ)Â), OpenRLHF/verl form)
    dual clip  : Â_t < 0 → min(pg_losses, -c·Â_t) (verl always c=3, OpenRLHF opt-in, TRL none)
    clipped_t  = 1[L2_t > L1_t]
    pg_loss    = Σ pg_losses·m / Σ m               (token-mean)
    pg_clipfrac = Σ clipped·m / Σ m
    ∂pg_loss/∂ℓ_θ_t = -Â_t ρ_t 1[L1_t ≥ L2_t] m_t / Σ m   (clipped tokens get no gradient)
"""

from __future__ import annotations

import numpy as np


def clipped_surrogate(
    adv: np.ndarray, ratio: np.ndarray, mask: np.ndarray, eps_low: float, eps_high: float | None = None, dual_clip: float | None = None
) -> dict[str, np.ndarray]:
    """Per-token PPO policy losses (B, T) and their token-mean; Â and ρ already masked."""
    eps_high = eps_low if eps_high is None else eps_high
    l1 = -adv * ratio
    ratio_clipped = np.minimum(np.maximum(ratio, 1.0 - eps_low), 1.0 + eps_high)
    l2 = -adv * ratio_clipped
    losses = np.maximum(l1, l2)
    if dual_clip is not None:
        losses = np.where(adv < 0, np.minimum(losses, -dual_clip * adv), losses)
    clipped = (l2 > l1).astype(float)
    n = mask.sum()
    return {
        "pg_losses1": l1, "ratio_clipped": ratio_clipped, "pg_losses2": l2, "pg_losses": losses,
        "pg_clipped": clipped, "pg_loss": np.array((losses * mask).sum() / n), "pg_clipfrac": np.array((clipped * mask).sum() / n),
    }


def pg_loss_grad_logp(adv: np.ndarray, ratio: np.ndarray, mask: np.ndarray, eps: float) -> np.ndarray:
    """Analytic ∂pg_loss/∂ℓ_θ (B, T) of the symmetric clip: the unclipped branch only."""
    l1, l2 = -adv * ratio, -adv * np.clip(ratio, 1.0 - eps, 1.0 + eps)
    return -adv * ratio * (l1 >= l2) * mask / mask.sum()


def aggregate(loss: np.ndarray, mask: np.ndarray, mode: str = "token-mean", scale: float | None = None) -> float:
    """verl `agg_loss` / OpenRLHF `aggregate_loss` (PPO_MATH.md §7.5)."""
    if mode == "token-mean":
        return float((loss * mask).sum() / mask.sum())
    if mode == "seq-mean-token-mean":
        return float(((loss * mask).sum(axis=1) / mask.sum(axis=1)).mean())
    if mode == "seq-mean-token-sum":
        return float((loss * mask).sum(axis=1).mean())
    if mode == "seq-mean-token-sum-norm":
        return float((loss * mask).sum() / (loss.shape[-1] if scale is None else scale))
    raise ValueError(f"aggregation mode {mode!r}")
