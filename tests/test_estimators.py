"""The critic-free estimators (reference/advantage.py) against cases worked out by hand, and what turning the critic off does.

Each estimator is one function of (scores, group index, mask, rewards): the outcome s is the shaped reward summed over the
real tokens, the group statistics compare the responses to one prompt, and the advantage Clip uses is chosen by
advantage_estimator. A group of one is defined as verl defines it (mean 0, std 1), not refused.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import with_config_edits

from blueprint.config import ConfigError, hyper, load_config
from blueprint.api import generate
from blueprint.inputs import make_inputs
from blueprint.readback import read_blueprint
from blueprint.verify import verify
from blueprint.workbook import build
from reference import run
from reference._common import aggregate, agg_weights
from reference.advantage import advantage

HP = hyper(load_config("small"))
EPS = 1e-6  # grpo_eps, verl's epsilon


def last_token(scores: list[float], T: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """rewards with each score on the last of T real tokens (KL not in the reward), is_last and a full mask."""
    B = len(scores)
    is_last = np.zeros((B, T))
    is_last[:, -1] = 1.0
    return is_last * np.array(scores)[:, None], is_last, np.ones((B, T))


def estimate(scores: list[float], group: list[int], estimator: str, **hp: object) -> dict[str, np.ndarray]:
    rewards, is_last, mask = last_token(scores)
    return advantage(rewards, is_last, mask, np.array(group), np.zeros_like(mask), replace(HP, advantage_estimator=estimator, **hp))


def test_a_group_of_two() -> None:
    """s = 3, 1 for one prompt: μ = 2, σ = √((1² + 1²)/1) = √2 (unbiased); grpo ±1/(√2 + ε), dr_grpo ±1, rloo 3 - 1 = 2, 1 - 3 = -2."""
    grpo = estimate([3.0, 1.0], [0, 0], "grpo")
    np.testing.assert_array_equal(grpo["g_n"], [2, 2])
    np.testing.assert_array_equal(grpo["g_mean"], [2.0, 2.0])
    np.testing.assert_allclose(grpo["g_std"], [np.sqrt(2.0)] * 2, rtol=1e-15)
    np.testing.assert_allclose(grpo["adv_seq"], [1 / (np.sqrt(2.0) + EPS), -1 / (np.sqrt(2.0) + EPS)], rtol=1e-15)
    np.testing.assert_allclose(grpo["adv"], np.outer(grpo["adv_seq"], np.ones(3)), rtol=1e-15)  # broadcast to every real token
    np.testing.assert_array_equal(estimate([3.0, 1.0], [0, 0], "dr_grpo")["adv_seq"], [1.0, -1.0])
    np.testing.assert_array_equal(estimate([3.0, 1.0], [0, 0], "rloo")["adv_seq"], [2.0, -2.0])


def test_two_groups_of_three_one_with_equal_scores() -> None:
    """s = 1, 2, 6 | 4, 4, 4. First prompt: μ = 3, Σ(s-μ)² = 4 + 1 + 9 = 14, σ = √(14/2) = √7; rloo 1 - (2+6)/2 = -3,
    2 - (1+6)/2 = -1.5, 6 - (1+2)/2 = 4.5. Second prompt: all equal, σ = 0, every advantage 0, no signal (DAPO)."""
    scores, group = [1.0, 2.0, 6.0, 4.0, 4.0, 4.0], [0, 0, 0, 1, 1, 1]
    grpo = estimate(scores, group, "grpo")
    np.testing.assert_array_equal(grpo["g_mean"], [3, 3, 3, 4, 4, 4])
    np.testing.assert_allclose(grpo["g_std"], [np.sqrt(7.0)] * 3 + [0.0] * 3, rtol=1e-15)
    np.testing.assert_allclose(grpo["adv_seq"], [-2 / (np.sqrt(7) + EPS), -1 / (np.sqrt(7) + EPS), 3 / (np.sqrt(7) + EPS), 0, 0, 0], rtol=1e-15)
    np.testing.assert_array_equal(estimate(scores, group, "rloo")["adv_seq"], [-3.0, -1.5, 4.5, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(grpo["no_signal"], [0, 0, 0, 1, 1, 1])
    assert float(grpo["n_no_signal"]) == 3.0
    np.testing.assert_array_equal(grpo["keep"], [1] * 6)  # flagged, not dropped: dynamic_sampling = off
    on = estimate(scores, group, "grpo", dynamic_sampling="on")
    np.testing.assert_array_equal(on["keep"], [1, 1, 1, 0, 0, 0])
    assert (float(on["n_loss_seqs"]), float(on["n_loss_tokens"])) == (3.0, 9.0)


def test_std_near_zero_is_held_by_epsilon() -> None:
    """s = 1 and 1 + 1e-9: σ = 1e-9/√2, so (s - μ)/(σ + ε) = ±5e-10/(7.07e-10 + 1e-6) ≈ ±5e-4, not ±0.707: ε keeps a near-tie
    from becoming a full-size step. The scores differ, so the group has a signal."""
    grpo = estimate([1.0, 1.0 + 1e-9], [0, 0], "grpo")
    half = ((1.0 + 1e-9) - 1.0) / 2  # 1 + 1e-9 is not exact in binary: its exact distance from 1 (8e-17 more than 1e-9), halved
    np.testing.assert_allclose(grpo["adv_seq"], [-half / (half * np.sqrt(2) + EPS), half / (half * np.sqrt(2) + EPS)], rtol=1e-9)
    assert abs(grpo["adv_seq"][0]) < 1e-3
    np.testing.assert_array_equal(grpo["no_signal"], [0, 0])


def test_a_group_of_one_is_defined_as_verl_defines_it() -> None:
    """group_size 1 (every prompt answered once): μ = 0, σ = 1, so grpo gives s/(1 + ε), dr_grpo and rloo s itself (verl's
    compute_grpo_outcome_advantage and compute_rloo_outcome_advantage); no group of one lacks a signal."""
    scores, group = [0.5, -2.0], [0, 1]
    np.testing.assert_allclose(estimate(scores, group, "grpo")["adv_seq"], [0.5 / (1 + EPS), -2.0 / (1 + EPS)], rtol=1e-15)
    np.testing.assert_array_equal(estimate(scores, group, "dr_grpo")["adv_seq"], scores)
    np.testing.assert_array_equal(estimate(scores, group, "rloo")["adv_seq"], scores)
    np.testing.assert_array_equal(estimate(scores, group, "grpo", dynamic_sampling="on")["keep"], [1, 1])


def test_reinforce_pp_returns_and_whitening() -> None:
    """rewards 0, 0, 1 | -0.1, 0.5, 0 with γ = 1: ret = 1, 1, 1 | 0.4, 0.5, 0; μ = 3.9/6 = 0.65, Σ(ret-μ)² = 3·0.35² + 0.25²
    + 0.15² + 0.65² = 0.875, unbiased var 0.175; whitened (ret - 0.65)/√(0.175 + 1e-8). With γ = 0.5 the first row's
    return is 0.25, 0.5, 1."""
    rewards, mask = np.array([[0.0, 0.0, 1.0], [-0.1, 0.5, 0.0]]), np.ones((2, 3))
    is_last = np.array([[0.0, 0, 1], [0, 0, 1]])
    out = advantage(rewards, is_last, mask, np.array([0, 1]), np.zeros_like(mask), replace(HP, advantage_estimator="reinforce_pp"))
    np.testing.assert_allclose(out["ret"], [[1, 1, 1], [0.4, 0.5, 0]], rtol=1e-15)
    assert float(out["ret_mean"]) == pytest.approx(0.65, abs=1e-15) and float(out["ret_var"]) == pytest.approx(0.175, abs=1e-15)
    np.testing.assert_allclose(out["adv"], (np.array([[1, 1, 1], [0.4, 0.5, 0]]) - 0.65) / np.sqrt(0.175 + 1e-8), rtol=1e-12)
    half = advantage(rewards, is_last, mask, np.array([0, 1]), np.zeros_like(mask), replace(HP, advantage_estimator="reinforce_pp", gamma=0.5))
    np.testing.assert_allclose(half["ret"][0], [0.25, 0.5, 1.0], rtol=1e-15)


def test_reinforce_pp_return_stops_at_eos() -> None:
    """A response whose EOS is its second token: the reward after it is 0 (masked upstream), so the return there is 0 and the
    return before it does not see past EOS: ret = 1, 1, 0."""
    rewards, mask = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 2.0]]), np.array([[1.0, 1, 0], [1, 1, 1]])
    is_last = np.array([[0.0, 1, 0], [0, 0, 1]])
    out = advantage(rewards, is_last, mask, np.array([0, 0]), np.zeros_like(mask), replace(HP, advantage_estimator="reinforce_pp"))
    np.testing.assert_array_equal(out["ret"], [[1, 1, 0], [2, 2, 2]])
    assert out["adv"][0, 2] == 0.0


def test_reinforce_pp_baseline_takes_the_group_mean_at_the_last_token() -> None:
    """s = 3, 1 for one prompt, γ = 1: 3 - 2 = 1 and 1 - 2 = -1 at the last token, so every real token's return is ±1; the
    batch's whitening then gives ±1/√(6/5 + 1e-8) (mean 0, unbiased variance 6/5 over 6 tokens)."""
    out = estimate([3.0, 1.0], [0, 0], "reinforce_pp_baseline")
    np.testing.assert_array_equal(out["rewards_b"], [[0, 0, 1], [0, 0, -1]])
    np.testing.assert_array_equal(out["ret"], [[1, 1, 1], [-1, -1, -1]])
    np.testing.assert_allclose(out["adv"], np.array([[1.0] * 3, [-1.0] * 3]) / np.sqrt(1.2 + 1e-8), rtol=1e-15)
    plain = estimate([3.0, 1.0], [0, 0], "reinforce_pp")  # without the baseline: returns 3 and 1, whitened to the same ±
    np.testing.assert_allclose(plain["adv"], out["adv"], rtol=1e-12)


