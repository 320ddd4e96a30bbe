"""Stage `Rollout`: θ_old samples the responses live, by inverse CDF on stored uniform draws.

    p_t      = softmax(z_t^{θ_old} / τ)
    lower_tv = Σ_{w<v} p_tw                        (cumulative lower bounds, strictly increasing)
    y_t      = max{v : lower_tv ≤ u_t}              (Excel: MATCH(u, lower, 1) - 1)
    is_eos_t = 1[y_t = EOS],   m_0 = 1,   m_t = m_{t-1}·(1 - is_eos_{t-1})   (1 up to and including the first EOS)
    ℓ_old_t  = z_t[y_t]/τ - logsumexp(z_t/τ)
    V_old_t  = w_v^{φ_old} · h_t + b_v
    N        = Σ m;   p_check = Σ_v p_tv - 1

Sampling always fills the window of T tokens; tokens after the first EOS are still computed
but masked everywhere (TRL `padding_mask`, verl `response_mask`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from reference._common import prev_step, softmax_checks
from reference.rnn import RNNWeights, ValueHead, head, rnn_step, softmax_parts, token_logprob, value

if TYPE_CHECKING:
    from blueprint.config import Hyper  # the hyperparameters by name, declared once in blueprint/config.py


def cumulative_lower(p: np.ndarray) -> np.ndarray:
    """lower_v = Σ_{w<v} p_w, summed left to right as the workbook does; p (..., V) -> (..., V)."""
    return np.concatenate([np.zeros(p.shape[:-1] + (1,)), np.cumsum(p[..., :-1], axis=-1)], axis=-1)


def inverse_cdf(lower: np.ndarray, u: np.ndarray) -> np.ndarray:
    """The token whose [lower_v, lower_v+p_v) interval holds u; lower (B, V), u (B,) -> (B,) ids."""
    return (lower <= u[:, None]).sum(axis=-1) - 1


def rollout(old: RNNWeights, value_old: ValueHead, prompts: np.ndarray, draws: np.ndarray, hp: Hyper) -> dict[str, np.ndarray]:
    """Unroll θ_old over prompt + sampled response: the Rollout sheet's quantities.

    prompts (B, P) ids, draws (B, T) in (0, 1). With N = P + T - 1 read positions: x (B, N) tokens read,
    h (B, N, H); per response step t (B, T, ·): logits, softmax parts, lower; tokens, is_eos, mask,
    logp_old, values_old (B, T); n_tokens (scalar Σ mask); p_check (B, T).
    """
    B, P = prompts.shape
    T = draws.shape[1]
    N = P + T - 1
    H, V = old.W_xh.shape
    x = np.zeros((B, N), dtype=int)
    h = np.zeros((B, N, H))
    tokens = np.zeros((B, T), dtype=int)
    logits, lower = np.zeros((B, T, V)), np.zeros((B, T, V))
    for j in range(N):
        x[:, j] = prompts[:, j] if j < P else tokens[:, j - P]
        h[:, j] = rnn_step(old, x[:, j], h[:, j - 1] if j else np.zeros((B, H)))
        t = j - (P - 1)  # the response step this state predicts
        if t >= 0:
            logits[:, t] = head(old.W_hy, old.b_y, h[:, j])
            lower[:, t] = cumulative_lower(softmax_parts(logits[:, t], hp.tau)["p"])
            tokens[:, t] = inverse_cdf(lower[:, t], draws[:, t])
    parts = softmax_parts(logits, hp.tau)
    is_eos = (tokens == hp.eos_id).astype(float)
    mask = np.cumprod(1.0 - prev_step(is_eos), axis=1)
    logp_old = token_logprob(logits, parts["lse"], tokens, hp.tau)
    values_old = value(value_old, h[:, P - 1 :])  # the states that predict y_0..y_{T-1}
    return {
        "x": x, "h": h, "logits": logits, **parts, "lower": lower, "draws": draws, "tokens": tokens, "is_eos": is_eos,
        "mask": mask, "logp_old": logp_old, "values_old": values_old, "n_tokens": np.array(mask.sum()),
        "p_check": softmax_checks(parts["p"], hp.check_tol),
    }
