"""The seeded inputs: deterministic bit for bit, 4-decimal values, draws clear of every sampling
boundary, EOS-free prompts, and a θ far enough from θ_old that the default workbook clips."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest

from blueprint.config import hyper, load_config
from blueprint.inputs import DECIMALS, DRAW_MARGIN, make_inputs
from reference import Inputs, run
from reference.rollout import rollout

CASES = [("small", 0), ("small", 1), ("small", 123), ("medium", 4), ("medium", 9), ("large", 0), ("large", 5)]
CASE_IDS = [f"{p}-seed{s}" for p, s in CASES]


def _arrays(inputs: Inputs) -> dict[str, np.ndarray]:
    """Every number in the inputs, flattened to named arrays (weights, value heads, prompts, draws)."""
    out: dict[str, np.ndarray] = {}
    for f in fields(inputs):
        v = getattr(inputs, f.name)
        if isinstance(v, (np.ndarray, int)):
            out[f.name] = np.asarray(v)
        else:
            for g in fields(v):
                out[f"{f.name}.{g.name}"] = np.asarray(getattr(v, g.name))
    return out


def test_arrays_cover_every_input() -> None:
    names = set(_arrays(make_inputs(load_config())))
    weights = {f"{m}.{k}" for m in ("ref", "old", "given", "rm") for k in ("W_xh", "W_hh", "b_h", "W_hy", "b_y")}
    weights |= {f"{m}.{k}" for m in ("m_theta", "v_theta") for k in ("W_xh", "W_hh", "b_h", "W_hy", "b_y")}
    heads = {f"{m}.{k}" for m in ("phi_old", "phi_given", "m_phi", "v_phi") for k in ("w_v", "b_v")}
    assert names == weights | heads | {"prompts", "group", "draws", "opt_step"}


@pytest.mark.parametrize(("preset", "seed"), CASES, ids=CASE_IDS)
def test_same_seed_same_bits(preset: str, seed: int) -> None:
    config = load_config(preset=preset, seed=seed)
    a, b = _arrays(make_inputs(config)), _arrays(make_inputs(load_config(preset=preset, seed=seed)))
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].dtype == b[name].dtype and a[name].shape == b[name].shape, name
        assert np.array_equal(a[name], b[name]), name
        assert a[name].tobytes() == b[name].tobytes(), name


@pytest.mark.parametrize("preset", ["small", "medium", "large"])
def test_different_seeds_differ(preset: str) -> None:
    a, b = _arrays(make_inputs(load_config(preset=preset, seed=1))), _arrays(make_inputs(load_config(preset=preset, seed=2)))
    for name in a:
        if name == "prompts" or name.startswith(("m_", "v_", "opt_step", "group")):  # a few small integers may coincide by chance;
            continue  # the optimizer's state is that of a first step whatever the seed: zero; the groups follow group_size
        assert not np.array_equal(a[name], b[name]), f"{name} is the same for seeds 1 and 2"
    assert b"".join(v.tobytes() for v in a.values()) != b"".join(v.tobytes() for v in b.values())


@pytest.mark.parametrize(("preset", "seed"), CASES, ids=CASE_IDS)
def test_shapes(preset: str, seed: int) -> None:
    c = load_config(preset=preset, seed=seed)
    x = make_inputs(c)
    H, V, B, P, T = c.H, c.V, c.B, c.P, c.T
    for w in (x.ref, x.old, x.given, x.m_theta, x.v_theta):
        assert (w.W_xh.shape, w.W_hh.shape, w.b_h.shape, w.W_hy.shape, w.b_y.shape) == ((H, V), (H, H), (H,), (V, H), (V,))
    assert (x.rm.W_xh.shape, x.rm.W_hy.shape, x.rm.b_y.shape) == ((H, V), (1, H), (1,))
    assert x.phi_old.w_v.shape == x.phi_given.w_v.shape == x.m_phi.w_v.shape == x.v_phi.w_v.shape == (H,)
    assert x.prompts.shape == (B, P) and x.draws.shape == (B, T) and x.group.shape == (B,)
    assert np.issubdtype(x.prompts.dtype, np.integer) and np.issubdtype(x.group.dtype, np.integer)


@pytest.mark.parametrize(("preset", "seed"), CASES, ids=CASE_IDS)
def test_rounded_to_four_decimals(preset: str, seed: int) -> None:
    assert DECIMALS == 4
    for name, v in _arrays(make_inputs(load_config(preset=preset, seed=seed))).items():
        scaled = np.asarray(v, dtype=float) * 10**4
        assert np.all(np.abs(scaled - np.round(scaled)) <= 1e-9), f"{name} has more than 4 decimals: {v}"


@pytest.mark.parametrize(("preset", "seed"), CASES + [("small", s) for s in range(2, 30)])
def test_draws_clear_of_every_boundary(preset: str, seed: int) -> None:
    c = load_config(preset=preset, seed=seed)
    x = make_inputs(c)
    ro = rollout(x.old, x.phi_old, x.prompts, x.draws, hyper(c))
    lower = ro["lower"]  # (B, T, V): lower[..., 0] = 0, the inner boundaries are lower[..., 1:], the top is 1
    bounds = np.concatenate([lower, np.ones(lower.shape[:-1] + (1,))], axis=-1)
    gap = np.abs(bounds - x.draws[..., None]).min(axis=-1)
    assert np.all(gap >= DRAW_MARGIN - 1e-12), f"draw within {gap.min():.2e} of a cumulative boundary (margin {DRAW_MARGIN})"
    assert np.all((x.draws > 0) & (x.draws < 1))
    # and the sampled token is the one whose interval holds the draw, with room to spare on both sides
    p = ro["p"]
    lo = np.take_along_axis(lower, ro["tokens"][..., None], axis=-1)[..., 0]
    hi = lo + np.take_along_axis(p, ro["tokens"][..., None], axis=-1)[..., 0]
    assert np.all((lo + DRAW_MARGIN - 1e-12 <= x.draws) & (x.draws <= hi - DRAW_MARGIN + 1e-12))


def test_draw_margin_is_meaningful() -> None:
    """2e-3 is far above any engine's rounding (~1e-15) and far below a typical probability."""
    assert 1e-6 < DRAW_MARGIN < 1e-2


