"""Stage `Ratio`: the current policy θ, teacher-forced on the rollout, against θ_old.

    ℓ_θ_t     = z^θ_t[y_t]/τ - logsumexp(z^θ_t/τ)
    H_t       = logsumexp(z^θ_t/τ) - Σ_v p^θ_tv z^θ_tv/τ         (entropy, a diagnostic in TRL)
    logratio_t = clamp(ℓ_θ_t - ℓ_old_t, ±c) · m_t              (0 after EOS, so ρ = 1 there, as in TRL;
                                                                c = logratio_clamp: OpenRLHF, verl 20; 0 = off)
    ρ_t       = exp(logratio_t)
    approx_kl = ½ Σ logratio² / Σ m     (TRL `approxkl`, symmetric k2 of θ vs θ_old)
    ppo_kl    = -Σ logratio / Σ m       (OpenRLHF / verl `ppo_kl`, TRL-legacy `policykl`: k1 of KL(old‖new))
    p_check   = Σ_v p_tv - 1
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from reference._common import softmax_checks
from reference.rnn import RNNWeights, entropy, teacher_forced, token_logprob

if TYPE_CHECKING:
    from blueprint.config import Hyper  # the hyperparameters by name, declared once in blueprint/config.py


def ratio(new: RNNWeights, prompts: np.ndarray, tokens: np.ndarray, logp_old: np.ndarray, mask: np.ndarray,
          hp: Hyper) -> dict[str, np.ndarray]:
    """The Ratio sheet: θ's unroll, ℓ_θ and its entropy, then the importance ratio."""
    unroll = teacher_forced(new, prompts, tokens, hp.tau, probs=True)
    logp_new = token_logprob(unroll["logits"], unroll["lse"], tokens, hp.tau)
    token_entropy = entropy(unroll["logits"], unroll["p"], unroll["lse"], hp.tau)
    return {**unroll, "logp_new": logp_new, "token_entropy": token_entropy, **importance_ratio(logp_new, logp_old, mask, hp),
            "p_check": softmax_checks(unroll["p"], hp.check_tol)}


def importance_ratio(logp_new: np.ndarray, logp_old: np.ndarray, mask: np.ndarray, hp: Hyper) -> dict[str, np.ndarray]:
    """The Ratio sheet from ℓ_θ on (the golden case holds log-probs, not weights): logratio, ρ (B, T), policy-KL diagnostics."""
    d = logp_new - logp_old
    logratio = (np.minimum(np.maximum(d, -hp.logratio_clamp), hp.logratio_clamp) if hp.logratio_clamp > 0 else d) * mask
    ratio = np.exp(logratio)
    n = mask.sum()
    approx_kl = 0.5 * (logratio**2).sum() / n
    ppo_kl = -logratio.sum() / n
    return {"logratio": logratio, "ratio": ratio, "approx_kl": approx_kl, "ppo_kl": ppo_kl}
