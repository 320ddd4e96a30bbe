"""Stage `Value Loss`: the current critic φ regressed on returns from the old critic, clipped.

    V_θ_t      = w_v^φ · h^θ_t + b_v^φ
    Vclip_t    = min(max(V_θ_t, V_old_t - ε_v), V_old_t + ε_v)
    vf_losses1 = (V_θ - R)²,  vf_losses2 = (Vclip - R)²
    vf_losses  = max(vf_losses1, vf_losses2)           (pessimistic, as baselines PPO2)
    vf_clipped = 1[vf_losses2 > vf_losses1]
    vf_loss    = ½ Σ vf_losses·m / Σ m
"""

from __future__ import annotations

import numpy as np


def clipped_value_loss(values_new: np.ndarray, values_old: np.ndarray, returns: np.ndarray, mask: np.ndarray, eps_v: float) -> dict[str, np.ndarray]:
    """Per-token clipped value losses (B, T) and their halved token-mean."""
    clipped_v = np.minimum(np.maximum(values_new, values_old - eps_v), values_old + eps_v)
    l1 = (values_new - returns) ** 2
    l2 = (clipped_v - returns) ** 2
    losses = np.maximum(l1, l2)
    clipped = (l2 > l1).astype(float)
    n = mask.sum()
    return {
        "values_new": values_new, "values_clipped": clipped_v, "vf_losses1": l1, "vf_losses2": l2, "vf_losses": losses,
        "vf_clipped": clipped, "vf_loss": np.array(0.5 * (losses * mask).sum() / n), "vf_clipfrac": np.array((clipped * mask).sum() / n),
    }


def vf_loss_grad_values(values_new: np.ndarray, values_old: np.ndarray, returns: np.ndarray, mask: np.ndarray, eps_v: float) -> np.ndarray:
    """Analytic ∂vf_loss/∂V_θ (B, T): (V - R)·1[l1 ≥ l2]·m / Σ m."""
    l1 = (values_new - returns) ** 2
    l2 = (np.clip(values_new, values_old - eps_v, values_old + eps_v) - returns) ** 2
    return (values_new - returns) * (l1 >= l2) * mask / mask.sum()