def test_gae_passes_gaes_advantages_through() -> None:
    rewards, is_last, mask = last_token([1.0, 2.0])
    gae_adv = np.arange(6.0).reshape(2, 3)
    out = advantage(rewards, is_last, mask, np.array([0, 0]), gae_adv, HP)
    np.testing.assert_array_equal(out["adv"], gae_adv)


def test_dropped_groups_leave_every_aggregate() -> None:
    """Per-token losses 1, 2, 3 | 4, 9, 9 (second response: one real token), keep 1 | 0: token-mean (1+2+3)/3 = 2, the dropped
    response's tokens weigh nothing; every response dropped: every loss 0, not 0/0."""
    L, m = np.array([[1.0, 2, 3], [4, 9, 9]]), np.array([[1.0, 1, 1], [1, 0, 0]])
    keep = np.array([1.0, 0.0])
    for mode, want in (("token-mean", 2.0), ("seq-mean-token-mean", 2.0), ("seq-mean-token-sum", 6.0), ("seq-mean-token-sum-norm", 2.0)):
        hp = replace(HP, loss_agg=mode)
        assert float(aggregate(L, m, hp, keep)[2]) == want, mode
        np.testing.assert_allclose((agg_weights(m, hp, keep) * L).sum(), want, rtol=1e-15)
        assert float(aggregate(L, m, hp, np.zeros(2))[2]) == 0.0


