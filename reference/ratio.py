"""Stage `Ratio`: the current policy θ, teacher-forced on the rollout, against θ_old.

    ℓ_θ_t     = z^θ_t[y_t]/τ - logsumexp(z^θ_t/τ)
    H_t       = logsumexp(z^θ_t/τ) - Σ_v p^θ_tv z^θ_tv/τ         (entropy, a diagnostic in TRL)
    logratio_t = clamp(ℓ_θ_t - ℓ_old_t, ±c) · m_t              (0 after EOS, so ρ = 1 there, as in TRL;
                                                                c = logratio_clamp: OpenRLHF, verl 20; 0 = off)
    ρ_t       = exp(logratio_t)
    approx_kl = ½ Σ logratio² / Σ m     (TRL `approxkl`, symmetric k2 of θ vs θ_old)
    ppo_kl    = -Σ logratio / Σ m       (OpenRLHF / verl `ppo_kl`, TRL-legacy `policykl`: k1 of KL(old‖new))
"""

from __future__ import annotations

import numpy as np


def log_ratio(logp_new: np.ndarray, logp_old: np.ndarray, mask: np.ndarray, clamp: float = 0.0) -> dict[str, np.ndarray]:
    """Masked (optionally clamped) log-ratio and importance ratio ρ = π_θ/π_θ_old per token (B, T)."""
    d = logp_new - logp_old
    logratio = (np.minimum(np.maximum(d, -clamp), clamp) if clamp > 0 else d) * mask
    return {"logratio": logratio, "ratio": np.exp(logratio)}


def policy_kl(logratio: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
    """Current-vs-previous policy KL diagnostics (docs/ppo_math.md §8)."""
    n = mask.sum()
    return {"approx_kl": np.array(0.5 * (logratio**2).sum() / n), "ppo_kl": np.array(-logratio.sum() / n)}


def approx_kl_k3(logratio: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """CleanRL `approx_kl = mean((ρ - 1) - log ρ)`."""
    return (((np.exp(logratio) - 1.0) - logratio) * mask).sum() / mask.sum()
