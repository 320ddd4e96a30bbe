"""The PPO update's reference (reference/backward.py, step.py, after_step.py) against what it must equal.

1. every gradient entry against central finite differences of total_loss, over random configurations and switches
   (entries whose ±h step flips a clip / dual-clip / value-clip / clamp branch are skipped: no derivative there);
2. clip_grad_norm_ and the AdamW / SGD step against numbers worked out by hand in the comments;
3. θ = θ_old (theta_init = old): ρ ≡ 1, nothing clipped, g_logp the plain policy gradient -w·Â·m (+ the KL term);
4. After Step: θ' = θ gives back the forward pass; a tiny step changes the loss by grad·delta to first order.

The harness takes a rollout from reference.run and recomputes Ratio, Clip, Value Loss and Total itself from (θ, φ),
so total_loss(θ, φ) can be evaluated at perturbed weights with everything upstream (Â, R, ℓ_old, ℓ_ref, V_old, the
estimator's Â and which groups the losses keep) fixed.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from blueprint.config import hyper, load_config
from blueprint.inputs import make_inputs
from reference import run
from reference.after_step import after_step
from reference.backward import PHI, THETA, backward, clip_coefs, logp_gradient
from reference.clip import clip
from reference.kl import kl_clamps, kl_estimators
from reference.ratio import ratio
from reference.rnn import RNNWeights, ValueHead
from reference.step import next_weights, step
from reference.total import total
from reference.value_loss import value_loss
from reference.variants import pg_loss_grad_logp, vf_loss_grad_values


# --- harness ---------------------------------------------------------------------------------------------------------

class Case:
    """One rollout (Rollout, Reward, KL, GAE, Advantage from reference.run) and the θ, φ the update starts from (theta_init)."""

    def __init__(self, preset: str = "small", **values: Any) -> None:
        config = load_config(preset, **values)
        self.hp = hyper(config)
        self.inputs = make_inputs(config)
        self.q = run(self.inputs, self.hp)
        old = self.hp.theta_init == "old"
        self.theta = self.inputs.old if old else self.inputs.given
        self.phi = self.inputs.phi_old if old else self.inputs.phi_given

    def __getitem__(self, key: tuple[str, str]) -> np.ndarray:
        return self.q[key]

    def forward(self, theta: RNNWeights, phi: ValueHead, h_value: np.ndarray | None = None) -> dict[str, dict[str, np.ndarray]]:
        """Ratio, Clip, Value Loss, Total at (θ, φ); the value head reads h_value if given (detached), else θ's h."""
        hp, mask = self.hp, self["Rollout", "mask"]
        ra = ratio(theta, self.inputs.prompts, self["Rollout", "tokens"], self["Rollout", "logp_old"], mask, hp)
        keep = self["Advantage", "keep"]
        cl = clip(self["Advantage", "adv"], ra["ratio"], mask, hp, keep)
        vl = value_loss(phi, ra["h"] if h_value is None else h_value, self["Rollout", "values_old"], self["GAE", "returns"],
                        self["Reward", "mask_v"], hp, keep)
        to = total(ra["token_entropy"], ra["logp_new"], self["KL", "logp_ref"], self["KL", "kl_token"], self["KL", "non_score_reward"],
                   mask, self["Reward", "n_real"], self["Reward", "score"], cl["pg_loss"], vl["vf_loss"], self["Config", "kl_in_loss"], hp,
                   self["Config", "use_critic"], keep)
        return {"Ratio": ra, "Clip": cl, "Value Loss": vl, "Total": to}

    def backward(self, f: dict[str, dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        ra, cl, vl = f["Ratio"], f["Clip"], f["Value Loss"]
        return backward(self.theta, self.phi, ra["x"], ra["h"], ra["p"], ra["logits"], ra["lse"], ra["token_entropy"], ra["logp_new"],
                        ra["ratio"], cl["agg_w"], cl["pg_clipped"], cl["pg_clipped_lower"], vl["values_new"], vl["vf_clipped"],
                        self["Advantage", "adv"], self["GAE", "returns"], self["Rollout", "tokens"], self["Rollout", "mask"],
                        self["Rollout", "logp_old"], self["KL", "logp_ref"], self["Config", "kl_in_loss"], self.hp, self["Config", "use_critic"],
                        vl["vf_agg_w"])

    def step(self, bw: dict[str, np.ndarray], hp: Any = None) -> dict[str, np.ndarray]:
        """A step from zero Adam state (opt_step 0)."""
        zero_theta = RNNWeights(**{k: np.zeros_like(getattr(self.theta, k)) for k in THETA})
        zero_phi = ValueHead(np.zeros_like(self.phi.w_v), 0.0)
        return step(self.theta, self.phi, bw, zero_theta, zero_phi, zero_theta, zero_phi, 0, hp or self.hp, self["Config", "use_critic"])

    def after_step(self, f: dict[str, dict[str, np.ndarray]], bw: dict[str, np.ndarray], st_: dict[str, np.ndarray],
                   hp: Any = None) -> dict[str, np.ndarray]:
        theta_next, phi_next = next_weights(st_)
        return after_step(theta_next, phi_next, self.inputs.prompts, self["Rollout", "tokens"], self["Rollout", "mask"],
                          self["Rollout", "logp_old"], self["KL", "logp_ref"], self["Advantage", "adv"], self["GAE", "returns"],
                          self["Rollout", "values_old"], f["Ratio"]["h"], f["Total"]["total_loss"], bw, st_, self["Config", "kl_in_loss"],
                          hp or self.hp, self["Config", "use_critic"], self["Advantage", "keep"], self["Reward", "mask_v"])

    def flags(self, f: dict[str, dict[str, np.ndarray]]) -> np.ndarray:
        """Every 0/1 branch indicator of the loss: a finite difference across a flip measures no derivative."""
        mask, c = self["Rollout", "mask"], self.hp.logratio_clamp
        d = f["Ratio"]["logp_new"] - self["Rollout", "logp_old"]
        clamp = (np.abs(d) <= c) * mask if c > 0 else np.zeros_like(mask)
        est = self.hp.kl_loss_estimator
        k = kl_estimators(f["Ratio"]["logp_new"], self["KL", "logp_ref"])[est]
        kl_clamp = (np.abs(k) <= self.hp.kl_clamp) * mask if kl_clamps(est, self.hp) else np.zeros_like(mask)
        return np.stack([f["Clip"]["pg_clipped"], f["Clip"]["pg_clipped_lower"], f["Value Loss"]["vf_clipped"], clamp, kl_clamp])


def params(theta: RNNWeights, phi: ValueHead) -> dict[str, np.ndarray]:
    return {**{k: np.array(getattr(theta, k), dtype=float) for k in THETA}, "w_v": np.array(phi.w_v, dtype=float),
            "b_v": np.array(phi.b_v, dtype=float)}


def weights(p: dict[str, np.ndarray]) -> tuple[RNNWeights, ValueHead]:
    return RNNWeights(**{k: p[k] for k in THETA}), ValueHead(p["w_v"], float(p["b_v"]))


# --- 1. finite differences -------------------------------------------------------------------------------------------

H_FD = 1e-6
# Central differences in float64 at h = 1e-6: truncation ~ h²·|L'''|/6, rounding ~ ε·|L|/h ≈ 2e-10·|L|. |L| stays near 1
# in most configurations but reaches ~3000 where k3 as a loss meets ratios far outside the band (ℓ - ℓ_ref ≈ -10 on a
# token): there rounding alone was measured at 1.7e-6 (L = 2380, g = -0.74), and a larger h does not help since L''' grows
# with L too (L = 3123: h = 1e-3 … 1e-5 give errors 0.16, 1.6e-3, 1.6e-5, as h²). So each entry is held to
# |fd - g| ≤ 1e-6·|g| + 1e-8·max(1, |L|): 1e-6 relative plus ≈ 50× the rounding bound (1e-8 absolute when |L| ≤ 1).
RTOL, ATOL = 1e-6, 1e-8
WORST: list[float] = []  # |fd - g| / max(1, |g|) of every entry checked, for the record


def check_finite_differences(case: Case) -> tuple[int, int]:
    """Every grad.<p> entry against (L(θ+h) - L(θ-h))/2h; returns (entries checked, entries skipped at a kink)."""
    f0 = case.forward(case.theta, case.phi)
    bw = case.backward(f0)
    h_value = None if case.hp.value_trunk == "shared" else f0["Ratio"]["h"]  # detached: φ's features held at θ's h
    flags0 = case.flags(f0)
    scale = max(1.0, abs(float(f0["Total"]["total_loss"])))
    p0 = params(case.theta, case.phi)
    checked = skipped = 0
    for name, value in p0.items():
        g = bw[f"grad.{name}"]
        assert g.shape == value.shape, name
        for idx in np.ndindex(value.shape):
            sides = []
            for sign in (1.0, -1.0):
                p = {k: v.copy() for k, v in p0.items()}
                p[name][idx] += sign * H_FD
                f = case.forward(*weights(p), h_value=h_value)
                sides.append((float(f["Total"]["total_loss"]), case.flags(f)))
            if not all(np.array_equal(flags, flags0) for _, flags in sides):
                skipped += 1
                continue
            fd = (sides[0][0] - sides[1][0]) / (2 * H_FD)
            err = abs(fd - g[idx])
            WORST.append(err / max(1.0, abs(g[idx])))
            assert err <= RTOL * abs(g[idx]) + ATOL * scale, f"grad.{name}{idx}: analytic {g[idx]!r}, finite difference {fd!r}"
            checked += 1
    return checked, skipped


SWITCHES = dict(
    loss_agg=st.sampled_from(["token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm"]),
    kl_placement=st.sampled_from(["loss", "both", "reward", "none"]),
    kl_loss_estimator=st.sampled_from(["k1", "k2", "k3"]),
    kl_loss_coef=st.sampled_from([0.001, 0.5]),  # 0.5: a KL gradient well above the tolerance
    ent_coef=st.sampled_from([0.0, 0.01, 0.5]),
    dual_clip=st.sampled_from([0.0, 3.0]),
    logratio_clamp=st.sampled_from([0.0, 0.05, 20.0]),
    kl_clamp=st.sampled_from([0.0, 0.05, 10.0]),  # 0.05 binds on most tokens: their KL gradient is 0
    kl_clamp_scope=st.sampled_from(["all", "k3"]),
    value_trunk=st.sampled_from(["shared", "detached"]),
    score_slot=st.sampled_from(["last", "after_eos"]),  # after_eos: V trained on e + 1 too, its gradient weighed over m_v
    theta_init=st.sampled_from(["given", "old"]),
    tau=st.sampled_from([0.7, 1.0]),
    vf_coef=st.sampled_from([0.1, 1.0]),
    advantage_estimator=st.sampled_from(["gae", "grpo", "dr_grpo", "rloo", "reinforce_pp", "reinforce_pp_baseline"]),
    group_size=st.sampled_from([1, 2]),  # B = 2 (small) or 4 (medium): one or two prompts of 2, or B prompts of 1
    dynamic_sampling=st.sampled_from(["off", "on"]),
    update_scale=st.sampled_from([0.3, 0.6]),  # how far θ is from θ_old: clipping binds in about half the cases either way;
    #   at 1.0, k3 as a loss reaches |L| ~ 1e4 and the finite differences' rounding (ε·|L|/h) swamps the 1e-6 tolerance
)


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(preset=st.sampled_from(["small", "medium"]), seed=st.integers(0, 10_000), switches=st.fixed_dictionaries(SWITCHES))
def test_gradients_match_finite_differences(preset: str, seed: int, switches: dict[str, Any]) -> None:
    checked, skipped = check_finite_differences(Case(preset, seed=seed, **switches))
    event(f"skipped at a kink: {'some' if skipped else 'none'}")
    assert checked >= 0.8 * (checked + skipped)


@pytest.mark.parametrize("trunk", ["shared", "detached"])
def test_finite_differences_every_branch(trunk: str) -> None:
    """A configuration where every branch is taken somewhere (pg clipped, dual clip binding, value clipped) and every loss
    term is on (medium, seed 5: 14 clipped, 2 dual-clipped, 30 value-clipped tokens)."""
    case = Case("medium", seed=5, dual_clip=3.0, update_scale=0.6, logratio_clamp=20.0, kl_placement="both", kl_loss_estimator="k3",
                kl_loss_coef=0.5, ent_coef=0.01, loss_agg="seq-mean-token-mean", value_trunk=trunk)
    f = case.forward(case.theta, case.phi)
    assert all(case.flags(f)[:3].reshape(3, -1).any(axis=1))
    checked, skipped = check_finite_differences(case)
    assert checked >= 0.8 * (checked + skipped)


def test_finite_differences_default_presets() -> None:
    """The workbook's own configurations, where FD is held to every entry (no kink within ±h at these weights)."""
    for preset in ("small", "medium"):
        checked, skipped = check_finite_differences(Case(preset))
        assert skipped == 0 and checked > 0


@pytest.mark.parametrize("trunk", ["shared", "detached"])
@pytest.mark.parametrize("theta_init", ["given", "old"])
def test_finite_differences_when_the_score_lands_after_eos(trunk: str, theta_init: str) -> None:
    """medium under TRL's conventions (score_slot = after_eos): response 1 ends at e = 2, so its score lands on t = 3 and V is
    trained there too (m_v one slot longer than m). Every entry held to FD; from θ_old (no value clip binds) ∂L/∂V at e + 1
    is vf_coef·w^v·(V - R) with w^v = 1/N_v, N_v = 28, and R there is the score."""
    case = Case("medium", convention="trl", value_trunk=trunk, theta_init=theta_init)
    mask, mask_v = case["Rollout", "mask"], case["Reward", "mask_v"]
    np.testing.assert_array_equal(mask_v - mask, [[0] * 8, [0, 0, 0, 1, 0, 0, 0, 0], [0] * 8, [0] * 8])
    assert float(case["Reward", "n_tokens_v"]) == float(case["Rollout", "n_tokens"]) + 1 == 28.0
    assert case["GAE", "returns"][1, 3] == pytest.approx(float(case["Reward", "score"][1]), abs=1e-12)
    f = case.forward(case.theta, case.phi)
    bw = case.backward(f)
    if theta_init == "old":
        v = f["Value Loss"]["values_new"][1, 3]
        assert bw["g_values"][1, 3] == pytest.approx(case.hp.vf_coef * (v - case["GAE", "returns"][1, 3]) / 28.0, rel=1e-12)
        assert bw["g_values"][1, 3] != 0.0
    assert not bw["g_values"][1, 4:].any() and not bw["g_logp"][1, 3:].any()  # the policy keeps the real tokens
    checked, skipped = check_finite_differences(case)
    assert checked >= 0.8 * (checked + skipped) and checked > 0


@pytest.mark.parametrize("estimator", ["grpo", "dr_grpo", "rloo", "reinforce_pp", "reinforce_pp_baseline"])
def test_finite_differences_under_each_critic_free_estimator(estimator: str) -> None:
    """medium, two prompts of 2 responses, KL as a loss: every entry held to FD; no gradient reaches φ, and Step leaves φ
    and its moments as they were (there is no critic to step)."""
    case = Case("medium", advantage_estimator=estimator, group_size=2, kl_placement="loss", kl_loss_coef=0.5, ent_coef=0.01)
    checked, skipped = check_finite_differences(case)
    assert checked >= 0.8 * (checked + skipped)
    bw = case.backward(case.forward(case.theta, case.phi))
    assert not bw["g_values"].any() and not bw["grad.w_v"].any() and float(bw["grad.b_v"]) == 0.0 and float(bw["grad_norm_phi"]) == 0.0
    st_ = case.step(bw)
    np.testing.assert_array_equal(st_["phi_next.w_v"], case.phi.w_v)
    assert float(st_["phi_next.b_v"]) == case.phi.b_v and not st_["delta.w_v"].any() and not st_["m_next.w_v"].any()


def test_finite_differences_when_dapo_drops_a_group() -> None:
    """medium under DAPO's settings with every score clamped to ±0.001: the first prompt's two responses both score 0.001 and
    are dropped (keep 0); the losses average over the other group's 12 tokens, and FD agrees entry by entry."""
    case = Case("medium", convention="dapo", score_clip=0.001, ent_coef=0.01)
    np.testing.assert_array_equal(case["Advantage", "keep"], [0, 0, 1, 1])
    assert float(case["Advantage", "n_loss_tokens"]) == 12.0
    f = case.forward(case.theta, case.phi)
    bw = case.backward(f)
    assert not bw["g_logp"][:2].any() and bw["g_logp"][2:].any()  # the dropped responses send no gradient at all
    checked, skipped = check_finite_differences(case)
    assert skipped == 0 and checked > 0


# --- 2. clip_grad_norm_ and the optimizer step, by hand --------------------------------------------------------------

def hp_with(**changes: Any) -> Any:
    return replace(hyper(load_config("small")), **changes)


# ‖θ grads‖² = 1 + 4 + 4 + 16 + 0 = 25 -> 5;  ‖φ grads‖² = 64 + 16 + 64 = 144 -> 12;  joint √(25 + 144) = 13
GRADS = {"grad.W_xh": np.array([[1.0, 2.0]]), "grad.b_h": np.array([2.0]), "grad.W_hh": np.array([[0.0]]),
         "grad.W_hy": np.array([[4.0], [0.0]]), "grad.b_y": np.array([0.0, 0.0]),
         "grad.w_v": np.array([8.0, 4.0]), "grad.b_v": np.array(8.0)}


@pytest.mark.parametrize("trunk, max_norm, coef, coef_phi", [
    ("shared", 1.0, 1 / 13.000001, 1 / 13.000001),  # one clip over θ and φ: 1/(13 + 1e-6)
    ("detached", 1.0, 1 / 5.000001, 1 / 12.000001),  # each model by its own norm
    ("detached", 6.0, 1.0, 6 / 12.000001),  # θ's 5 < 6: untouched; φ's 12 halved (0.4999999583…)
    ("shared", 20.0, 1.0, 1.0),  # 13 < 20: nothing binds
    ("shared", 0.0, 1.0, 1.0),  # 0 = off, whatever the norm
    ("detached", 0.0, 1.0, 1.0),
])
def test_clip_coefs_by_hand(trunk: str, max_norm: float, coef: float, coef_phi: float) -> None:
    c = clip_coefs(GRADS, hp_with(value_trunk=trunk, max_grad_norm=max_norm))
    assert (c["grad_norm_theta"], c["grad_norm_phi"], c["grad_norm"]) == (5.0, 12.0, 13.0)
    assert c["grad_clip_coef"] == pytest.approx(coef, rel=1e-15) and c["grad_clip_coef_phi"] == pytest.approx(coef_phi, rel=1e-15)
    assert all(np.ndim(v) == 0 for v in c.values())


def test_logp_gradient_by_hand() -> None:
    """The chain rule's per-token factors on six tokens, c = logratio_clamp = 0.5, KL k2 in the loss at c_KL = 0.5:
    t  ℓ     ℓ_old  ℓ_ref  ρ       Â   w     flags        dpg  dρ/dℓ           ∂k2/∂ℓ  g = w·(dpg·dρ/dℓ + .5·∂k2/∂ℓ)
    0  -1    -1     -1.5   1       2   .25   -            -2   1               0.5     .25·(-2 + .25) = -0.4375
    1  -0.5  -1     -1     e^.5   -1   .25   -             1   e^.5 (|d| = c)  0.5     .25·(e^.5 + .25)
    2   0    -1      0     e^.5   -1   .25   -             1   0 (|d| > c)     0       0
    3  -0.6  -1     -0.6   e^.4    1   .25   clipped       0   e^.4            0       0
    4  -0.7  -1     -0.7   e^.3   -1   .25   dual clip     0   e^.3            0       0
    5  -2    -1     -1     1       0   0     masked        0   0               0       0"""
    hp = hp_with(logratio_clamp=0.5, kl_loss_estimator="k2", kl_loss_coef=0.5)
    logp_new, logp_old, logp_ref = (np.array([v]) for v in ([-1, -0.5, 0, -0.6, -0.7, -2], [-1.0] * 6, [-1.5, -1, 0, -0.6, -0.7, -1]))
    rho = np.exp(np.array([[0, 0.5, 0.5, 0.4, 0.3, 0]]))
    adv, w, mask = np.array([[2.0, -1, -1, 1, -1, 0]]), np.array([[0.25] * 5 + [0]]), np.array([[1.0] * 5 + [0]])
    clipped, lower = np.array([[0.0, 0, 0, 1, 0, 0]]), np.array([[0.0, 0, 0, 0, 1, 0]])
    g = logp_gradient(rho, w, clipped, lower, adv, mask, logp_new, logp_old, logp_ref, 1.0, hp)
    np.testing.assert_array_equal(g["no_grad"], [[0, 0, 0, 1, 1, 0]])
    np.testing.assert_array_equal(g["dpg_dratio"], [[-2, 1, 1, 0, 0, 0]])
    np.testing.assert_allclose(g["dratio_dlogp"], [[1, np.exp(0.5), 0, np.exp(0.4), np.exp(0.3), 0]], rtol=1e-15)
    np.testing.assert_array_equal(g["dkl_dlogp"], [[0.5, 0.5, 0, 0, 0, 0]])
    np.testing.assert_allclose(g["g_logp"], [[-0.4375, 0.25 * (np.exp(0.5) + 0.25), 0, 0, 0, 0]], rtol=1e-15)
    # the other estimators' ∂k/∂ℓ on token 0 (d = ℓ - ℓ_ref = 0.5): k1 1, k3 1 - e^-0.5; masked token 5: 0
    for est, d0 in (("k1", 1.0), ("k3", 1 - np.exp(-0.5))):
        g = logp_gradient(rho, w, clipped, lower, adv, mask, logp_new, logp_old, logp_ref, 1.0, replace(hp, kl_loss_estimator=est))
        assert g["dkl_dlogp"][0, 0] == pytest.approx(d0, rel=1e-15) and g["dkl_dlogp"][0, 5] == 0
    g = logp_gradient(rho, w, clipped, lower, adv, mask, logp_new, logp_old, logp_ref, 0.0, replace(hp, logratio_clamp=0.0))
    assert g["dratio_dlogp"][0, 2] == pytest.approx(np.exp(0.5), rel=1e-15) and g["g_logp"][0, 0] == -0.5  # no clamp; KL not in the loss


# A one-hidden-unit, one-token model (every tensor holds one number), one step after an earlier one (opt_step = 1, so
# step_t = 2), β1 = 0.5, β2 = 0.6 -> bc1 = 1 - 0.25 = 0.75, bc2 = 1 - 0.36 = 0.64, √bc2 = 0.8; lr = 0.1, wd = 0.5
# (decay factor 1 - 0.05 = 0.95), eps = 0.1 (large on purpose: torch adds it after dividing √v by √bc2). Clipping binds:
# θ's gradients are halved (coef 0.5), φ's quartered (0.25). lr/bc1 = 0.1/0.75 = 2/15.
#   param  θ     m     v     grad  g_clip  m' = .5m + .5g   v' = .6v + .4g²   √v'/.8 + .1   θ' = .95θ - (2/15)·m'/den
#   W_xh   2     0.2   0.9   3     1.5     0.85             1.44              1.6           1.9 - 17/240   = 439/240
#   b_h   -1     0     0     0     0       0                0                 0.1          -0.95
#   W_hh   0.5  -0.4   0.4  -2    -1      -0.7              0.64              1.1           0.475 + 14/165 = 739/1320
#   W_hy   1     0.1   0     0     0       0.05             0                 0.1           0.95 - 1/15    = 53/60
#   b_y    0     0     0     0     0       0                0                 0.1           0
#   w_v    4     0     1.6  -8    -2      -1                2.56              2.1           3.8 + 4/63     = 1217/315
#   b_v   -0.5   0.3   0.1   2     0.5     0.4              0.16              0.6          -0.475 - 4/45   = -203/360
# SGD, same numbers: θ' = θ - 0.1·(g_clip + 0.5θ):
#   W_xh 2 - .1(1.5 + 1) = 1.75;  b_h -1 - .1(0 - .5) = -0.95;  W_hh .5 - .1(-1 + .25) = 0.575;  W_hy 1 - .1(.5) = 0.95;
#   b_y 0;  w_v 4 - .1(-2 + 2) = 4;  b_v -.5 - .1(.5 - .25) = -0.525;  m, v unchanged
HAND = {  # name: (θ, m, v, grad)
    "W_xh": (2.0, 0.2, 0.9, 3.0), "b_h": (-1.0, 0.0, 0.0, 0.0), "W_hh": (0.5, -0.4, 0.4, -2.0), "W_hy": (1.0, 0.1, 0.0, 0.0),
    "b_y": (0.0, 0.0, 0.0, 0.0), "w_v": (4.0, 0.0, 1.6, -8.0), "b_v": (-0.5, 0.3, 0.1, 2.0)}
SHAPES = {"W_xh": (1, 1), "b_h": (1,), "W_hh": (1, 1), "W_hy": (1, 1), "b_y": (1,), "w_v": (1,), "b_v": ()}
ADAMW_NEXT = {"W_xh": 439 / 240, "b_h": -0.95, "W_hh": 739 / 1320, "W_hy": 53 / 60, "b_y": 0.0, "w_v": 1217 / 315, "b_v": -203 / 360}
ADAMW_M = {"W_xh": 0.85, "b_h": 0.0, "W_hh": -0.7, "W_hy": 0.05, "b_y": 0.0, "w_v": -1.0, "b_v": 0.4}
ADAMW_V = {"W_xh": 1.44, "b_h": 0.0, "W_hh": 0.64, "W_hy": 0.0, "b_y": 0.0, "w_v": 2.56, "b_v": 0.16}
SGD_NEXT = {"W_xh": 1.75, "b_h": -0.95, "W_hh": 0.575, "W_hy": 0.95, "b_y": 0.0, "w_v": 4.0, "b_v": -0.525}
COEFS = {"grad_clip_coef": np.array(0.5), "grad_clip_coef_phi": np.array(0.25)}  # clipping binds: halved, quartered
G_CLIP = {"W_xh": 1.5, "b_h": 0.0, "W_hh": -1.0, "W_hy": 0.0, "b_y": 0.0, "w_v": -2.0, "b_v": 0.5}


def one(a: np.ndarray) -> float:
    """The number a one-element tensor holds."""
    return np.asarray(a).item()


def hand_step(optimizer: str, column: int = 0, **changes: Any) -> dict[str, np.ndarray]:
    def tensors(i: int) -> dict[str, np.ndarray]:
        return {k: np.full(SHAPES[k], HAND[k][i]) for k in HAND}

    theta, phi = weights(tensors(0))
    m_theta, m_phi = weights(tensors(1))
    v_theta, v_phi = weights(tensors(2))
    grads = {f"grad.{k}": v for k, v in tensors(3).items()} | COEFS
    hp = hp_with(optimizer=optimizer, lr=0.1, weight_decay=0.5, adam_beta1=0.5, adam_beta2=0.6, adam_eps=0.1, **changes)
    return step(theta, phi, grads, m_theta, m_phi, v_theta, v_phi, 1, hp)


def test_adamw_step_by_hand() -> None:
    s = hand_step("adamw")
    assert (s["step_t"], s["bc1"], s["bc2"]) == (2, pytest.approx(0.75, rel=1e-15), pytest.approx(0.64, rel=1e-15))
    for k in HAND:
        name = f"theta_next.{k}" if k in THETA else f"phi_next.{k}"
        assert s[name].shape == SHAPES[k] and s[f"delta.{k}"].shape == SHAPES[k]
        assert one(s[f"g_clip.{k}"]) == pytest.approx(G_CLIP[k], rel=1e-15)
        assert one(s[f"m_next.{k}"]) == pytest.approx(ADAMW_M[k], rel=1e-15, abs=1e-16)
        assert one(s[f"v_next.{k}"]) == pytest.approx(ADAMW_V[k], rel=1e-15, abs=1e-16)
        assert one(s[name]) == pytest.approx(ADAMW_NEXT[k], rel=1e-14, abs=1e-16), k
        assert one(s[f"delta.{k}"]) == pytest.approx(ADAMW_NEXT[k] - HAND[k][0], rel=1e-13, abs=1e-15), k


def test_sgd_step_by_hand() -> None:
    s = hand_step("sgd")
    for k in HAND:
        name = f"theta_next.{k}" if k in THETA else f"phi_next.{k}"
        assert one(s[name]) == pytest.approx(SGD_NEXT[k], rel=1e-15, abs=1e-16), k
        assert one(s[f"m_next.{k}"]) == HAND[k][1] and one(s[f"v_next.{k}"]) == HAND[k][2]  # no momentum: state kept


def test_adamw_first_step_moves_by_lr_sign() -> None:
    """opt_step 0 from m = v = 0, no decay, eps 1e-8: m̂ = g, √v̂ = |g|, so θ' = θ - lr·g/(|g| + 1e-8) ≈ θ - lr·sign(g).
    With the table's θ and g_clip, lr = 0.1: W_xh 2 - 0.1 = 1.9, W_hh 0.5 + 0.1 = 0.6, w_v 4 + 0.1 = 4.1, b_v -0.5 - 0.1 = -0.6;
    zero gradients stay put."""
    theta, phi = weights({k: np.full(SHAPES[k], HAND[k][0]) for k in HAND})
    zero_t, zero_p = weights({k: np.zeros(SHAPES[k]) for k in HAND})
    grads = {f"grad.{k}": np.full(SHAPES[k], HAND[k][3]) for k in HAND} | COEFS
    s = step(theta, phi, grads, zero_t, zero_p, zero_t, zero_p, 0, hp_with(optimizer="adamw", lr=0.1, weight_decay=0.0, adam_eps=1e-8))
    expected = {"W_xh": 1.9, "b_h": -1.0, "W_hh": 0.6, "W_hy": 1.0, "b_y": 0.0, "w_v": 4.1, "b_v": -0.6}
    for k, e in expected.items():
        assert one(s[f"theta_next.{k}" if k in THETA else f"phi_next.{k}"]) == pytest.approx(e, abs=1e-8)


def test_clip_then_step_end_to_end() -> None:
    """Backward's coefficients feed Step: SGD, lr 1, no decay, so delta = -coef·grad. GRADS, detached, max norm 6:
    θ untouched (5 < 6), φ scaled by 6/12.000001."""
    hp = hp_with(optimizer="sgd", lr=1.0, weight_decay=0.0, value_trunk="detached", max_grad_norm=6.0)
    zeros = {k: np.zeros_like(GRADS[f"grad.{k}"]) for k in (*THETA, *PHI)}
    theta, phi = weights(zeros)
    s = step(theta, phi, GRADS | clip_coefs(GRADS, hp), theta, phi, theta, phi, 0, hp)
    for k in THETA:
        np.testing.assert_array_equal(s[f"delta.{k}"], -GRADS[f"grad.{k}"])
    for k in PHI:
        np.testing.assert_allclose(s[f"delta.{k}"], -GRADS[f"grad.{k}"] * 6 / 12.000001, rtol=1e-15)


# --- 3. the first minibatch: θ = θ_old ----------------------------------------------------------------------------------

@pytest.mark.parametrize("loss_agg", ["token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm"])
@pytest.mark.parametrize("preset, kl_placement, kl_loss_estimator, dual_clip, logratio_clamp", [
    ("small", "reward", "k3", 0.0, 0.0), ("medium", "loss", "k2", 3.0, 0.05), ("medium", "both", "k1", 3.0, 20.0)])
def test_theta_old_is_the_plain_policy_gradient(preset: str, loss_agg: str, kl_placement: str, kl_loss_estimator: str,
                                                dual_clip: float, logratio_clamp: float) -> None:
    case = Case(preset, theta_init="old", loss_agg=loss_agg, kl_placement=kl_placement, kl_loss_estimator=kl_loss_estimator,
                dual_clip=dual_clip, logratio_clamp=logratio_clamp, kl_loss_coef=0.5)
    f = case.forward(case.theta, case.phi)
    bw = case.backward(f)
    mask, adv, w = case["Rollout", "mask"], case["GAE", "adv_whitened"], f["Clip"]["agg_w"]
    np.testing.assert_array_equal(f["Ratio"]["ratio"], 1.0)
    assert not f["Clip"]["pg_clipped"].any() and not f["Clip"]["pg_clipped_lower"].any() and not f["Value Loss"]["vf_clipped"].any()
    assert not bw["no_grad"].any()
    np.testing.assert_array_equal(bw["dratio_dlogp"], mask)
    d = f["Ratio"]["logp_new"] - case["KL", "logp_ref"]  # θ = θ_old, so this is the KL sheet's d: ∂k/∂ℓ written out
    dk = {"k1": np.ones_like(d), "k2": d, "k3": 1.0 - np.exp(-d)}[kl_loss_estimator]
    expected = -w * adv * mask + case["Config", "kl_in_loss"] * 0.5 * w * dk * mask
    np.testing.assert_allclose(bw["g_logp"], expected, rtol=1e-14, atol=1e-17)


def test_policy_and_value_gradients_match_the_variants() -> None:
    """Token-mean, symmetric clip, no dual clip or clamp, no KL loss: g_logp and g_values are the analytic gradients the
    property tests already hold against finite differences (reference.variants), at the given θ where clipping binds."""
    for preset in ("small", "medium"):
        case = Case(preset, kl_placement="reward", update_scale=1.0)
        f = case.forward(case.theta, case.phi)
        bw = case.backward(f)
        mask = case["Rollout", "mask"]
        assert f["Clip"]["pg_clipped"].any()
        np.testing.assert_allclose(bw["g_logp"], pg_loss_grad_logp(case["GAE", "adv_whitened"], f["Ratio"]["ratio"], mask, case.hp.eps),
                                   rtol=1e-14, atol=1e-17)
        dvf = vf_loss_grad_values(f["Value Loss"]["values_new"], case["Rollout", "values_old"], case["GAE", "returns"], mask, case.hp.eps_v)
        np.testing.assert_allclose(bw["g_values"], case.hp.vf_coef * dvf, rtol=1e-14, atol=1e-17)


# --- 4. After Step --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("trunk", ["shared", "detached"])
def test_after_step_at_the_same_weights_is_the_forward_pass(trunk: str) -> None:
    """θ itself fed as θ' (and zero deltas): every _next quantity is its forward-pass twin and d_total_loss = 0."""
    case = Case("medium", value_trunk=trunk, ent_coef=0.01, kl_placement="both")
    f = case.forward(case.theta, case.phi)
    bw = case.backward(f)
    same = {f"theta_next.{k}": getattr(case.theta, k) for k in THETA} | {"phi_next.w_v": case.phi.w_v, "phi_next.b_v": case.phi.b_v}
    deltas = {f"delta.{k}": np.zeros_like(bw[f"grad.{k}"]) for k in (*THETA, *PHI)}
    a = case.after_step(f, bw, same | deltas)
    for k in ("x", "h", "logits", "zmax", "exp", "sumexp", "lse", "p"):
        np.testing.assert_array_equal(a[k], f["Ratio"][k])
    pairs = {"logp_next": f["Ratio"]["logp_new"], "token_entropy_next": f["Ratio"]["token_entropy"], "ratio_next": f["Ratio"]["ratio"],
             "pg_losses_next": f["Clip"]["pg_losses"], "pg_loss_next": f["Clip"]["pg_loss"], "values_next": f["Value Loss"]["values_new"],
             "vf_loss_next": f["Value Loss"]["vf_loss"], "entropy_next": f["Total"]["entropy"], "kl_loss_next": f["Total"]["kl_loss"],
             "total_loss_next": f["Total"]["total_loss"]}
    for k, v in pairs.items():
        np.testing.assert_allclose(a[k], v, rtol=1e-15, atol=1e-16, err_msg=k)
    assert a["d_total_loss"] == pytest.approx(0.0, abs=1e-15) and a["d_total_loss_pred"] == 0.0


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
@pytest.mark.parametrize("preset, trunk", [("small", "shared"), ("medium", "shared"), ("medium", "detached")])
def test_first_order_prediction(preset: str, trunk: str, optimizer: str) -> None:
    """lr = 1e-5: total_loss_next - total_loss = Σ grad·delta + O(lr²) (docs/update_math.md's first-order check)."""
    case = Case(preset, value_trunk=trunk, optimizer=optimizer, lr=1e-5, weight_decay=0.01, ent_coef=0.01, kl_placement="both")
    f = case.forward(case.theta, case.phi)
    bw = case.backward(f)
    a = case.after_step(f, bw, case.step(bw))
    assert a["d_total_loss_pred"] < 0  # a descent step
    assert a["d_total_loss"] == pytest.approx(a["d_total_loss_pred"], rel=1e-3)


# --- the contract: keys exactly as the spec names them --------------------------------------------------------------------

def test_keys_and_shapes() -> None:
    case = Case("medium")
    B, T, V, H, N = 4, 8, 8, 5, 10
    f = case.forward(case.theta, case.phi)
    bw = case.backward(f)
    st_ = case.step(bw)
    a = case.after_step(f, bw, st_)
    ps = (*THETA, *PHI)
    assert list(bw) == ["no_grad", "dpg_dratio", "dratio_dlogp", "dkl_dlogp", "g_logp", "v_id", "W_hy_T", "W_hh_T", "x", "h", "g_logits",
                        "g_values", "dh", "da", *(f"grad.{k}" for k in ps), "grad_norm_theta", "grad_norm_phi", "grad_norm",
                        "grad_clip_coef", "grad_clip_coef_phi"]
    assert set(st_) == {"step_t", "bc1", "bc2", *(f"{kind}.{k}" for kind in ("g_clip", "m_next", "v_next", "delta") for k in ps),
                        *(f"theta_next.{k}" for k in THETA), "phi_next.w_v", "phi_next.b_v"}
    assert set(a) == {"x", "h", "logits", "zmax", "exp", "sumexp", "lse", "p", "logp_next", "token_entropy_next", "logratio_next",
                      "ratio_next", "pg_losses_next", "pg_clipped_next", "pg_clipfrac_next", "pg_next_seq_sum",
                      "pg_next_seq_mean", "pg_loss_next", "values_next", "vf_losses_next", "vf_next_seq_sum", "vf_next_seq_mean",
                      "vf_loss_next", "entropy_next_seq_sum", "entropy_next_seq_mean", "entropy_next", "kl_loss_token_next",
                      "kl_next_seq_sum", "kl_next_seq_mean", "kl_loss_next", "total_loss_next", "d_total_loss", "d_total_loss_pred"}
    shapes = {"no_grad": (B, T), "g_logp": (B, T), "W_hy_T": (H, V), "W_hh_T": (H, H), "x": (B, N), "h": (B, N, H),
              "g_logits": (B, T, V), "g_values": (B, T), "dh": (B, N, H), "da": (B, N, H), "grad.W_xh": (H, V), "grad.b_h": (H,),
              "grad.W_hh": (H, H), "grad.W_hy": (V, H), "grad.b_y": (V,), "grad.w_v": (H,), "grad.b_v": (), "grad_norm": (),
              "grad_clip_coef": (), "grad_clip_coef_phi": ()}
    assert {k: np.shape(bw[k]) for k in shapes} == shapes
    assert {k: np.shape(st_[k]) for k in ("step_t", "bc1", "bc2", "theta_next.W_hy", "phi_next.b_v", "delta.b_v", "m_next.w_v")} == {
        "step_t": (), "bc1": (), "bc2": (), "theta_next.W_hy": (V, H), "phi_next.b_v": (), "delta.b_v": (), "m_next.w_v": (H,)}
    assert all(np.shape(a[k]) == () for k in ("pg_loss_next", "vf_loss_next", "entropy_next", "kl_loss_next", "total_loss_next",
                                              "d_total_loss", "d_total_loss_pred", "pg_clipfrac_next"))
    assert np.shape(a["values_next"]) == (B, T)
