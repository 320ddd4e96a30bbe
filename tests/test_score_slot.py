"""score_slot = after_eos (TRL-new's score slot) by hand, stage by stage (docs/framework_facts.md §8).

T = 4, three responses, KL 0 (ℓ_old = ℓ_ref), γ = 1, λ = 0.5:
  0: EOS at t = 1, padded:       e = 1, the score lands on e + 1 = 2, m_v = [1, 1, 1, 0]
  1: no EOS, cut at T:           e = 3, no slot after it: the score stays on 3, m_v = m
  2: EOS as the last token:      e = 3, the same
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from blueprint.config import hyper, load_config
from reference._common import agg_weights
from reference.gae import gae
from reference.kl import shaped_rewards
from reference.reward import last_token, value_mask
from reference.value_loss import clipped_value_loss
from reference.variants import score_after_eos

MASK = np.array([[1.0, 1, 0, 0], [1, 1, 1, 1], [1, 1, 1, 1]])
SCORE = np.array([1.0, -0.5, 2.0])
V_OLD = np.array([[0.5, 0.2, 0.4, 0.9], [0.1, 0.1, 0.1, 0.1], [0.0, 0.0, 0.0, 0.0]])
HP = replace(hyper(load_config("small")), gamma=1.0, lam=0.5, beta=0.05, eps_v=10.0, loss_agg="token-mean", reward_whiten="off")


def stages(slot: str, **hp):
    h = replace(HP, score_slot=slot, **hp)
    mask_v = value_mask(MASK, h)
    at = last_token(mask_v)
    zero = np.zeros_like(MASK)
    kl = shaped_rewards(zero, zero, MASK, SCORE, at, 1.0, h, mask_v)
    return h, mask_v, at, kl, gae(kl["rewards"], V_OLD, MASK, h, mask_v)


def test_the_score_slot_and_the_value_mask() -> None:
    _, mask_v, at, _, _ = stages("after_eos")
    np.testing.assert_array_equal(mask_v, [[1, 1, 1, 0], [1, 1, 1, 1], [1, 1, 1, 1]])
    np.testing.assert_array_equal(at, [[0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1]])
    np.testing.assert_array_equal(at, score_after_eos(MASK))  # TRL's actual_end, written independently
    _, mask_v, at, _, _ = stages("last")
    np.testing.assert_array_equal(mask_v, MASK)
    np.testing.assert_array_equal(at, [[0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 0, 1]])


def test_gae_runs_through_the_score_slot_by_hand() -> None:
    """Response 0, after_eos: V = [0.5, 0.2, 0.4, 0] (V_old·m_v), r = [0, 0, 1, 0];
    δ_2 = 1 + 0 - 0.4 = 0.6, δ_1 = 0 + 0.4 - 0.2 = 0.2, δ_0 = 0 + 0.2 - 0.5 = -0.3;
    A_2 = 0.6, A_1 = 0.2 + 0.5·0.6 = 0.5, A_0 = -0.3 + 0.5·0.5 = -0.05;  R = A + V = [0.45, 0.7, 1.0, 0] (R_{e+1} = s).
    last: V = [0.5, 0.2, 0, 0], r = [0, 1, 0, 0]: δ_1 = 0.8, A_1 = 0.8, A_0 = -0.3 + 0.4 = 0.1, R = [0.6, 1.0, 0, 0].
    Response 1 (no EOS, s = -0.5, V = 0.1): δ_3 = -0.6, the rest 0; A = [-0.075, -0.15, -0.3, -0.6], R = A + 0.1 under both.
    Response 2 (EOS last, s = 2, V = 0): A = R = [0.25, 0.5, 1, 2] under both."""
    _, _, _, kl, g = stages("after_eos")
    np.testing.assert_allclose(kl["rewards"][0], [0, 0, 1, 0], atol=1e-15)
    np.testing.assert_allclose(g["values"][0], [0.5, 0.2, 0.4, 0.0], atol=1e-15)
    np.testing.assert_allclose(g["delta"][0], [-0.3, 0.2, 0.6, 0.0], atol=1e-15)
    np.testing.assert_allclose(g["advantages"][0], [-0.05, 0.5, 0.6, 0.0], atol=1e-15)
    np.testing.assert_allclose(g["returns"][0], [0.45, 0.7, 1.0, 0.0], atol=1e-15)
    _, _, _, _, last = stages("last")
    np.testing.assert_allclose(last["advantages"][0], [0.1, 0.8, 0.0, 0.0], atol=1e-15)
    np.testing.assert_allclose(last["returns"][0], [0.6, 1.0, 0.0, 0.0], atol=1e-15)
    for run in (g, last):
        np.testing.assert_allclose(run["advantages"][1], [-0.075, -0.15, -0.3, -0.6], atol=1e-15)
        np.testing.assert_allclose(run["returns"][1], [0.025, -0.05, -0.2, -0.5], atol=1e-15)
        np.testing.assert_allclose(run["advantages"][2], [0.25, 0.5, 1.0, 2.0], atol=1e-15)


def test_advantages_are_whitened_over_the_real_tokens() -> None:
    """TRL masked_whiten(advantages, ~padding_mask): μ over the 10 real tokens, A_{e+1} = 0.6 left out;
    Σ A·m = (-0.05 + 0.5) + (-1.125) + 3.75 = 3.075, μ = 0.3075; Â is 0 on e + 1."""
    _, _, _, _, g = stages("after_eos")
    assert float(g["adv_mean"]) == pytest.approx(0.3075, abs=1e-15)
    assert g["adv_whitened"][0, 2] == 0.0 and g["adv_whitened"][0, 1] != 0.0


def test_the_value_loss_trains_the_score_slot_by_hand() -> None:
    """V_θ = R + error, errors 0 except response 0's t = 2 (-1, the score's slot) and t = 3 (5, past it), response 1's t = 3
    (0.5); ε_v = 10 clips nothing. after_eos, token-mean over m_v: ½ (1 + 0.25)/11 = 0.0568…;
    last: R_0 = [0.6, 1, 0, 0] and the slot e + 1 is left out: ½·0.25/10 = 0.0125 (with V_θ = R there)."""
    h, mask_v, _, _, g = stages("after_eos")
    err = np.zeros_like(MASK)
    err[0, 2], err[0, 3], err[1, 3] = -1.0, 5.0, 0.5
    v_new = g["returns"] + err
    vl = clipped_value_loss(v_new, V_OLD, g["returns"], mask_v, h)
    assert float(vl["vf_loss"]) == pytest.approx(0.5 * 1.25 / 11, abs=1e-15)
    w_v = agg_weights(mask_v, h)
    assert w_v[0, 2] == pytest.approx(1 / 11) and w_v[0, 3] == 0.0
    assert 0.5 * float((w_v * vl["vf_losses"]).sum()) == pytest.approx(float(vl["vf_loss"]), abs=1e-15)
    h, _, _, _, last = stages("last")
    err[0, 2] = 0.0
    vl_last = clipped_value_loss(last["returns"] + err, V_OLD, last["returns"], MASK, h)
    assert float(vl_last["vf_loss"]) == pytest.approx(0.5 * 0.25 / 10, abs=1e-15)


def test_reward_whitening_runs_over_the_value_mask() -> None:
    """TRL masked_whiten(rewards, ~padding_mask_p1, shift_mean=False), then 0 after e + 1: r_raw = s on its slot, so
    μ = (1 - 0.5 + 2)/11 over the 11 slots of m_v, var = Σ (r - μ)²·m_v / 10, and the slot after e + 1 stays 0."""
    h, mask_v, _, kl, _ = stages("after_eos", reward_whiten="on", whiten_eps=1e-8)
    mu = 2.5 / 11
    var = (8 * mu**2 + (1 - mu) ** 2 + (-0.5 - mu) ** 2 + (2 - mu) ** 2) / 10
    assert float(kl["reward_mean"]) == pytest.approx(mu, abs=1e-15)
    assert float(kl["reward_var"]) == pytest.approx(var, abs=1e-15)
    assert kl["rewards"][0, 2] == pytest.approx((1 - mu) / np.sqrt(var + 1e-8) + mu, abs=1e-14)
    assert kl["rewards"][0, 3] == 0.0
