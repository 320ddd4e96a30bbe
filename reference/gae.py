"""Stage `GAE`: token-level credit assignment with the old critic, then whitening.

    V_t      = V_old_t · m_v_t                            (zero-and-run masking: TRL, OpenRLHF; m_v = Reward's value mask:
                                                           m, or up to e + 1 with score_slot = after_eos, TRL's padding_mask_p1)
    δ_t      = r_t + γ·V_{t+1} - V_t,        V_T = 0
    A_t      = δ_t + γλ·A_{t+1},             A_T = 0       (closed form A_t = Σ_l (γλ)^l δ_{t+l})
    R_t      = A_t + V_t                                   (value targets, from the OLD critic; R_{e+1} = s under after_eos)
    μ        = Σ A·m / Σ m
    var      = Σ (A-μ)²·m / max(Σ m - 1, 1)               (unbiased: TRL, verl; one token -> 0, not 0/0)
    Â_t      = (A_t - μ) / sqrt(var + 1e-8) · m_t          (TRL `masked_whiten`, 0 after EOS)
               (A_t - μ) / sqrt(max(var, 1e-8)) · m_t       whiten_eps_mode = "max" (OpenRLHF's `var.clamp(min=1e-8).rsqrt()`)
    adv_whiten: "unbiased" as above; "population" divides by Σ m (OpenRLHF, OpenAI-2019); "off": Â = A·m
    flipped_t = 1[A_t·Â_t < 0]                             (whitening turned the token's sign: the batch's mean moved it)
    flipfrac = Σ flipped / Σ m
    adv_mean_check = Σ Â·m / Σ m,   adv_std_check = sqrt(Σ Â² / denom) - 1   (denom as the variance's; "off" when off)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from reference._common import check, masked_mean, masked_moments, next_step, whiten_denom, whiten_std

if TYPE_CHECKING:
    from blueprint.config import Hyper  # the hyperparameters by name, declared once in blueprint/config.py


def gae(rewards: np.ndarray, values_old: np.ndarray, mask: np.ndarray, hp: Hyper, mask_v: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Backward GAE recursion and whitening; rewards, values_old, mask, mask_v (B, T): V kept on mask_v (None: mask), Â
    whitened over mask (TRL masked_whiten(advantages, ~padding_mask))."""
    T = rewards.shape[1]
    values = values_old * (mask if mask_v is None else mask_v)
    delta = rewards + hp.gamma * next_step(values) - values
    advantages = np.zeros_like(delta)
    for t in reversed(range(T)):
        advantages[:, t] = delta[:, t] + (hp.gamma * hp.lam * advantages[:, t + 1] if t + 1 < T else 0.0)
    returns = advantages + values
    n, denom = mask.sum(), whiten_denom(mask, hp)
    adv_mean, adv_dev2, adv_var = masked_moments(advantages, mask, denom)
    whitened = (advantages - adv_mean) / whiten_std(adv_var, hp) * mask
    adv_whitened = advantages * mask if hp.adv_whiten == "off" else whitened
    # A sequence that did worse than its critic expected can be pushed up because the rest of the batch did worse still
    # (Â is 0 after EOS, so masked tokens never count).
    adv_flipped = (advantages * adv_whitened < 0).astype(float)
    adv_flipfrac = adv_flipped.sum() / n
    off = np.array("off", dtype=object)
    adv_mean_check = off if hp.adv_whiten == "off" else check(masked_mean(adv_whitened, mask), hp.check_tol)
    adv_std_check = off if hp.adv_whiten == "off" else check(np.sqrt((adv_whitened * adv_whitened).sum() / denom) - 1.0, hp.check_tol)
    return {"values": values, "delta": delta, "advantages": advantages, "returns": returns, "adv_mean": adv_mean, "adv_dev2": adv_dev2,
            "adv_var": adv_var, "adv_whitened": adv_whitened, "adv_flipped": adv_flipped, "adv_flipfrac": adv_flipfrac,
            "adv_mean_check": adv_mean_check, "adv_std_check": adv_std_check}
