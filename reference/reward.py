"""Stage `Reward`: the reward model scores the whole response at its last real token.

    h^RM_j   = tanh(W_xh[:, x_j] + W_hh · h^RM_{j-1} + b_h)   over prompt + all T response tokens
    out_j    = w_s · h^RM_j + b_s                              (score head at every position)
    n        = Σ_t m_t,   e = n - 1                            (index of the last real token)
    has_eos  = max_t is_eos_t
    s        = out_{P+e}                       if has_eos
             = out_{P+e} - penalty             if no EOS and eos_handling = "subtract"  (TRL `missing_eos_penalty`)
             = missing_eos_score               if no EOS and eos_handling = "replace"   (N+ / OpenAI-2019: -1)
    last_t   = m_t - m_{t+1}   (m_T = 0)                       (one-hot of e: where the score lands)

The score is read where OpenRLHF (`eos_indices`) and verl (`valid_response_length - 1`) put it;
TRL-new moves it one slot right when there is padding (`score_onehot(..., "after_eos")`).
"""

from __future__ import annotations

import numpy as np

from reference.rnn import RNNWeights, head, hidden_states


def score_onehot(mask: np.ndarray, placement: str = "eos") -> np.ndarray:
    """One-hot (B, T) of the slot that receives the score: the last real token, or TRL-new's e+1."""
    next_mask = np.concatenate([mask[:, 1:], np.zeros((mask.shape[0], 1))], axis=1)
    last = mask - next_mask
    if placement == "eos":
        return last
    if placement == "after_eos":  # a = e+1 if e+1 < T else e (TRL-new `sequence_lengths_p1`)
        shifted = np.concatenate([np.zeros((mask.shape[0], 1)), last[:, :-1]], axis=1)
        return np.where(last[:, -1:] == 1, last, shifted)
    raise ValueError(f"placement {placement!r}: 'eos' or 'after_eos'")


def eos_score(score_raw: np.ndarray, has_eos: np.ndarray, handling: str, penalty: float, replacement: float) -> np.ndarray:
    """The score after missing-EOS handling ("subtract", "replace" or "off")."""
    if handling == "replace":
        return np.where(has_eos == 1, score_raw, replacement)
    return score_raw - (penalty if handling == "subtract" else 0.0) * (1.0 - has_eos)


def reward(rm: RNNWeights, prompts: np.ndarray, tokens: np.ndarray, is_eos: np.ndarray, mask: np.ndarray,
           handling: str = "subtract", penalty: float = 1.0, replacement: float = -1.0) -> dict[str, np.ndarray]:
    """RM over prompt + response (B, P+T); score (B,) after missing-EOS handling."""
    P = prompts.shape[1]
    x = np.concatenate([prompts, tokens], axis=1)
    h = hidden_states(rm, x)  # (B, P+T, H)
    out = head(rm.W_hy, rm.b_y, h)[..., 0]  # (B, P+T)
    n_real = mask.sum(axis=1)  # (B,)
    last_idx = (n_real - 1).astype(int)
    has_eos = is_eos.max(axis=1)
    score_raw = out[np.arange(len(x)), P + last_idx]
    return {
        "x": x, "h": h, "rm_out": out, "n_real": n_real, "last_idx": last_idx.astype(float),
        "has_eos": has_eos, "score_raw": score_raw, "score": eos_score(score_raw, has_eos, handling, penalty, replacement),
        "is_last": score_onehot(mask),
    }
