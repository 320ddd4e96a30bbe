"""Stage `Value Loss`: the current critic φ regressed on returns from the old critic, clipped.

    V_θ_t      = w_v^φ · h^θ_t + b_v^φ
    Vclip_t    = min(max(V_θ_t, V_old_t - ε_v), V_old_t + ε_v)
    vf_losses1 = (V_θ - R)²,  vf_losses2 = (Vclip - R)²
    vf_losses  = max(vf_losses1, vf_losses2)           (pessimistic, as baselines PPO2)
    vf_clipped = 1[vf_losses2 > vf_losses1]
    vf_loss    = ½ agg(vf_losses)                      (token-mean ½ Σ vf_losses·m / Σ m, or a seq-mean mode)
"""

from __future__ import annotations

import numpy as np

from reference.clip import agg_parts


def clipped_value_loss(values_new: np.ndarray, values_old: np.ndarray, returns: np.ndarray, mask: np.ndarray, eps_v: float,
                       agg: str = "token-mean") -> dict[str, np.ndarray]:
    """Per-token clipped value losses (B, T) and half their aggregate."""
    clipped_v = np.minimum(np.maximum(values_new, values_old - eps_v), values_old + eps_v)
    l1 = (values_new - returns) ** 2
    l2 = (clipped_v - returns) ** 2
    losses = np.maximum(l1, l2)
    clipped = (l2 > l1).astype(float)
    parts = agg_parts("vf", losses, mask, agg)
    parts["vf_loss"] = 0.5 * parts["vf_loss"]
    return {
        "values_new": values_new, "values_clipped": clipped_v, "vf_losses1": l1, "vf_losses2": l2, "vf_losses": losses,
        "vf_clipped": clipped, **parts, "vf_clipfrac": np.array((clipped * mask).sum() / mask.sum()),
    }


def vf_loss_grad_values(values_new: np.ndarray, values_old: np.ndarray, returns: np.ndarray, mask: np.ndarray, eps_v: float) -> np.ndarray:
    """Analytic ∂vf_loss/∂V_θ (B, T): (V - R)·1[l1 ≥ l2]·m / Σ m."""
    l1 = (values_new - returns) ** 2
    l2 = (np.clip(values_new, values_old - eps_v, values_old + eps_v) - returns) ** 2
    return (values_new - returns) * (l1 >= l2) * mask / mask.sum()
