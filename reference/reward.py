"""Stage `Reward`: the reward model scores the whole response at its last real token.

    h^RM_j   = tanh(W_xh[:, x_j] + W_hh · h^RM_{j-1} + b_h)   over prompt + all T response tokens
    out_j    = w_s · h^RM_j + b_s                              (score head at every position)
    n        = Σ_t m_t,   e = n - 1                            (index of the last real token)
    has_eos  = max_t is_eos_t
    s        = out_{P+e}                       if has_eos
             = out_{P+e} - penalty             if no EOS and eos_handling = "subtract"  (TRL `missing_eos_penalty`)
             = missing_eos_score               if no EOS and eos_handling = "replace"   (N+ / OpenAI-2019: -1)
    s        ← clamp(s, ±score_clip)   if score_clip > 0       (OpenRLHF compute_reward: --reward.clip_range (-10, 10))
    last_t   = m_t - m_{t+1}   (m_T = 0)                       (one-hot of e)
    m_v_t    = m_t                        score_slot = last
             = max(m_t, m_{t-1})          score_slot = after_eos: 1 up to e + 1, capped at T - 1 (TRL ~padding_mask_p1)
    at_t     = m_v_t - m_v_{t+1}                               (one-hot of the score's slot: e, or e + 1 when it fits)
    n_v      = Σ_t m_v_t,   N_v = Σ m_v                        (the slots V is kept and trained on)

The score is read at e and, with score_slot = last, lands there, where OpenRLHF (`eos_indices`) and verl
(`valid_response_length - 1`) put it; TRL-new (after_eos) adds it one slot right when the response is padded
(`actual_end = where(sequence_lengths_p1 < T, sequence_lengths_p1, sequence_lengths)`) and keeps V up to that slot.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from reference._common import next_step, prev_step
from reference.rnn import RNNWeights, head, hidden_states

if TYPE_CHECKING:
    from blueprint.config import Hyper  # the hyperparameters by name, declared once in blueprint/config.py


def last_token(mask: np.ndarray) -> np.ndarray:
    """last_t = m_t - m_{t+1}: one-hot (B, T) of the last real token, the slot that receives the score."""
    return mask - next_step(mask)


def value_mask(mask: np.ndarray, hp: Hyper) -> np.ndarray:
    """m_v (B, T): the real tokens, and with score_slot = after_eos the slot after the last one when it fits in the window."""
    return np.maximum(mask, prev_step(mask)) if hp.score_slot == "after_eos" else mask


def reward(rm: RNNWeights, prompts: np.ndarray, tokens: np.ndarray, is_eos: np.ndarray, mask: np.ndarray,
           hp: Hyper) -> dict[str, np.ndarray]:
    """RM over prompt + response (B, P+T); score (B,) after missing-EOS handling; is_last, mask_v, score_at (B, T)."""
    P = prompts.shape[1]
    x = np.concatenate([prompts, tokens], axis=1)
    h = hidden_states(rm, x)  # (B, P+T, H)
    rm_out = head(rm.W_hy, rm.b_y, h)[..., 0]  # (B, P+T)
    n_real = mask.sum(axis=1)  # (B,)
    last_idx = n_real - 1
    has_eos = is_eos.max(axis=1)
    score_raw = rm_out[np.arange(len(x)), P + last_idx.astype(int)]
    penalty = hp.missing_eos_penalty if hp.eos_handling == "subtract" else 0.0
    replaced = np.where(has_eos == 1, score_raw, hp.missing_eos_score)
    score_eos = replaced if hp.eos_handling == "replace" else score_raw - penalty * (1.0 - has_eos)
    score = np.clip(score_eos, -hp.score_clip, hp.score_clip) if hp.score_clip > 0 else score_eos
    mask_v = value_mask(mask, hp)
    return {"x": x, "h": h, "rm_out": rm_out, "n_real": n_real, "last_idx": last_idx, "has_eos": has_eos, "score_raw": score_raw,
            "score_eos": score_eos, "score": score, "n_v": mask_v.sum(axis=1), "is_last": last_token(mask), "mask_v": mask_v,
            "score_at": last_token(mask_v), "n_tokens_v": np.array(mask_v.sum())}