@pytest.mark.parametrize(("preset", "seed"), CASES + [("small", s) for s in range(2, 30)])
def test_prompts_have_no_eos(preset: str, seed: int) -> None:
    c = load_config(preset=preset, seed=seed)
    prompts = make_inputs(c).prompts
    assert np.all(prompts != c.eos_id)
    assert np.all((prompts >= 0) & (prompts < c.V))


def test_prompts_no_eos_with_eos_first() -> None:
    """EOS at index 0 (not the last token) is still kept out of prompts."""
    for seed in range(20):
        c = load_config(vocab=["<eos>", "a", "b"], seed=seed, B=4, P=3)
        prompts = make_inputs(c).prompts
        assert c.eos_id == 0 and np.all(prompts != 0)
        assert set(np.unique(prompts)) <= {1, 2}


def test_theta_moves_from_theta_old() -> None:
    x = make_inputs(load_config())
    for name in ("W_xh", "W_hh", "b_h", "W_hy", "b_y"):
        assert not np.array_equal(getattr(x.given, name), getattr(x.old, name)), name
        assert not np.array_equal(getattr(x.old, name), getattr(x.ref, name)), name
    assert not np.array_equal(x.phi_given.w_v, x.phi_old.w_v)


def test_optimizer_state_is_a_first_step() -> None:
    """Zero moments and no step taken: Step's bias corrections are then 1 - β (the first AdamW step)."""
    x = make_inputs(load_config())
    assert x.opt_step == 0
    for state in (x.m_theta, x.v_theta, x.m_phi, x.v_phi):
        assert all(not np.any(v) for v in vars(state).values())


def test_default_small_preset_clips() -> None:
    """θ is far enough from θ_old that the default workbook shows PPO's clip at work."""
    c = load_config()
    q = run(make_inputs(c), hyper(c))
    mask = q["Rollout", "mask"]
    assert float(q["Clip", "pg_clipfrac"]) > 0.0
    assert ((q["Clip", "pg_clipped"] == 1) & (mask == 1)).any()
    ratio = q["Ratio", "ratio"][mask == 1]
    assert np.any(np.abs(ratio - 1.0) > c.eps)  # some real token's ratio is outside [1-ε, 1+ε]


def test_default_small_preset_has_eos_mid_window() -> None:
    """eos_bias makes some response end before the window does, so the mask is not trivially all ones."""
    c = load_config()
    mask = run(make_inputs(c), hyper(c))["Rollout", "mask"]
    assert 0 < mask.sum() < mask.size
