"""The whole RLHF-PPO iteration, stage by stage, keyed the way the workbook is laid out.

`run(inputs, hp)` returns `{(sheet, quantity): array}` — the keys the generator writes formulas
for and the verifier checks cells against. Every intermediate the workbook shows has a key here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reference.clip import clipped_surrogate
from reference.gae import gae, masked_whiten
from reference.kl import kl_estimators, shaped_rewards
from reference.ratio import log_ratio, policy_kl
from reference.reward import reward
from reference.rnn import RNNWeights, ValueHead, entropy, teacher_forced, value
from reference.rollout import rollout
from reference.total import masked_mean, reward_objectives, total_loss
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
    missing_eos_penalty: float
    kl_estimator: str
    beta: float
    gamma: float
    lam: float
    whiten_eps: float
    eps: float
    eps_v: float
    vf_coef: float
    ent_coef: float


def run(inputs: Inputs, hp: Hyper) -> Quantities:
    """Rollout → Reward → KL → GAE → Ratio → Clip → Value Loss → Total."""
    q: Quantities = {}

    def put(sheet: str, values: dict[str, np.ndarray]) -> None:
        q.update({(sheet, k): np.asarray(v) for k, v in values.items()})

    ro = rollout(inputs.old, inputs.value_old, inputs.prompts, inputs.draws, hp.tau, hp.eos_id)
    put("Rollout", ro)
    tokens, mask = ro["tokens"], ro["mask"]

    rw = reward(inputs.rm, inputs.prompts, tokens, ro["is_eos"], mask, hp.missing_eos_penalty)
    put("Reward", rw)

    ref = teacher_forced(inputs.ref, inputs.prompts, tokens, hp.tau)
    ks = kl_estimators(ro["logp_old"], ref["logp"])
    kl_token = ks[hp.kl_estimator] * mask
    put("KL", {**_unroll(ref), "logp_ref": ref["logp"], **ks, "kl_token": kl_token,
               **shaped_rewards(rw["score"], kl_token, hp.beta, rw["is_last"])})

    values = ro["values_old"] * mask
    adv = gae(q["KL", "rewards"], values, hp.gamma, hp.lam)
    put("GAE", {"values": values, **adv, **masked_whiten(adv["advantages"], mask, eps=hp.whiten_eps)})

    new = teacher_forced(inputs.new, inputs.prompts, tokens, hp.tau)
    lr = log_ratio(new["logp"], ro["logp_old"], mask)
    put("Ratio", {**_unroll(new), "p": new["p"], "logp_new": new["logp"],
                  "token_entropy": entropy(new["logits"], new["p"], new["lse"], hp.tau), **lr, **policy_kl(lr["logratio"], mask)})

    put("Clip", clipped_surrogate(q["GAE", "adv_whitened"], lr["ratio"], mask, hp.eps))

    P = inputs.prompts.shape[1]
    values_new = value(inputs.value_new, new["h"][:, P - 1 :])
    put("Value Loss", clipped_value_loss(values_new, ro["values_old"], q["GAE", "returns"], mask, hp.eps_v))

    ent = masked_mean(q["Ratio", "token_entropy"], mask)
    put("Total", {
        "entropy": ent,
        "total_loss": total_loss(q["Clip", "pg_loss"], q["Value Loss", "vf_loss"], ent, hp.vf_coef, hp.ent_coef),
        **reward_objectives(rw["score"], kl_token, q["KL", "non_score_reward"]),
    })
    return q


def _unroll(tf: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The teacher-forced RNN's cells that a sheet shows."""
    return {k: tf[k] for k in ("x", "h", "logits", "zmax", "exp", "sumexp", "lse")}
