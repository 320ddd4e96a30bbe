"""The whole RLHF-PPO iteration: the stages wired together, keyed the way the workbook is laid out.

`run(inputs, hp)` returns `{(sheet, quantity): array}` — the keys the generator writes formulas
for and the verifier checks cells against. Each stage returns exactly its sheet's quantities; this
module only says which sheet's quantities feed which stage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dataclasses import dataclass

import numpy as np

from reference.clip import clip
from reference.config import config
from reference.gae import gae
from reference.kl import kl
from reference.ratio import ratio
from reference.reward import reward
from reference.rnn import RNNWeights, ValueHead
from reference.rollout import rollout
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
    new: RNNWeights  # θ, the policy after a (simulated) PPO update
    rm: RNNWeights  # reward model (K = 1: a scalar score head)
    value_old: ValueHead  # φ_old, the critic at rollout time
    value_new: ValueHead  # φ, the critic after the update
    prompts: np.ndarray  # (B, P) token ids
    draws: np.ndarray  # (B, T) uniform draws for inverse-CDF sampling


def run(inputs: Inputs, hp: Hyper) -> Quantities:
    """Config → Rollout → Reward → KL → GAE → Ratio → Clip → Value Loss → Total."""
    q: Quantities = {}

    def put(sheet: str, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        values = {k: np.asarray(v) for k, v in values.items()}
        q.update({(sheet, k): v for k, v in values.items()})
        return values

    cf = put("Config", config(hp))
    ro = put("Rollout", rollout(inputs.old, inputs.value_old, inputs.prompts, inputs.draws, hp))
    tokens, mask = ro["tokens"], ro["mask"]
    rw = put("Reward", reward(inputs.rm, inputs.prompts, tokens, ro["is_eos"], mask, hp))
    kl_ = put("KL", kl(inputs.ref, inputs.prompts, tokens, ro["logp_old"], mask, rw["score"], rw["is_last"], cf["kl_in_reward"], hp))
    ga = put("GAE", gae(kl_["rewards"], ro["values_old"], mask, hp))
    ra = put("Ratio", ratio(inputs.new, inputs.prompts, tokens, ro["logp_old"], mask, hp))
    cl = put("Clip", clip(ga["adv_whitened"], ra["ratio"], mask, hp))
    vl = put("Value Loss", value_loss(inputs.value_new, ra["h"], ro["values_old"], ga["returns"], mask, hp))
    put("Total", total(ra["token_entropy"], ra["logp_new"], kl_["logp_ref"], kl_["kl_token"], kl_["non_score_reward"], mask, rw["n_real"],
                       rw["score"], cl["pg_loss"], vl["vf_loss"], cf["kl_in_loss"], hp))
    return q
