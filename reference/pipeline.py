"""The whole RLHF-PPO iteration: the stages wired together, keyed the way the workbook is laid out.

`run(inputs, hp)` returns `{(sheet, quantity): array}` — the keys the generator writes formulas
for and the verifier checks cells against. Each stage returns exactly its sheet's quantities; this
module only says which sheet's quantities feed which stage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dataclasses import dataclass

import numpy as np

from reference.advantage import advantage
from reference.after_step import after_step
from reference.backward import backward
from reference.clip import clip
from reference.config import config
from reference.gae import gae
from reference.kl import kl
from reference.ratio import ratio
from reference.reward import reward
from reference.rnn import RNNWeights, ValueHead
from reference.rollout import rollout
from reference.step import next_weights, step
from reference.total import total
from reference.value_loss import value_loss

if TYPE_CHECKING:
    from blueprint.config import Hyper  # the hyperparameters by name, declared once in blueprint/config.py

Quantities = dict[tuple[str, str], np.ndarray]


@dataclass(frozen=True)
class Inputs:
    """Every constant of the workbook that is not a hyperparameter."""

    ref: RNNWeights  # θ_ref, the frozen SFT model
    old: RNNWeights  # θ_old, the policy that sampled the batch
    given: RNNWeights  # θ when theta_init = given: a later minibatch's policy (θ_old plus seeded noise)
    rm: RNNWeights  # reward model (K = 1: a scalar score head)
    phi_old: ValueHead  # φ_old, the critic at rollout time
    phi_given: ValueHead  # φ when theta_init = given
    prompts: np.ndarray  # (B, P) token ids
    group: np.ndarray  # (B,) the prompt each response answers: responses with the same id form a group (G per prompt)
    draws: np.ndarray  # (B, T) uniform draws for inverse-CDF sampling
    m_theta: RNNWeights  # the optimizer's state before this step: Adam's first moments of θ …
    m_phi: ValueHead  # … and of φ
    v_theta: RNNWeights  # its second moments
    v_phi: ValueHead
    opt_step: int = 0  # steps it has taken (0: this is the first; m and v are then zero)


def run(inputs: Inputs, hp: Hyper) -> Quantities:
    """Config → Rollout → Reward → KL → GAE → Advantage → Ratio → Clip → Value Loss → Total → Backward → Step → After Step."""
    q: Quantities = {}

    def put(sheet: str, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        values = {k: np.asarray(v) for k, v in values.items()}
        q.update({(sheet, k): v for k, v in values.items()})
        return values

    cf = put("Config", config(hp))
    theta, phi = (inputs.old, inputs.phi_old) if hp.theta_init == "old" else (inputs.given, inputs.phi_given)
    put("Weights", {**{f"theta.{k}": v for k, v in vars(theta).items()}, **{f"phi.{k}": v for k, v in vars(phi).items()}})
    ro = put("Rollout", rollout(inputs.old, inputs.phi_old, inputs.prompts, inputs.draws, hp))
    tokens, mask = ro["tokens"], ro["mask"]
    rw = put("Reward", reward(inputs.rm, inputs.prompts, tokens, ro["is_eos"], mask, hp))
    mask_v = rw["mask_v"]  # the slots V is kept and trained on: m, or up to the score's slot e + 1 (score_slot = after_eos)
    kl_ = put("KL", kl(inputs.ref, inputs.prompts, tokens, ro["logp_old"], mask, rw["score"], rw["score_at"], cf["kl_in_reward"], hp, mask_v))
    ga = put("GAE", gae(kl_["rewards"], ro["values_old"], mask, hp, mask_v))
    ad = put("Advantage", advantage(kl_["rewards"], rw["score_at"], mask, inputs.group, ga["adv_whitened"], hp, mask_v))
    adv, keep, use_critic = ad["adv"], ad["keep"], cf["use_critic"]
    ra = put("Ratio", ratio(theta, inputs.prompts, tokens, ro["logp_old"], mask, hp))
    cl = put("Clip", clip(adv, ra["ratio"], mask, hp, keep))
    vl = put("Value Loss", value_loss(phi, ra["h"], ro["values_old"], ga["returns"], mask_v, hp, keep))
    to = put("Total", total(ra["token_entropy"], ra["logp_new"], kl_["logp_ref"], kl_["kl_token"], kl_["non_score_reward"], mask, rw["n_real"],
                            rw["score"], cl["pg_loss"], vl["vf_loss"], cf["kl_in_loss"], hp, use_critic, keep))
    bw = put("Backward", backward(theta, phi, ra["x"], ra["h"], ra["p"], ra["logits"], ra["lse"], ra["token_entropy"], ra["logp_new"],
                                  ra["ratio"], cl["agg_w"], cl["pg_clipped"], cl["pg_clipped_lower"], vl["values_new"], vl["vf_clipped"],
                                  adv, ga["returns"], tokens, mask, ro["logp_old"], kl_["logp_ref"], cf["kl_in_loss"], hp, use_critic,
                                  vl["vf_agg_w"]))
    st = put("Step", step(theta, phi, bw, inputs.m_theta, inputs.m_phi, inputs.v_theta, inputs.v_phi, inputs.opt_step, hp, use_critic))
    theta_next, phi_next = next_weights(st)
    put("After Step", after_step(theta_next, phi_next, inputs.prompts, tokens, mask, ro["logp_old"], kl_["logp_ref"], adv,
                                 ga["returns"], ro["values_old"], ra["h"], to["total_loss"], bw, st, cf["kl_in_loss"], hp, use_critic, keep, mask_v))
    return q
