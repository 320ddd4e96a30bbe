"""OpenRLHF's whitening floor as a live switch (issue #15's last gaps): whiten_eps_mode (√(var + ε) or √max(var, ε)),
by hand, then in the workbook, generated and verified."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from blueprint.api import generate
from blueprint.config import CONVENTIONS, hyper, load_config
from blueprint.verify import verify
from reference.gae import gae
from reference.kl import shaped_rewards

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


def test_the_conventions_set_the_whitening_floor_from_the_source() -> None:
    """OpenRLHF's advantages: `rstd = var.clamp(min=1e-8).rsqrt()`; verl's and TRL's masked_whiten: `torch.rsqrt(var + 1e-8)`."""
    trl, openrlhf, verl = (CONVENTIONS[k] for k in ("trl", "openrlhf", "verl"))
    assert (trl["whiten_eps_mode"], openrlhf["whiten_eps_mode"], verl["whiten_eps_mode"]) == ("add", "max", "add")
    assert load_config("small").whiten_eps_mode == "add"


SWITCHED = [  # each switch where it binds on the seeded inputs
    dict(whiten_eps_mode="max"),
    dict(whiten_eps_mode="max", reward_whiten="on", adv_whiten="population"),
]