"""The whole RLHF-PPO iteration, stage by stage, keyed the way the workbook is laid out.

`run(inputs, hp)` returns `{(sheet, quantity): array}` — the keys the generator writes formulas
for and the verifier checks cells against. Every intermediate the workbook shows has a key here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reference.checks import loss_parts, softmax_check, whitening_checks
from reference.clip import agg_parts, clipped_surrogate
from reference.gae import gae, sign_flips, whiten_advantages
from reference.kl import kl_estimators, placement, shaped_rewards, whiten_rewards
from reference.ratio import log_ratio, policy_kl
from reference.reward import reward
from reference.rnn import RNNWeights, ValueHead, entropy, teacher_forced, value
from reference.rollout import rollout
from reference.total import kl_controller, split_losses, kl_loss, reward_objectives, total_loss
from reference.value_loss import clipped_value_loss

Quantities = dict[tuple[str, str], np.ndarray]


@dataclass(frozen=True)
class Inputs:
    """Every constant of the workbook that is not a hyperparameter."""

    ref: RNNWeights  # θ_ref, the frozen SFT model
    old: RNNWeights  # θ_old, the policy that sampled the batch
    new: RNNWeights  # θ, the policy after a (simulated) PPO update
    rm: RNNWeights  # reward model (K = 1: a scalar score head)
    value_old: ValueHead  # φ_old, the critic at rollout time
    value_new: ValueHead  # φ, the critic after the update
    prompts: np.ndarray  # (B, P) token ids
    draws: np.ndarray  # (B, T) uniform draws for inverse-CDF sampling


@dataclass(frozen=True)
class Hyper:
    """The hyperparameters the formulas read (a view of Config, so the reference needs no blueprint import)."""

    tau: float
    eos_id: int
    eos_handling: str
    missing_eos_penalty: float
    missing_eos_score: float
    kl_placement: str
    kl_estimator: str
    beta: float
    kl_loss_estimator: str
    kl_loss_coef: float
    reward_whiten: str
    gamma: float
    lam: float
    adv_whiten: str
    whiten_eps: float
    logratio_clamp: float
    eps: float
    eps_high: float
    dual_clip: float
    eps_v: float
    loss_agg: str
    vf_coef: float
    ent_coef: float
    kl_ctl: str
    kl_ctl_input: str
    kl_target: float
    kl_horizon: float
    kl_ctl_clip: float
    check_tol: float


def run(inputs: Inputs, hp: Hyper) -> Quantities:
    """Rollout → Reward → KL → GAE → Ratio → Clip → Value Loss → Total."""
    q: Quantities = {}

    def put(sheet: str, values: dict[str, np.ndarray]) -> None:
        q.update({(sheet, k): np.asarray(v) for k, v in values.items()})

    ro = rollout(inputs.old, inputs.value_old, inputs.prompts, inputs.draws, hp.tau, hp.eos_id)
    put("Rollout", {**ro, "p_check": softmax_check(ro["p"], hp.check_tol)})
    tokens, mask = ro["tokens"], ro["mask"]

    rw = reward(inputs.rm, inputs.prompts, tokens, ro["is_eos"], mask, hp.eos_handling, hp.missing_eos_penalty, hp.missing_eos_score)
    put("Reward", rw)

    in_reward, in_loss = placement(hp.kl_placement)
    put("Config", {"kl_in_reward": np.array(in_reward), "kl_in_loss": np.array(in_loss)})
    ref = teacher_forced(inputs.ref, inputs.prompts, tokens, hp.tau)
    ks = kl_estimators(ro["logp_old"], ref["logp"])
    kl_token = ks[hp.kl_estimator] * mask
    shaped = shaped_rewards(rw["score"], kl_token, hp.beta, rw["is_last"], in_reward)
    put("KL", {**_unroll(ref), "logp_ref": ref["logp"], **ks, "kl_token": kl_token, "non_score_reward": shaped["non_score_reward"],
               "rewards_raw": shaped["rewards"], **whiten_rewards(shaped["rewards"], mask, hp.whiten_eps, hp.reward_whiten == "on")})

    values = ro["values_old"] * mask
    adv = gae(q["KL", "rewards"], values, hp.gamma, hp.lam)
    put("GAE", {"values": values, **adv, **whiten_advantages(adv["advantages"], mask, hp.adv_whiten, hp.whiten_eps)})
    put("GAE", sign_flips(adv["advantages"], q["GAE", "adv_whitened"], mask))
    put("GAE", whitening_checks(q["GAE", "adv_whitened"], mask, hp.adv_whiten, hp.check_tol))

    new = teacher_forced(inputs.new, inputs.prompts, tokens, hp.tau)
    lr = log_ratio(new["logp"], ro["logp_old"], mask, hp.logratio_clamp)
    put("Ratio", {**_unroll(new), "p": new["p"], "logp_new": new["logp"],
                  "token_entropy": entropy(new["logits"], new["p"], new["lse"], hp.tau), **lr, **policy_kl(lr["logratio"], mask),
                  "p_check": softmax_check(new["p"], hp.check_tol)})

    put("Clip", clipped_surrogate(q["GAE", "adv_whitened"], lr["ratio"], mask, hp.eps, hp.eps_high, hp.dual_clip, hp.loss_agg))
    T = tokens.shape[1]
    put("Clip", {"band_low": np.full((1, T), 1.0 - hp.eps), "band_high": np.full((1, T), 1.0 + hp.eps_high)})

    P = inputs.prompts.shape[1]
    values_new = value(inputs.value_new, new["h"][:, P - 1 :])
    put("Value Loss", clipped_value_loss(values_new, ro["values_old"], q["GAE", "returns"], mask, hp.eps_v, hp.loss_agg))

    ent = agg_parts("entropy", q["Ratio", "token_entropy"], mask, hp.loss_agg)
    kl = kl_loss(new["logp"], ref["logp"], mask, hp.kl_loss_estimator, hp.loss_agg)
    objectives = reward_objectives(rw["score"], kl_token, q["KL", "non_score_reward"])
    put("Total", {
        **kl,
        "entropy_seq_sum": ent["entropy_seq_sum"], "entropy_seq_mean": ent["entropy_seq_mean"], "entropy": ent["entropy_loss"],
        **split_losses(q["Clip", "pg_loss"], q["Value Loss", "vf_loss"], ent["entropy_loss"], hp.vf_coef, hp.ent_coef,
                       kl["kl_loss"], in_loss, hp.kl_loss_coef),
        **objectives,
        **kl_controller(hp.beta, kl_token, rw["n_real"], hp.kl_ctl, hp.kl_ctl_input, hp.kl_target, hp.kl_horizon, hp.kl_ctl_clip),
    })
    put("Total", loss_parts(q["Clip", "pg_loss"], q["Value Loss", "vf_loss"], ent["entropy_loss"], kl["kl_loss"], q["Total", "total_loss"],
                            hp.vf_coef, hp.ent_coef, in_loss, hp.kl_loss_coef, hp.check_tol))
    return q


def _unroll(tf: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The teacher-forced RNN's cells that a sheet shows."""
    return {k: tf[k] for k in ("x", "h", "logits", "zmax", "exp", "sumexp", "lse")}
