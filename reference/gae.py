"""Stage `GAE`: token-level credit assignment with the old critic, then whitening.

    V_t      = V_old_t · m_t                              (zero-and-run masking: TRL, OpenRLHF)
    δ_t      = r_t + γ·V_{t+1} - V_t,        V_T = 0
    A_t      = δ_t + γλ·A_{t+1},             A_T = 0       (closed form A_t = Σ_l (γλ)^l δ_{t+l})
    R_t      = A_t + V_t                                   (value targets, from the OLD critic)
    μ        = Σ A·m / Σ m
    var      = Σ (A-μ)²·m / max(Σ m - 1, 1)               (unbiased: TRL, verl; one token -> 0, not 0/0)
    Â_t      = (A_t - μ) / sqrt(var + 1e-8) · m_t          (TRL `masked_whiten`, 0 after EOS)
    adv_whiten: "unbiased" as above; "population" divides by Σ m (OpenRLHF, OpenAI-2019); "off": Â = A·m
    flipped_t = 1[A_t·Â_t < 0]                             (whitening turned the token's sign: the batch's mean moved it)
    flipfrac = Σ flipped / Σ m
"""

from __future__ import annotations

import numpy as np


def gae(rewards: np.ndarray, values: np.ndarray, gamma: float, lam: float) -> dict[str, np.ndarray]:
    """Backward GAE recursion; rewards, values (B, T) already masked -> delta, advantages, returns."""
    B, T = rewards.shape
    next_values = np.concatenate([values[:, 1:], np.zeros((B, 1))], axis=1)
    delta = rewards + gamma * next_values - values
    adv = np.zeros((B, T))
    for t in reversed(range(T)):
        adv[:, t] = delta[:, t] + (gamma * lam * adv[:, t + 1] if t + 1 < T else 0.0)
    return {"delta": delta, "advantages": adv, "returns": adv + values}


def whiten_advantages(adv: np.ndarray, mask: np.ndarray, mode: str, eps: float) -> dict[str, np.ndarray]:
    """The adv_whiten switch: "unbiased", "population" or "off" (statistics are still shown)."""
    out = masked_whiten(adv, mask, unbiased=(mode != "population"), eps=eps)
    if mode == "off":
        out["adv_whitened"] = adv * mask
    return out


def sign_flips(adv: np.ndarray, adv_whitened: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
    """Tokens whose advantage changed sign under whitening: a sequence that did worse than its critic expected can be
    pushed up because the rest of the batch did worse still (Â is 0 after EOS, so masked tokens never count)."""
    flipped = (adv * adv_whitened < 0).astype(float)
    return {"adv_flipped": flipped, "adv_flipfrac": np.array(flipped.sum() / mask.sum())}


def masked_whiten(
    x: np.ndarray, mask: np.ndarray, unbiased: bool = True, eps: float = 1e-8, clamp: bool = False, denom_eps: float = 0.0,
    prefix: str = "adv",
) -> dict[str, np.ndarray]:
    """Whiten over the masked batch (shift_mean=True).

    unbiased=True, eps inside sqrt: TRL; unbiased=False: OpenAI-2019 / N-details;
    unbiased=False, clamp=True: OpenRLHF `rsqrt(clamp(var, eps))`; denom_eps=1e-8: verl's masked mean
    (verl also puts 1e-8 into the variance's denominator: a 1e-8 relative difference, not modelled).
    """
    n = mask.sum()
    mean = (x * mask).sum() / (n + denom_eps)
    dev2 = (x - mean) ** 2
    var = (dev2 * mask).sum() / (max(n - 1.0, 1.0) if unbiased else n)  # max(·, 1): one token has var 0, not 0/0
    scale = np.sqrt(np.maximum(var, eps) if clamp else var + eps)
    return {f"{prefix}_mean": np.array(mean), f"{prefix}_dev2": dev2, f"{prefix}_var": np.array(var),
            f"{prefix}_whitened": (x - mean) / scale * mask}
