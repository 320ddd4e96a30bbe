"""Stage `Rollout`: θ_old samples the responses live, by inverse CDF on stored uniform draws.

    p_t      = softmax(z_t^{θ_old} / τ)
    lower_tv = Σ_{w<v} p_tw                        (cumulative lower bounds, strictly increasing)
    y_t      = max{v : lower_tv ≤ u_t}              (Excel: MATCH(u, lower, 1) - 1)
    ℓ_old_t  = z_t[y_t]/τ - logsumexp(z_t/τ)
    V_old_t  = w_v^{φ_old} · h_t + b_v
    is_eos_t = 1[y_t = EOS],   m_0 = 1,   m_t = m_{t-1}·(1 - is_eos_{t-1})   (1 up to and including the first EOS)

Sampling always fills the window of T tokens; tokens after the first EOS are still computed
but masked everywhere (TRL `padding_mask`, verl `response_mask`).
"""

from __future__ import annotations

import numpy as np

from reference.rnn import RNNWeights, ValueHead, head, rnn_step, softmax_parts, token_logprob, value


def cumulative_lower(p: np.ndarray) -> np.ndarray:
    """lower_v = Σ_{w<v} p_w, summed left to right as the workbook does; p (..., V) -> (..., V)."""
    return np.concatenate([np.zeros(p.shape[:-1] + (1,)), np.cumsum(p[..., :-1], axis=-1)], axis=-1)


def inverse_cdf(lower: np.ndarray, u: np.ndarray) -> np.ndarray:
    """The token whose [lower_v, lower_v+p_v) interval holds u; lower (B, V), u (B,) -> (B,) ids."""
    return (lower <= u[:, None]).sum(axis=-1) - 1


def response_mask(tokens: np.ndarray, eos_id: int) -> tuple[np.ndarray, np.ndarray]:
    """is_eos and the mask m_t = 1 up to and including the first EOS; tokens (B, T) -> 2 × (B, T)."""
    is_eos = (tokens == eos_id).astype(float)
    before = np.concatenate([np.zeros((tokens.shape[0], 1)), is_eos[:, :-1]], axis=1)
    mask = np.cumprod(1.0 - before, axis=1)
    return is_eos, mask


def rollout(w: RNNWeights, phi: ValueHead, prompts: np.ndarray, draws: np.ndarray, tau: float, eos_id: int) -> dict[str, np.ndarray]:
    """Unroll θ_old over prompt + sampled response.

    prompts (B, P) ids, draws (B, T) in (0, 1). Returns, with N = P + T - 1 read positions:
    x (B, N) tokens read, h (B, N, H); per response step t (B, T, ·): logits, softmax parts,
    lower; tokens, logp_old, values_old, is_eos, mask (B, T); n_tokens (scalar Σ mask).
    """
    B, P = prompts.shape
    T = draws.shape[1]
    N = P + T - 1
    H, V = w.W_xh.shape
    x = np.zeros((B, N), dtype=int)
    h = np.zeros((B, N, H))
    tokens = np.zeros((B, T), dtype=int)
    logits, lower = np.zeros((B, T, V)), np.zeros((B, T, V))
    for j in range(N):
        x[:, j] = prompts[:, j] if j < P else tokens[:, j - P]
        h[:, j] = rnn_step(w, x[:, j], h[:, j - 1] if j else np.zeros((B, H)))
        t = j - (P - 1)  # the response step this state predicts
        if t >= 0:
            logits[:, t] = head(w.W_hy, w.b_y, h[:, j])
            lower[:, t] = cumulative_lower(softmax_parts(logits[:, t], tau)["p"])
            tokens[:, t] = inverse_cdf(lower[:, t], draws[:, t])
    parts = softmax_parts(logits, tau)
    h_pred = h[:, P - 1 :]  # (B, T, H) the states that predict y_0..y_{T-1}
    is_eos, mask = response_mask(tokens, eos_id)
    return {
        "x": x, "h": h, "logits": logits, **parts, "lower": lower, "draws": draws,
        "tokens": tokens, "logp_old": token_logprob(logits, parts["lse"], tokens, tau),
        "values_old": value(phi, h_pred), "is_eos": is_eos, "mask": mask,
        "n_tokens": np.array(mask.sum()),
    }

