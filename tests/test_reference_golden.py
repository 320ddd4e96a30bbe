"""The NumPy reference reproduces every number of the golden worked case (docs/ppo_math.md §13).

The golden file is the project's own test data, `tests/data/ppo_golden.json` (where its numbers
come from: `tests/data/README.md`). Each golden number is its own test id:
`case_a::logp_old[1]`, `agg_demo::token-mean (...)`, ... Every key of every checked section
must have a computation here, so a number added to the golden file cannot go unchecked.

The computations call the reference only: golden logits go through `softmax_parts` / `token_logprob`,
the stages that start with a model take over from the golden log-probs and values (`kl.shaped_rewards`,
`ratio.importance_ratio`, `value_loss.clipped_value_loss`), `gae`, `clip` and `total` run whole, and
other frameworks' formulas come from `reference.variants`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import cache
from typing import Any

import numpy as np
import pytest
from conftest import GOLDEN_CASE

from blueprint.config import Hyper, hyper, load_config
from reference._common import aggregate
from reference.clip import clip
from reference.gae import gae
from reference.kl import shaped_rewards
from reference.ratio import importance_ratio
from reference.reward import last_token
from reference.rnn import entropy, softmax_parts, token_logprob
from reference.total import adaptive_kl, total
from reference.value_loss import clipped_value_loss
from reference.variants import (
    approx_kl_k3,
    explained_variance,
    kl_abs,
    kl_full,
    log_softmax,
    pg_loss_grad_logp,
    score_after_eos,
    vf_loss_grad_values,
    whiten_openrlhf,
    whiten_verl,
)

TOL = 1e-6
SECTIONS = ("case_a", "case_a_variants", "case_b_lam095", "case_b_lam1", "dual_clip_demo", "agg_demo", "kl_controller_demo")
GOLDEN = GOLDEN_CASE
# The golden case follows TRL: k1 in the reward and not in the loss, unbiased whitening with 1e-8 inside the square
# root, no reward whitening, no log-ratio clamp, symmetric clip without dual clip, token-mean, no entropy bonus.
GOLDEN_SWITCHES = dict(kl_estimator="k1", reward_whiten="off", adv_whiten="unbiased", whiten_eps=1e-8, logratio_clamp=0.0,
                       dual_clip=0.0, loss_agg="token-mean", ent_coef=0.0, kl_loss_coef=0.0)


def golden_hyper(**values: Any) -> Hyper:
    """The golden case's hyperparameters; those it does not exercise are the small preset's."""
    return replace(hyper(load_config("small")), **{**GOLDEN_SWITCHES, **values})


# --------------------------------------------------------------------------------------------
# Case A: one sequence, T = 3, no padding, score on the last (EOS) token
# --------------------------------------------------------------------------------------------


def _logps(z: np.ndarray, y: np.ndarray, tau: float) -> tuple[dict[str, np.ndarray], np.ndarray]:
    parts = softmax_parts(z, tau)
    return parts, token_logprob(z, parts["lse"], y, tau)


@cache
def case_a(**changes: Any) -> dict[str, Any]:
    """Case A through every stage with the reference functions (hyperparameters changed by `changes`); all intermediates."""
    inp = GOLDEN["case_a_inputs"]
    hp = golden_hyper(**{"tau": inp["temperature"], "beta": inp["kl_coef"], "gamma": inp["gamma"], "lam": inp["lam"], "eps": inp["cliprange"],
                         "eps_high": inp["cliprange"], "eps_v": inp["cliprange_value"], "vf_coef": inp["vf_coef"], **changes})
    tau = hp.tau
    y = np.array([inp["response"]])  # (1, T)
    z_old, z_ref, z_new = (np.array([inp[k]]) for k in ("logits_old", "logits_ref", "logits_new"))
    mask = np.ones(y.shape)
    score = np.array([inp["score"]])
    v_old, v_new = np.array([inp["values_old"]]), np.array([inp["values_new"]])

    parts_old, logp_old = _logps(z_old, y, tau)
    _, logp_ref = _logps(z_ref, y, tau)
    parts_new, logp_new = _logps(z_new, y, tau)
    kd = shaped_rewards(logp_old, logp_ref, mask, score, last_token(mask), 1.0, hp)
    ga = gae(kd["rewards"], v_old, mask, hp)
    ra = importance_ratio(logp_new, logp_old, mask, hp)
    cl = clip(ga["adv_whitened"], ra["ratio"], mask, hp)
    vl = clipped_value_loss(v_new, v_old, ga["returns"], mask, hp)
    ent = entropy(z_new, parts_new["p"], parts_new["lse"], tau)
    to = total(ent, logp_new, logp_ref, kd["kl_token"], kd["non_score_reward"], mask, mask.sum(axis=1), score, cl["pg_loss"], vl["vf_loss"],
               0.0, hp)
    return dict(
        hp=hp, tau=tau, y=y, z_old=z_old, z_ref=z_ref, z_new=z_new, mask=mask, score=score, v_old=v_old, v_new=v_new,
        parts_old=parts_old, parts_new=parts_new, logp_old=logp_old, logp_ref=logp_ref, logp_new=logp_new,
        kd=kd, ga=ga, ra=ra, cl=cl, vl=vl, ent=ent, to=to,
    )


def _grad_logits(c: dict[str, Any], inp: dict[str, Any]) -> np.ndarray:
    """dL/dz[t, v] = dL/dℓ_t · (1[v = y_t] - p_t[v]) / τ, flattened row-major like the golden list."""
    g = pg_loss_grad_logp(c["ga"]["adv_whitened"], c["ra"]["ratio"], c["mask"], inp["cliprange"])
    p = c["parts_new"]["p"]
    onehot = np.eye(p.shape[-1])[c["y"]]
    return (g[..., None] * (onehot - p) / c["tau"]).ravel()


def _case_a_map() -> dict[str, Callable[[], Any]]:
    inp = lambda: GOLDEN["case_a_inputs"]  # noqa: E731
    c = case_a
    n = lambda: c()["mask"].sum()  # noqa: E731
    return {
        "p_old(y_t)": lambda: np.take_along_axis(c()["parts_old"]["p"], c()["y"][..., None], axis=-1)[..., 0],
        "logp_old": lambda: c()["logp_old"],
        "logp_ref": lambda: c()["logp_ref"],
        "logp_new": lambda: c()["logp_new"],
        "kl_k1(old||ref)": lambda: c()["kd"]["k1"],
        "kl_k2(old||ref)": lambda: c()["kd"]["k2"],
        "kl_k3(old||ref)": lambda: c()["kd"]["k3"],
        "kl_abs(old||ref)": lambda: kl_abs(c()["logp_old"], c()["logp_ref"]),
        "kl_full(old||ref)": lambda: kl_full(log_softmax(c()["z_old"], c()["tau"]), log_softmax(c()["z_ref"], c()["tau"])),
        "kl_used": lambda: c()["kd"]["kl_token"],
        "non_score_reward": lambda: c()["kd"]["non_score_reward"],
        "rewards": lambda: c()["kd"]["rewards"],
        "deltas": lambda: c()["ga"]["delta"],
        "advantages_raw": lambda: c()["ga"]["advantages"],
        "returns": lambda: c()["ga"]["returns"],
        "adv_mean": lambda: c()["ga"]["adv_mean"],
        "adv_var_unbiased": lambda: c()["ga"]["adv_var"],
        "advantages_whitened": lambda: c()["ga"]["adv_whitened"],
        "logratio(new-old)": lambda: c()["ra"]["logratio"],
        "ratio": lambda: c()["ra"]["ratio"],
        "pg_losses(-A*r)": lambda: c()["cl"]["pg_losses1"],
        "pg_losses2(-A*clip(r))": lambda: c()["cl"]["pg_losses2"],
        "pg_loss_max": lambda: c()["cl"]["pg_losses"],
        "pg_clipped?(l2>l1)": lambda: c()["cl"]["pg_clipped"],
        "pg_loss": lambda: c()["cl"]["pg_loss"],
        "pg_clipfrac": lambda: c()["cl"]["pg_clipfrac"],
        "vpred": lambda: c()["v_new"],  # fed directly: the golden case has no critic weights
        "vpred_clipped": lambda: c()["vl"]["values_clipped"],
        "vf_losses1(V-R)^2": lambda: c()["vl"]["vf_losses1"],
        "vf_losses2(Vclip-R)^2": lambda: c()["vl"]["vf_losses2"],
        "vf_loss_max": lambda: c()["vl"]["vf_losses"],
        "vf_loss": lambda: c()["vl"]["vf_loss"],
        "vf_clipfrac": lambda: c()["vl"]["vf_clipfrac"],
        "loss_total(pg+vf_coef*vf)": lambda: c()["to"]["total_loss"],
        "dLpg/dlogp_new = -A*r*[l1>=l2]/N": lambda: pg_loss_grad_logp(c()["ga"]["adv_whitened"], c()["ra"]["ratio"], c()["mask"], inp()["cliprange"]),
        "dLpg/dlogits_new[t,v] = dLpg/dlogp_t * (1[v=y_t]-p_v)/tau": lambda: _grad_logits(c(), inp()),
        "dLvf/dvpred = (V-R)*[l1>=l2]/N": lambda: vf_loss_grad_values(c()["v_new"], c()["v_old"], c()["ga"]["returns"], c()["mask"], inp()["cliprange_value"]),
        "dLtotal/dvpred = vf_coef*dLvf/dvpred": lambda: inp()["vf_coef"]
        * vf_loss_grad_values(c()["v_new"], c()["v_old"], c()["ga"]["returns"], c()["mask"], inp()["cliprange_value"]),
        "entropy_new_per_token": lambda: c()["ent"],
        "entropy_new_mean": lambda: c()["to"]["entropy"],
        "approxkl_trl(0.5*mean(d^2))": lambda: c()["ra"]["approx_kl"],
        "policykl_trl_legacy(mean(old-new))": lambda: c()["ra"]["ppo_kl"],
        "ppo_kl_verl_openrlhf(mean(old-new))": lambda: c()["ra"]["ppo_kl"],
        "approx_kl_cleanrl_k3(mean((r-1)-log r))": lambda: approx_kl_k3(c()["ra"]["logratio"], c()["mask"]),
        # CleanRL counts clipped ratios (|ρ-1| > ε) whichever branch the max picks; no reference function.
        "clipfrac_cleanrl(|r-1|>eps)": lambda: ((np.abs(c()["ra"]["ratio"] - 1.0) > inp()["cliprange"]) * c()["mask"]).sum() / n(),
        "objective/kl_trl(sum_t kl)": lambda: c()["to"]["kl_sum"],
        "objective/non_score_reward(sum_t)": lambda: c()["to"]["non_score_sum"],
        "objective/rlhf_reward(score+sum nsr)": lambda: c()["to"]["rlhf_reward"],
        "ev_trl_legacy(1-mean((vpred-R)^2)/var_unbiased(R))": lambda: explained_variance(c()["ga"]["returns"], c()["v_new"], c()["mask"], "trl_legacy"),
        "ev_verl(1-var_unb(R-Vold)/(var_unb(R)+1e-5))": lambda: explained_variance(c()["ga"]["returns"], c()["v_old"], c()["mask"], "verl"),
        "ev_cleanrl(1-var(R-Vold)/var(R))": lambda: explained_variance(c()["ga"]["returns"], c()["v_old"], c()["mask"], "cleanrl"),
        "kl_loss_k3(new||ref)_token_mean": lambda: case_a(kl_loss_estimator="k3")["to"]["kl_loss"],
        "kl_loss_k1(new||ref)_token_mean": lambda: case_a(kl_loss_estimator="k1")["to"]["kl_loss"],
    }


# --------------------------------------------------------------------------------------------
# Case A variants: other frameworks' whitening, k3 in the reward, λ = 1
# --------------------------------------------------------------------------------------------


def _variants_map() -> dict[str, Callable[[], Any]]:
    c = case_a
    A = lambda: c()["ga"]["advantages"]  # noqa: E731
    m = lambda: c()["mask"]  # noqa: E731
    return {
        "adv_whitened_openrlhf(biased var, clamp)": lambda: whiten_openrlhf(A(), m()),
        "adv_whitened_openai(biased var, +1e-8)": lambda: case_a(adv_whiten="population")["ga"]["adv_whitened"],
        "adv_whitened_verl(unbiased, denom+1e-8)": lambda: whiten_verl(A(), m()),
        "pg_loss_with_openrlhf_whitening": lambda: clip(whiten_openrlhf(A(), m()), c()["ra"]["ratio"], m(), c()["hp"])["pg_loss"],
        "rewards_k3": lambda: case_a(kl_estimator="k3")["kd"]["rewards"],
        "advantages_raw_k3": lambda: case_a(kl_estimator="k3")["ga"]["advantages"],
        "pg_loss_k3": lambda: case_a(kl_estimator="k3")["cl"]["pg_loss"],
        "loss_total_k3": lambda: case_a(kl_estimator="k3")["to"]["total_loss"],
        "advantages_raw_lambda1": lambda: case_a(lam=1.0)["ga"]["advantages"],
        "returns_lambda1(=reward-to-go)": lambda: case_a(lam=1.0)["ga"]["returns"],
    }


# --------------------------------------------------------------------------------------------
# Case B: T = 4, response [tok, EOS, PAD, PAD]; TRL-new's score slot e+1 vs the EOS slot
# --------------------------------------------------------------------------------------------

CASE_B_MASK = np.array([[1.0, 1.0, 0.0, 0.0]])


@cache
def case_b(lam: float) -> dict[str, Any]:
    inp = GOLDEN["case_b_inputs"]
    mask = CASE_B_MASK
    T = mask.shape[1]
    pad = lambda xs: np.array([list(xs) + [0.0] * (T - len(xs))])  # noqa: E731
    logp_old, logp_ref = pad(inp["logp_old"]), pad(inp["logp_ref"])
    v_old = np.array([inp["values_old"]])
    score, gamma = np.array([inp["score"]]), inp["gamma"]
    hp = golden_hyper(beta=inp["kl_coef"], gamma=gamma, lam=lam)

    at_trl = score_after_eos(mask)
    mask_p1 = np.maximum(mask, at_trl)  # TRL-new's value mask: t <= e+1
    trl_r = shaped_rewards(logp_old, logp_ref, mask, score, at_trl, 1.0, hp)["rewards"]  # k = 0 after EOS (TRL's INVALID_LOGPROB)
    trl = gae(trl_r, v_old, mask_p1, hp)  # values V_old·mask_p1 (its whitening over mask_p1 is not looked at)
    trl_v = trl["values"]

    eos_r = shaped_rewards(logp_old, logp_ref, mask, score, last_token(mask), 1.0, hp)["rewards"]
    eos = gae(eos_r, v_old, mask, hp)
    eos_v = eos["values"]

    e = int(mask.sum()) - 1
    real, slots = mask[0] > 0, mask_p1[0] > 0
    return {
        "trl_rewards": trl_r[0],
        "trl_values": trl_v[0],
        "trl_adv_raw": trl["advantages"][0],
        "trl_adv_raw_on_policy_tokens": trl["advantages"][0][real],
        "trl_returns_value_slots": trl["returns"][0][slots],
        "eos_rewards": eos_r[0],
        "eos_values": eos_v[0],
        "eos_adv_raw_on_policy_tokens": eos["advantages"][0][real],
        "eos_returns": eos["returns"][0][real],
        "difference_on_EOS_token(trl-eos)": trl["advantages"][0, e] - eos["advantages"][0, e],
        "predicted_difference(g*(1-lam)*V_pad-(1-g*lam)*score)": gamma * (1 - lam) * v_old[0, e + 1] - (1 - gamma * lam) * score[0],
    }


def _case_b_map(lam: float) -> dict[str, Callable[[], Any]]:
    keys = (
        "trl_rewards", "trl_values", "trl_adv_raw", "trl_adv_raw_on_policy_tokens", "trl_returns_value_slots",
        "eos_rewards", "eos_values", "eos_adv_raw_on_policy_tokens", "eos_returns",
        "difference_on_EOS_token(trl-eos)", "predicted_difference(g*(1-lam)*V_pad-(1-g*lam)*score)",
    )
    return {k: (lambda k=k: case_b(lam)[k]) for k in keys}


# --------------------------------------------------------------------------------------------
# Demos: dual clip / clip-higher, aggregation modes, adaptive KL controller
# --------------------------------------------------------------------------------------------


def _pg(adv: float, ratio: float, eps_low: float = 0.2, eps_high: float | None = None, dual: float = 0.0) -> float:
    hp = golden_hyper(eps=eps_low, eps_high=eps_low if eps_high is None else eps_high, dual_clip=dual)
    return float(clip(np.array([[adv]]), np.array([[ratio]]), np.ones((1, 1)), hp)["pg_losses"][0, 0])


DUAL_CLIP_MAP: dict[str, Callable[[], Any]] = {
    "A=-1, ratio=4.0: standard clip loss": lambda: _pg(-1.0, 4.0),
    "A=-1, ratio=4.0: dual-clip (c=3) loss": lambda: _pg(-1.0, 4.0, dual=3.0),
    "A=-1, ratio=1.25: clip eps=(0.2,0.2) loss": lambda: _pg(-1.0, 1.25, 0.2, 0.2),
    "A=-1, ratio=1.25: clip eps=(0.2,0.28) loss": lambda: _pg(-1.0, 1.25, 0.2, 0.28),
    "A=+1, ratio=4.0: standard clip loss": lambda: _pg(1.0, 4.0),
    "A=+1, ratio=4.0: dual-clip (c=3) loss": lambda: _pg(1.0, 4.0, dual=3.0),
    "A=+1, ratio=1.25: clip eps=(0.2,0.2) loss": lambda: _pg(1.0, 1.25, 0.2, 0.2),
    "A=+1, ratio=1.25: clip eps=(0.2,0.28) loss": lambda: _pg(1.0, 1.25, 0.2, 0.28),
}

AGG_LOSS = np.array([[1.0, 2.0, 3.0], [4.0, 9.0, 9.0]])
AGG_MASK = np.array([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])


def agg_hp(loss_agg: str, loss_scale_factor: float = 0.0) -> Hyper:
    return golden_hyper(loss_agg=loss_agg, loss_scale_factor=loss_scale_factor)


AGG_MAP: dict[str, Callable[[], Any]] = {
    "token-mean (TRL, verl default, OpenRLHF token_level_loss=True)": lambda: aggregate(AGG_LOSS, AGG_MASK, agg_hp("token-mean"))[2],
    "seq-mean-token-mean (OpenRLHF token_level_loss=False, GRPO-paper style)":
        lambda: aggregate(AGG_LOSS, AGG_MASK, agg_hp("seq-mean-token-mean"))[2],
    "seq-mean-token-sum (verl, Dr.GRPO style)": lambda: aggregate(AGG_LOSS, AGG_MASK, agg_hp("seq-mean-token-sum"))[2],
    "seq-mean-token-sum-norm (verl, loss_scale_factor=3)": lambda: aggregate(AGG_LOSS, AGG_MASK, agg_hp("seq-mean-token-sum-norm", 3.0))[2],
}

KL_CTL_MAP: dict[str, Callable[[], Any]] = {
    "beta_next(beta=0.05, kl=0.936, target=6, horizon=10000, n=1)": lambda: adaptive_kl(0.05, 0.936, 6.0, 10000.0, 1, 0.2),
    "beta_next(beta=0.15, kl=9.0, target=6, horizon=10000, n=512)": lambda: adaptive_kl(0.15, 9.0, 6.0, 10000.0, 512, 0.2),
}


COMPUTE: dict[str, dict[str, Callable[[], Any]]] = {
    "case_a": _case_a_map(),
    "case_a_variants": _variants_map(),
    "case_b_lam095": _case_b_map(0.95),
    "case_b_lam1": _case_b_map(1.0),
    "dual_clip_demo": DUAL_CLIP_MAP,
    "agg_demo": AGG_MAP,
    "kl_controller_demo": KL_CTL_MAP,
}


# --------------------------------------------------------------------------------------------
# Parametrisation: one test per golden number
# --------------------------------------------------------------------------------------------


def _params() -> list[Any]:
    out = []
    for section in SECTIONS:
        for key, val in GOLDEN.get(section, {}).items():
            if isinstance(val, list):
                out += [pytest.param(section, key, i, id=f"{section}::{key}[{i}]") for i in range(len(val))]
            else:
                out.append(pytest.param(section, key, None, id=f"{section}::{key}"))
    return out


@pytest.mark.parametrize(("section", "key", "index"), _params())
def test_golden_number(section: str | None, key: str | None, index: int | None) -> None:
    golden = GOLDEN
    assert section is not None and key is not None
    compute = COMPUTE[section].get(key)
    assert compute is not None, f"golden key {section}::{key} has no computation in this test: add one"
    expected = golden[section][key]
    got = np.asarray(compute(), dtype=float).ravel()
    if index is None:
        assert got.size == 1, f"{section}::{key}: expected a scalar, the reference gave shape {got.shape}"
        exp, val = float(expected), float(got[0])
    else:
        assert got.size == len(expected), f"{section}::{key}: golden has {len(expected)} numbers, the reference gave {got.size}"
        exp, val = float(expected[index]), float(got[index])
    assert abs(val - exp) <= TOL, f"{section}::{key}[{index}]: reference {val!r} vs golden {exp!r} (|Δ| = {abs(val - exp):.3g})"


@pytest.mark.parametrize("section", SECTIONS)
def test_golden_section_checked(section: str) -> None:
    """Every section exists and every computation here has a golden number (and vice versa, via the ids above)."""
    golden = GOLDEN
    assert section in golden, f"golden file lost section {section!r}"
    assert set(COMPUTE[section]) == set(golden[section]), (
        f"{section}: keys without golden {sorted(set(COMPUTE[section]) - set(golden[section]))}, "
        f"golden keys without computation {sorted(set(golden[section]) - set(COMPUTE[section]))}"
    )


def test_golden_inputs_match_stated_setup() -> None:
    """The setup the brief states (T = 3, all-ones mask, EOS last, τ = 1; Case B e = 1) is what the file holds."""
    golden = GOLDEN
    a = golden["case_a_inputs"]
    assert len(a["response"]) == 3 and a["response"][-1] == a["vocab"].index("<eos>")
    assert a["temperature"] == 1.0
    assert len(golden["case_b_inputs"]["logp_old"]) == int(CASE_B_MASK.sum()) == 2
    assert len(golden["case_b_inputs"]["values_old"]) == CASE_B_MASK.shape[1] == 4