def test_group_size_must_divide_the_batch() -> None:
    with pytest.raises(ConfigError, match=r"config key 'group_size' = 3: B = 2 sequences must be a whole number of groups"):
        load_config("small", group_size=3)


def test_prompts_repeat_within_a_group_and_g1_keeps_the_seeded_inputs() -> None:
    inputs = make_inputs(load_config("medium", group_size=2))
    np.testing.assert_array_equal(inputs.group, [0, 0, 1, 1])
    np.testing.assert_array_equal(inputs.prompts[0], inputs.prompts[1])
    np.testing.assert_array_equal(inputs.prompts[2], inputs.prompts[3])
    one = make_inputs(load_config("medium"))
    np.testing.assert_array_equal(one.group, [0, 1, 2, 3])
    assert not np.array_equal(one.prompts[0], one.prompts[1])


@pytest.mark.parametrize("estimator", ["grpo", "dr_grpo", "rloo", "reinforce_pp", "reinforce_pp_baseline"])
def test_a_critic_free_estimator_turns_the_critic_off(estimator: str) -> None:
    """The whole pipeline: no value term in the total, no gradient to φ, φ not stepped; Value Loss still computes its loss."""
    config = load_config("medium", advantage_estimator=estimator, group_size=2, optimizer="adamw", weight_decay=0.01)
    hp = hyper(config)
    q = run(make_inputs(config), hp)
    assert float(q["Config", "use_critic"]) == 0.0 and float(q["Value Loss", "vf_loss"]) > 0
    assert float(q["Total", "critic_loss"]) == 0.0 and float(q["Total", "part_vf"]) == 0.0
    assert float(q["Total", "total_loss"]) == pytest.approx(float(q["Total", "actor_loss"]), abs=1e-15)
    assert float(q["Backward", "grad_norm_phi"]) == 0.0 and not q["Step", "delta.w_v"].any()
    assert str(q["Value Loss", "critic_status"]).startswith("unused")
    gae = run(make_inputs(config), replace(hp, advantage_estimator="gae"))
    assert float(gae["Backward", "grad_norm_phi"]) > 0 and gae["Step", "delta.w_v"].any()  # the same batch with a critic


