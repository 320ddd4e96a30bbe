"""OpenRLHF's and verl's clamps and OpenRLHF's whitening floor, as live switches (issue #15's last gaps):
whiten_eps_mode (√(var + ε) or √max(var, ε)), kl_clamp / kl_clamp_scope (each KL estimate to ±kl_clamp) and
score_clip (the score to ±score_clip). Each by hand, then in the workbook, generated and verified."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from blueprint.api import generate
from blueprint.config import CONVENTIONS, hyper, load_config
from blueprint.verify import verify
from reference.backward import logp_gradient
from reference.gae import gae
from reference.kl import kl_estimate, shaped_rewards
from reference.reward import reward
from reference.rnn import RNNWeights

HP = hyper(load_config("small"))


def test_whiten_eps_mode_by_hand() -> None:
    """Advantages A = (1, 1, 1, 1 + 2e-4) (γ = 0, no critic: A = r), population variance, ε = 1e-8:
    μ = 1 + 0.5e-4;  deviations ∓0.5e-4 (three) and +1.5e-4;  var = (3·0.25e-8 + 2.25e-8)/4 = 0.75e-8 < ε.
    add: Â = dev/√(0.75e-8 + 1e-8) = dev/√1.75e-8;  max: Â = dev/√max(0.75e-8, 1e-8) = dev/1e-4 = (-0.5, -0.5, -0.5, 1.5).
    With var ≥ ε the max floor is not reached: A = (0, 2), var = 1 (population): Â = (-1, 1) exactly, add: ±1/√(1 + 1e-8)."""
    a = np.array([[1.0, 1.0, 1.0, 1.0 + 2e-4]])

    def whitened(adv: np.ndarray, mode: str) -> np.ndarray:
        hp = replace(HP, gamma=0.0, adv_whiten="population", whiten_eps=1e-8, whiten_eps_mode=mode)
        return gae(adv, np.zeros_like(adv), np.ones_like(adv), hp)["adv_whitened"][0]

    np.testing.assert_allclose(whitened(a, "max"), [-0.5, -0.5, -0.5, 1.5], rtol=1e-6)
    dev = np.array([-0.5e-4, -0.5e-4, -0.5e-4, 1.5e-4])
    np.testing.assert_allclose(whitened(a, "add"), dev / np.sqrt(1.75e-8), rtol=1e-6)
    assert np.abs(whitened(a, "add")).max() < 1.14  # 1.5/√1.75 = 1.134: the +ε shrinks a near-constant batch's Â
    np.testing.assert_array_equal(whitened(np.array([[0.0, 2.0]]), "max"), [-1.0, 1.0])
    np.testing.assert_allclose(whitened(np.array([[0.0, 2.0]]), "add"), [-1 / np.sqrt(1 + 1e-8), 1 / np.sqrt(1 + 1e-8)], rtol=1e-15)


def test_whiten_eps_mode_on_the_rewards_by_hand() -> None:
    """Reward whitening reads the same switch. β = 0, scores s = (3, 3 + 2e-4) on one-token responses:
    r = s, μ_r = 3 + 1e-4, var_r (unbiased, N - 1 = 1) = 2·(1e-4)² = 2e-8, below ε = 1e-7:
    max: (r - μ)/√1e-7 + μ = ∓1e-4/3.16228e-4 + μ = μ ∓ 0.316228;  add: ∓1e-4/√1.2e-7 + μ = μ ∓ 0.288675."""
    logp = np.zeros((2, 1))
    mask = is_last = np.ones((2, 1))
    score = np.array([3.0, 3.0 + 2e-4])
    for mode, step in (("max", 0.316228), ("add", 0.288675)):
        hp = replace(HP, beta=0.0, reward_whiten="on", whiten_eps=1e-7, whiten_eps_mode=mode)
        r = shaped_rewards(logp, logp, mask, score, is_last, 1.0, hp)["rewards"][:, 0]
        np.testing.assert_allclose(r, [3 + 1e-4 - step, 3 + 1e-4 + step], rtol=1e-6)


def test_kl_clamp_by_hand() -> None:
    """d = ℓ_old - ℓ_ref = (12, -3, 0.5, -12) on four tokens, the last masked out; β = 0.1, no score:
    k1 = d = (12, -3, 0.5, -12)              clamp ±10: (10, -3, 0.5, -10)·m = (10, -3, 0.5, 0)
    k2 = d²/2 = (72, 4.5, 0.125, 72)        clamp ±10: (10, 4.5, 0.125, 10)·m
    k3 = e^-d - 1 + d = (11.000006, e³ - 4 = 16.0855, 0.106531, 11.000006)  clamp ±10: (10, 10, 0.106531, 10)·m
    OpenRLHF (scope all) clamps all three; verl (scope k3) only k3: its k1, k2 pass through. The reward is -β·k·m."""
    logp_ref = np.zeros((1, 4))
    logp_old = np.array([[12.0, -3.0, 0.5, -12.0]])
    mask, is_last, score = np.array([[1.0, 1.0, 1.0, 0.0]]), np.zeros((1, 4)), np.zeros(1)
    expected = {"k1": [10, -3, 0.5, 0], "k2": [10, 4.5, 0.125, 0], "k3": [10, 10, np.exp(-0.5) - 0.5, 0]}
    unclamped = {"k1": [12, -3, 0.5, 0], "k2": [72, 4.5, 0.125, 0], "k3": [np.exp(-12) + 11, np.exp(3) - 4, np.exp(-0.5) - 0.5, 0]}
    for est in ("k1", "k2", "k3"):
        for scope in ("all", "k3"):
            hp = replace(HP, beta=0.1, kl_estimator=est, kl_clamp=10.0, kl_clamp_scope=scope)
            q = shaped_rewards(logp_old, logp_ref, mask, score, is_last, 1.0, hp)
            want = expected[est] if scope == "all" or est == "k3" else unclamped[est]
            np.testing.assert_allclose(q["kl_token"][0], want, rtol=1e-12)
            np.testing.assert_allclose(q["rewards"][0], -0.1 * np.array(want), rtol=1e-12)
        off = shaped_rewards(logp_old, logp_ref, mask, score, is_last, 1.0, replace(HP, kl_estimator=est, kl_clamp=0.0))
        np.testing.assert_allclose(off["kl_token"][0], unclamped[est], rtol=1e-12)
    # The same clamp on the KL as a loss (Total and After Step read kl_estimate)
    hp = replace(HP, kl_clamp=10.0, kl_clamp_scope="all")
    np.testing.assert_allclose(kl_estimate(logp_old, logp_ref, "k2", hp)[0], [10, 4.5, 0.125, 10])


def test_kl_clamp_stops_the_kl_gradient_where_it_binds() -> None:
    """KL k2 as a loss, c_KL = 1, w = 1, Â = 0 (no policy gradient): ∂k2/∂ℓ = d = ℓ - ℓ_ref.
    d = (5, 4, -5.5): k2 = (12.5, 8, 15.125); kl_clamp 10 binds on tokens 0 and 2 (|k| > 10) -> ∂ = (0, 4, 0);
    at kl_clamp 12.5 token 0 sits on the edge, and torch's clamp passes its gradient -> (5, 4, 0).
    Scope k3 with the k2 estimator: nothing is clamped -> (5, 4, -5.5)."""
    logp_new, logp_ref = np.array([[5.0, 4.0, -5.5]]), np.zeros((1, 3))
    one, zero = np.ones((1, 3)), np.zeros((1, 3))

    def grad(**changes: float | str) -> np.ndarray:
        hp = replace(HP, kl_loss_estimator="k2", kl_loss_coef=1.0, logratio_clamp=0.0, **changes)
        return logp_gradient(one, one, zero, zero, zero, one, logp_new, logp_new, logp_ref, 1.0, hp)["g_logp"][0]

    np.testing.assert_array_equal(grad(kl_clamp=10.0), [0, 4, 0])
    np.testing.assert_array_equal(grad(kl_clamp=12.5), [5, 4, 0])
    np.testing.assert_array_equal(grad(kl_clamp=10.0, kl_clamp_scope="k3"), [5, 4, -5.5])
    np.testing.assert_array_equal(grad(kl_clamp=0.0), [5, 4, -5.5])


def test_score_clip_by_hand() -> None:
    """A reward model with no hidden state that reads only its bias: out = b_s = 12 at every position. Two responses,
    the first with EOS, the second without; eos_handling = subtract, penalty 1:
    s = (12, 12 - 1 = 11), clamped to ±10 -> (10, 10); with b_s = -10.5: (-10.5, -11.5) -> (-10, -10);
    b_s = 3: (3, 2) within ±10, unchanged; score_clip 0 = off: (12, 11)."""
    H, V = 1, 3
    rm = RNNWeights(W_xh=np.zeros((H, V)), W_hh=np.zeros((H, H)), b_h=np.zeros(H), W_hy=np.zeros((1, H)), b_y=np.array([12.0]))
    prompts, tokens = np.zeros((2, 1), dtype=int), np.array([[1, 2], [1, 1]])
    is_eos, mask = np.array([[0, 1], [0, 0]]), np.ones((2, 2))
    hp = replace(HP, eos_handling="subtract", missing_eos_penalty=1.0, score_clip=10.0)
    q = reward(rm, prompts, tokens, is_eos, mask, hp)
    np.testing.assert_array_equal(q["score_eos"], [12, 11])
    np.testing.assert_array_equal(q["score"], [10, 10])
    for b_s, want in ((-10.5, [-10, -10]), (3.0, [3, 2])):
        np.testing.assert_array_equal(reward(replace(rm, b_y=np.array([b_s])), prompts, tokens, is_eos, mask, hp)["score"], want)
    np.testing.assert_array_equal(reward(rm, prompts, tokens, is_eos, mask, replace(hp, score_clip=0.0))["score"], [12, 11])


def test_the_conventions_set_the_clamps_from_the_source() -> None:
    """OpenRLHF compute_approx_kl: `return log_ratio.clamp(min=-10, max=10)` for every estimator, reward and loss alike;
    compute_reward: `r = r.clamp(min=reward_clip_range[0], max=reward_clip_range[1])`, --reward.clip_range (-10, 10);
    the advantages' `rstd = var.clamp(min=1e-8).rsqrt()`. verl kl_penalty_forward, low_var_kl only:
    `return torch.clamp(kld, min=-10, max=10)`; masked_whiten: `torch.rsqrt(var + 1e-8)`. TRL: no clamp, rsqrt(var + 1e-8)."""
    trl, openrlhf, verl = (CONVENTIONS[k] for k in ("trl", "openrlhf", "verl"))
    assert (trl["kl_clamp"], openrlhf["kl_clamp"], verl["kl_clamp"]) == (0.0, 10.0, 10.0)
    assert (openrlhf["kl_clamp_scope"], verl["kl_clamp_scope"]) == ("all", "k3")
    assert (trl["score_clip"], openrlhf["score_clip"], verl["score_clip"]) == (0.0, 10.0, 0.0)
    assert (trl["whiten_eps_mode"], openrlhf["whiten_eps_mode"], verl["whiten_eps_mode"]) == ("add", "max", "add")
    default = load_config("small")
    assert (default.kl_clamp, default.score_clip, default.whiten_eps_mode, default.kl_clamp_scope) == (0.0, 0.0, "add", "all")


SWITCHED = [  # each switch where it binds on the seeded inputs (0.05: most tokens' |k| is larger; 0.1: every score is)
    dict(whiten_eps_mode="max"),
    dict(whiten_eps_mode="max", reward_whiten="on", adv_whiten="population"),
    dict(kl_clamp=0.05, kl_placement="both", kl_estimator="k1", kl_loss_estimator="k2"),
    dict(kl_clamp=0.05, kl_clamp_scope="k3", kl_placement="both", kl_estimator="k3", kl_loss_estimator="k3"),
    dict(kl_clamp=0.05, kl_clamp_scope="k3", kl_placement="both", kl_estimator="k1", kl_loss_estimator="k2"),
    dict(score_clip=0.1),
]


@pytest.mark.parametrize("preset", ["small", "medium"])
@pytest.mark.parametrize("switches", SWITCHED, ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()))
def test_each_switch_generates_and_verifies_clean(preset: str, switches: dict, tmp_path: Path) -> None:
    path = tmp_path / "switched.xlsx"
    generate(load_config(preset, **switches), path)
    report = verify(path)
    assert report.ok, f"{switches}\n{report.text(5)}"
