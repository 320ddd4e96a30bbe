"""Stage `Clip`: PPO's clipped surrogate policy loss.

    L1_t       = -Â_t · ρ_t
    ρclip_t    = min(max(ρ_t, 1 - ε_low), 1 + ε_high)
    L2_t       = -Â_t · ρclip_t
    pg_losses_max = max(L1, L2)                    (= -min(ρÂ, clip(ρ)Â), OpenRLHF/verl form)
    pg_losses  = min(pg_losses_max, -c·Â) if c > 0 and Â < 0, else pg_losses_max
                                                   (dual clip: verl always c=3, OpenRLHF opt-in, TRL none)
    clipped_t  = 1[L2_t > L1_t]                     (the clipped branch wins: no gradient through ρ)
    clipped_lower_t = 1[c > 0, Â_t < 0, max(L1, L2) > -c·Â_t]   (the dual clip binds: no gradient either; verl)
    pg_loss    = agg(pg_losses)                    (token-mean Σ L·m / Σ m, or a seq-mean mode)
    pg_clipfrac = Σ clipped·m / Σ m;  pg_clipfrac_lower = Σ clipped_lower·m / Σ m
    ∂pg_loss/∂ℓ_θ_t = -Â_t ρ_t 1[L1_t ≥ L2_t] m_t / Σ m   (clipped tokens get no gradient)
"""

from __future__ import annotations

import numpy as np


def clipped_surrogate(
    adv: np.ndarray, ratio: np.ndarray, mask: np.ndarray, eps_low: float, eps_high: float | None = None,
    dual_clip: float | None = None, agg: str = "token-mean",
) -> dict[str, np.ndarray]:
    """Per-token PPO policy losses (B, T) and their aggregate; Â and ρ already masked. dual_clip 0/None = off."""
    eps_high = eps_low if eps_high is None else eps_high
    l1 = -adv * ratio
    ratio_clipped = np.minimum(np.maximum(ratio, 1.0 - eps_low), 1.0 + eps_high)
    l2 = -adv * ratio_clipped
    losses_max = np.maximum(l1, l2)
    losses = np.where(adv < 0, np.minimum(losses_max, -dual_clip * adv), losses_max) if dual_clip else losses_max
    clipped = (l2 > l1).astype(float)
    lower = ((adv < 0) & (losses_max > -dual_clip * adv)).astype(float) if dual_clip else np.zeros_like(l1)
    n = mask.sum()
    return {
        "pg_losses1": l1, "ratio_clipped": ratio_clipped, "pg_losses2": l2, "pg_losses_max": losses_max, "pg_losses": losses,
        "pg_clipped": clipped, "pg_clipped_lower": lower, **agg_parts("pg", losses, mask, agg),
        "pg_clipfrac": np.array((clipped * mask).sum() / n), "pg_clipfrac_lower": np.array((lower * mask).sum() / n),
    }


def agg_parts(prefix: str, loss: np.ndarray, mask: np.ndarray, mode: str) -> dict[str, np.ndarray]:
    """Per-sequence sums and means of a masked per-token loss, and its aggregate under `mode`.

    The workbook shows the per-sequence cells, so all three modes are one AVERAGE or SUM away:
    token-mean = Σ_b seq_sum / N; seq-mean-token-mean = mean_b seq_mean; seq-mean-token-sum = mean_b seq_sum.
    """
    seq_sum = (loss * mask).sum(axis=1)  # (B,)
    seq_mean = seq_sum / mask.sum(axis=1)  # (B,)
    value = {"token-mean": seq_sum.sum() / mask.sum(), "seq-mean-token-mean": seq_mean.mean(), "seq-mean-token-sum": seq_sum.mean()}[mode]
    return {f"{prefix}_seq_sum": seq_sum, f"{prefix}_seq_mean": seq_mean, f"{prefix}_loss": np.array(value)}


def pg_loss_grad_logp(adv: np.ndarray, ratio: np.ndarray, mask: np.ndarray, eps: float) -> np.ndarray:
    """Analytic ∂pg_loss/∂ℓ_θ (B, T) of the symmetric clip: the unclipped branch only."""
    l1, l2 = -adv * ratio, -adv * np.clip(ratio, 1.0 - eps, 1.0 + eps)
    return -adv * ratio * (l1 >= l2) * mask / mask.sum()


def aggregate(loss: np.ndarray, mask: np.ndarray, mode: str = "token-mean", scale: float | None = None) -> float:
    """verl `agg_loss` / OpenRLHF `aggregate_loss` (docs/ppo_math.md §7.5)."""
    if mode == "token-mean":
        return float((loss * mask).sum() / mask.sum())
    if mode == "seq-mean-token-mean":
        return float(((loss * mask).sum(axis=1) / mask.sum(axis=1)).mean())
    if mode == "seq-mean-token-sum":
        return float((loss * mask).sum(axis=1).mean())
    if mode == "seq-mean-token-sum-norm":
        return float((loss * mask).sum() / (loss.shape[-1] if scale is None else scale))
    raise ValueError(f"aggregation mode {mode!r}")