ESTIMATOR_EDITS = {"advantage_estimator": "grpo", "dynamic_sampling": "on", "score_clip": 0.001, "kl_placement": "loss"}


@pytest.mark.parametrize("engine", [pytest.param("libreoffice", marks=pytest.mark.libreoffice), "formulas"])
def test_engines_follow_the_estimator_switch_and_edited_groups(engine: str, tmp_path: Path) -> None:
    """A PPO workbook (medium, one response per prompt) turned into GRPO in the file, as a user would in Calc: the estimator
    and DAPO's switch flipped on Config, every score clamped to ±0.001, and Rollout's group column retyped to pair the
    responses 0-1 and 2-3. Responses 2 and 3 both score -0.001: their group has no signal and leaves the loss; the critic
    drops out; the whole workbook re-flows to the reference."""
    path = tmp_path / "medium.xlsx"
    generate(load_config("medium"), path)
    groups = {("Rollout", "group", (b,)): g for b, g in enumerate([0, 0, 1, 1])}
    edited = with_config_edits(path, ESTIMATOR_EDITS, tmp_path / "grpo.xlsx", cells=groups)
    config, inputs, _, _ = read_blueprint(edited)
    assert all(getattr(config, k) == v for k, v in ESTIMATOR_EDITS.items())
    np.testing.assert_array_equal(inputs.group, [0, 0, 1, 1])
    after = {(c.sheet, c.quantity, c.idx): c.value for c in build(config, inputs).formula_cells()}
    assert [after["Advantage", "keep", (b,)] for b in range(4)] == [1, 1, 0, 0]
    assert after["Config", "use_critic", ()] == 0 and after["Total", "part_vf", ()] == 0 and after["Backward", "grad_norm_phi", ()] == 0
    assert after["Value Loss", "critic_status", ()].startswith("unused")
    report = verify(edited, engine=engine, cache_check=False)  # openpyxl saved it: no cached values
    assert report.ok, report.text(5)
    assert report.totals().mapped == len(after)
