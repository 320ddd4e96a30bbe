"""The seeded inputs of a blueprint: weights of every model, prompts, and uniform draws.

Deterministic: one `numpy.random.default_rng(seed)` stream, consumed in a fixed order.
Every value is rounded to 4 decimals, so it reads well in a cell and survives the round trip
through .xlsx exactly (xlsxwriter writes 16 significant digits; docs/excel_notes.md §2).
"""

from __future__ import annotations

import numpy as np

from blueprint.config import Config, hyper
from reference import Inputs, RNNWeights, ValueHead
from reference.rollout import rollout

DECIMALS = 4
DRAW_MARGIN = 2e-3  # |u - any cumulative bound| ≥ this, so rounding in any engine samples the same token


def _rnn(rng: np.random.Generator, H: int, V: int, K: int, scale: float) -> RNNWeights:
    r = lambda *shape: np.round(rng.normal(0.0, scale, shape), DECIMALS)  # noqa: E731
    return RNNWeights(W_xh=r(H, V), W_hh=r(H, H), b_h=r(H), W_hy=r(K, H), b_y=r(K))


def _shift(rng: np.random.Generator, w: RNNWeights, scale: float) -> RNNWeights:
    """w + N(0, scale²) noise on every parameter: θ_ref → θ_old drift, or θ_old → θ update."""
    moved = {k: np.round(v + rng.normal(0.0, scale, v.shape), DECIMALS) for k, v in vars(w).items()}
    return RNNWeights(**moved)


def make_inputs(config: Config) -> Inputs:
    """θ_ref, θ_old = θ_ref + drift, θ given = θ_old + update, φ_old, φ given, reward model, B/G prompts each repeated for
    its G responses (group_size) with their group ids, draws; the optimizer state of a first step (zero moments)."""
    c = config
    rng = np.random.default_rng(c.seed)
    H, V, B, P = c.H, c.V, c.B, c.P
    ref = _rnn(rng, H, V, V, c.init_scale)
    ref.b_y[c.eos_id] = round(ref.b_y[c.eos_id] + c.eos_bias, DECIMALS)
    old = _shift(rng, ref, c.ref_shift)
    given = _shift(rng, old, c.update_scale)
    rm = _rnn(rng, H, V, 1, c.init_scale)
    w_v = np.round(rng.normal(0.0, c.init_scale, H), DECIMALS)
    b_v = round(float(rng.normal(0.0, c.init_scale)), DECIMALS)
    phi_old = ValueHead(w_v, b_v)
    phi_given = ValueHead(np.round(w_v + rng.normal(0.0, c.update_scale, H), DECIMALS), round(b_v + float(rng.normal(0.0, c.update_scale)), DECIMALS))
    non_eos = np.array([v for v in range(V) if v != c.eos_id])
    group = np.repeat(np.arange(B // c.group_size), c.group_size)  # G responses to each prompt, side by side
    prompts = rng.choice(non_eos, size=(B // c.group_size, P))[group]
    draws = _draws_off_boundaries(rng, old, phi_old, prompts, c)
    zeros = RNNWeights(**{k: np.zeros_like(v) for k, v in vars(old).items()})
    zero_head = ValueHead(np.zeros(H), 0.0)
    return Inputs(ref=ref, old=old, given=given, rm=rm, phi_old=phi_old, phi_given=phi_given, prompts=prompts, group=group, draws=draws,
                  m_theta=zeros, m_phi=zero_head, v_theta=zeros, v_phi=zero_head, opt_step=0)


def _draws_off_boundaries(rng: np.random.Generator, old: RNNWeights, phi: ValueHead, prompts: np.ndarray, c: Config) -> np.ndarray:
    """Uniform draws that never sit within DRAW_MARGIN of a cumulative-probability boundary.

    MATCH(u, lower, 1) flips token when u is on a boundary and engines round differently;
    redrawing a bad u changes the tokens after it, so we re-roll until the whole batch is clean.
    """
    draws = np.round(rng.uniform(DRAW_MARGIN, 1 - DRAW_MARGIN, (c.B, c.T)), DECIMALS)
    for _ in range(1000):
        lower = rollout(old, phi, prompts, draws, hyper(c))["lower"]  # (B, T, V)
        near = (np.abs(lower[..., 1:] - draws[..., None]) < DRAW_MARGIN).any(axis=-1)
        if not near.any():
            return draws
        draws[near] = np.round(rng.uniform(DRAW_MARGIN, 1 - DRAW_MARGIN, int(near.sum())), DECIMALS)
    raise RuntimeError("could not place draws off the probability boundaries")  # pragma: no cover - needs p ≈ 0 everywhere
