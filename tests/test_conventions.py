"""Conventions as live switches: TRL, OpenRLHF and verl in one workbook."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import GOLDEN_CASE, with_config_edits
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blueprint.api import generate
from blueprint.config import CONVENTIONS, SWITCHES, hyper, load_config
from blueprint.inputs import make_inputs
from blueprint.readback import read_blueprint
from blueprint.verify import verify
from blueprint.workbook import build
from reference._common import aggregate
from reference.clip import clip
from reference.gae import gae
from reference.total import adaptive_kl, total

GOLDEN = GOLDEN_CASE
HP = hyper(load_config("small"))


def test_switch_functions_reproduce_the_golden_variants() -> None:
    case = GOLDEN["case_a"]
    adv = np.array([case["advantages_raw"]])
    mask = np.ones_like(adv)

    def whitened(mode: str) -> np.ndarray:
        """The GAE stage with γ = 0 and no critic: A = δ = r, so the golden advantages go in as the rewards."""
        return gae(adv, np.zeros_like(adv), mask, replace(HP, gamma=0.0, adv_whiten=mode, whiten_eps=1e-8))["adv_whitened"][0]

    np.testing.assert_allclose(whitened("population"), GOLDEN["case_a_variants"]["adv_whitened_openai(biased var, +1e-8)"], atol=1e-9)
    np.testing.assert_allclose(whitened("unbiased"), case["advantages_whitened"], atol=1e-12)
    np.testing.assert_allclose(whitened("off"), case["advantages_raw"])
    demo = GOLDEN["dual_clip_demo"]
    one = np.ones((1, 1))

    def loss(a: float, rho: float, eps_high: float, dual_clip: float = 0.0) -> float:
        return float(clip(a * one, rho * one, one, replace(HP, eps=0.2, eps_high=eps_high, dual_clip=dual_clip))["pg_losses"][0, 0])

    assert loss(-1, 4.0, eps_high=0.2, dual_clip=0.0) == pytest.approx(demo["A=-1, ratio=4.0: standard clip loss"])
    assert loss(-1, 4.0, eps_high=0.2, dual_clip=3.0) == pytest.approx(demo["A=-1, ratio=4.0: dual-clip (c=3) loss"])
    assert loss(1, 4.0, eps_high=0.2, dual_clip=3.0) == pytest.approx(demo["A=+1, ratio=4.0: dual-clip (c=3) loss"])
    assert loss(1, 1.25, eps_high=0.28) == pytest.approx(demo["A=+1, ratio=1.25: clip eps=(0.2,0.28) loss"])
    assert loss(-1, 1.25, eps_high=0.28) == pytest.approx(demo["A=-1, ratio=1.25: clip eps=(0.2,0.28) loss"])
    agg = GOLDEN["agg_demo"]
    L, m = np.array([[1.0, 2, 3], [4, 9, 9]]), np.array([[1.0, 1, 1], [1, 0, 0]])
    agg_of = lambda mode, factor=0.0: float(aggregate(L, m, replace(HP, loss_agg=mode, loss_scale_factor=factor))[2])  # noqa: E731
    assert agg_of("token-mean") == pytest.approx(agg["token-mean (TRL, verl default, OpenRLHF token_level_loss=True)"])
    assert agg_of("seq-mean-token-mean") == pytest.approx(agg["seq-mean-token-mean (OpenRLHF token_level_loss=False, GRPO-paper style)"], abs=1e-7)
    assert agg_of("seq-mean-token-sum") == pytest.approx(agg["seq-mean-token-sum (verl, Dr.GRPO style)"])
    # seq-mean-token-sum-norm: the sequences' sums 1+2+3 = 6 and 4 over a constant length: (6 + 4)/3 = 10/3 (T = 3 here)
    # or /5 with loss_scale_factor = 5 (verl's agg_loss: torch.sum(seq_losses) / loss_scale_factor)
    assert agg_of("seq-mean-token-sum-norm") == pytest.approx(10 / 3, abs=1e-15)
    assert agg_of("seq-mean-token-sum-norm", 5.0) == pytest.approx(2.0, abs=1e-15)
    ctl = GOLDEN["kl_controller_demo"]
    assert adaptive_kl(0.15, 9.0, 6.0, 10000.0, 512, 0.2) == pytest.approx(ctl["beta_next(beta=0.15, kl=9.0, target=6, horizon=10000, n=512)"], abs=1e-6)


@pytest.mark.parametrize("convention", sorted(CONVENTIONS))
def test_each_convention_generates_and_verifies_clean(convention: str, tmp_path: Path) -> None:
    path = tmp_path / f"{convention}.xlsx"
    generate(load_config("small", convention=convention), path)
    report = verify(path)
    assert report.ok, report.text()
    config, inputs, _, _ = read_blueprint(path)
    for key, value in CONVENTIONS[convention].items():
        if key == "group_size":  # it seeds the inputs; the file holds its result, Rollout's group column
            assert np.bincount(inputs.group).tolist() == [value] * (config.B // value)
        else:
            assert getattr(config, key) == value, key


def test_conventions_differ_where_the_frameworks_do() -> None:
    trl, openrlhf, verl = (CONVENTIONS[k] for k in ("trl", "openrlhf", "verl"))
    assert (trl["lam"], openrlhf["lam"], verl["lam"]) == (0.95, 1.0, 1.0)
    assert (trl["adv_whiten"], openrlhf["adv_whiten"], verl["adv_whiten"]) == ("unbiased", "population", "unbiased")
    assert (trl["dual_clip"], verl["dual_clip"]) == (0.0, 3.0)
    assert (trl["kl_placement"], verl["kl_placement"]) == ("reward", "none")
    assert (trl["eps_v"], openrlhf["eps_v"], verl["eps_v"]) == (0.2, 0.5, 0.5)


def test_cli_convention_then_set(tmp_path: Path) -> None:
    from blueprint.cli import main

    path = tmp_path / "v.xlsx"
    assert main(["generate", "-o", str(path), "--convention", "verl", "--set", "dual_clip=2.5"]) == 0
    config, _, _, _ = read_blueprint(path)
    assert (config.dual_clip, config.kl_placement, config.lam) == (2.5, "none", 1.0)


switch_values = st.fixed_dictionaries({key: st.sampled_from(values) for key, values in SWITCHES.items()} | {
    "dual_clip": st.sampled_from([0.0, 1.5, 3.0]),
    "eps_high": st.sampled_from([0.2, 0.28]),
    "logratio_clamp": st.sampled_from([0.0, 0.05, 20.0]),
    "kl_clamp": st.sampled_from([0.0, 0.05, 10.0]),  # 0.05 binds on most tokens (kl_clamp_scope, whiten_eps_mode: OneOf, above)
    "score_clip": st.sampled_from([0.0, 0.1, 10.0]),  # 0.1 binds on most scores
    "lam": st.sampled_from([0.95, 1.0]),
    "tau": st.sampled_from([0.7, 1.0]),
    "ent_coef": st.sampled_from([0.0, 0.01]),
    "seed": st.integers(0, 50),
})


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(switch_values)
def test_random_switch_combinations_verify_clean(tmp_path: Path, switches: dict) -> None:
    path = tmp_path / "switched.xlsx"
    generate(load_config("small", **switches), path)
    report = verify(path)
    assert report.ok, f"{switches}\n{report.text(5)}"


EDITS = {"kl_placement": "both", "kl_estimator": "k3", "kl_loss_estimator": "k2", "adv_whiten": "population",
         "loss_agg": "seq-mean-token-mean", "dual_clip": 1.2, "eos_handling": "replace", "reward_whiten": "on",
         "logratio_clamp": 0.1, "eps_high": 0.3, "kl_ctl_input": "seq-mean", "kl_target": 0.1,
         "whiten_eps_mode": "max", "kl_clamp": 0.05, "score_clip": 0.1}


@pytest.mark.libreoffice
def test_libreoffice_follows_edited_switches(small_path: Path, tmp_path: Path) -> None:
    """Flip the switches in the file, as a user would in Calc, and the whole workbook re-flows to the reference."""
    edited = with_config_edits(small_path, EDITS, tmp_path / "switched.xlsx")
    config, inputs, _, _ = read_blueprint(edited)
    assert all(getattr(config, k) == v for k, v in EDITS.items())
    before, after = build(load_config("small"), inputs), build(config, inputs)
    total = lambda bp: next(c.value for c in bp.formula_cells() if c.quantity == "total_loss")  # noqa: E731
    assert total(before) != pytest.approx(total(after))
    report = verify(edited, engine="libreoffice", cache_check=False)  # openpyxl saved it: no cached values
    assert report.ok, report.text(5)
    assert report.totals().mapped == len(after.formula_cells())


UPDATE_EDITS = {"theta_init": "old", "optimizer": "sgd", "value_trunk": "detached", "max_grad_norm": 0.1, "weight_decay": 0.1}


@pytest.mark.parametrize("engine", [pytest.param("libreoffice", marks=pytest.mark.libreoffice), "formulas"])
def test_engines_follow_the_update_switches(engine: str, small_path: Path, tmp_path: Path) -> None:
    """Flip theta_init, optimizer and value_trunk in the file (and make clipping bind): θ becomes θ_old, so every ρ is 1
    and nothing is clipped; the step is SGD's; the whole update re-flows to the reference."""
    edited = with_config_edits(small_path, UPDATE_EDITS, tmp_path / "update.xlsx")
    config, inputs, _, _ = read_blueprint(edited)
    assert all(getattr(config, k) == v for k, v in UPDATE_EDITS.items())
    after = {(c.sheet, c.quantity, c.idx): c.value for c in build(config, inputs).formula_cells()}
    assert {v for (_, q, _), v in after.items() if q == "ratio"} == {1.0}
    assert {v for (_, q, _), v in after.items() if q == "pg_clipped"} == {0.0}
    assert after["Backward", "grad_clip_coef", ()] < 1 and after["Backward", "grad_clip_coef_phi", ()] < 1
    report = verify(edited, engine=engine, cache_check=False)  # openpyxl saved it: no cached values
    assert report.ok, report.text(5)
    assert report.totals().mapped == len(after)


SLOT_EDITS = {"score_slot": "after_eos", "reward_whiten": "on", "loss_agg": "seq-mean-token-mean"}


@pytest.mark.parametrize("engine", [pytest.param("libreoffice", marks=pytest.mark.libreoffice), "formulas"])
def test_engines_follow_the_score_slot(engine: str, small_path: Path, tmp_path: Path) -> None:
    """Flip score_slot to after_eos in the file (with reward whitening and a per-sequence mean, which read m_v and n_v): small's
    response 0 ends at e = 2 of T = 4, so its score moves to t = 3, V is kept and trained there; response 1 fills the window
    and keeps its score on t = 3. The whole workbook re-flows to the reference."""
    edited = with_config_edits(small_path, SLOT_EDITS, tmp_path / "slot.xlsx")
    config, inputs, _, _ = read_blueprint(edited)
    assert all(getattr(config, k) == v for k, v in SLOT_EDITS.items())
    before = {(c.sheet, c.quantity, c.idx): c.value for c in build(load_config("small"), inputs).formula_cells()}
    after = {(c.sheet, c.quantity, c.idx): c.value for c in build(config, inputs).formula_cells()}
    assert [after["Reward", "score_at", (0, t)] for t in range(4)] == [0, 0, 0, 1]
    assert [before["Reward", "score_at", (0, t)] for t in range(4)] == [0, 0, 1, 0]
    assert [after["Reward", "score_at", (1, t)] for t in range(4)] == [0, 0, 0, 1]
    assert after["Reward", "n_tokens_v", ()] == 8 and before["Reward", "n_tokens_v", ()] == 7
    assert after["Value Loss", "vf_agg_w", (0, 3)] > 0 == before["Value Loss", "vf_agg_w", (0, 3)]
    assert after["Clip", "agg_w", (0, 3)] == 0  # the policy keeps the real tokens
    report = verify(edited, engine=engine, cache_check=False)  # openpyxl saved it: no cached values
    assert report.ok, report.text(5)
    assert report.totals().mapped == len(after)


def test_kl_controller_by_hand() -> None:
    """kl_token [[1, 2, 0], [3, 0, 0]] with n = (2, 1): seq-sum KL = mean(3, 3) = 3, seq-mean KL = mean(1.5, 3) = 2.25;
    target 2, horizon 10, B = 2: the errors 0.5 (clipped to 0.2) and 0.125 move β by 1 + err·2/10."""
    kl_token, n_real = np.array([[1.0, 2, 0], [3, 0, 0]]), np.array([2.0, 1])
    zero = np.zeros_like(kl_token)

    def ctl(kind: str, feed: str) -> dict:
        hp = replace(HP, beta=0.5, kl_ctl=kind, kl_ctl_input=feed, kl_target=2.0, kl_horizon=10.0, kl_ctl_clip=0.2)
        return total(token_entropy=zero, logp_new=zero, logp_ref=zero, kl_token=kl_token, non_score_reward=zero, mask=(kl_token != 0) * 1.0,
                     n_real=n_real, score=np.zeros(2), pg_loss=0.0, vf_loss=0.0, kl_in_loss=0.0, hp=hp)

    np.testing.assert_allclose(ctl("adaptive", "seq-sum")["ctl_seq_kl"], [1.5, 3.0])
    assert float(ctl("adaptive", "seq-sum")["ctl_kl"]) == 3.0 and float(ctl("adaptive", "seq-mean")["ctl_kl"]) == 2.25
    assert float(ctl("adaptive", "seq-sum")["beta_next"]) == pytest.approx(0.5 * 1.04, abs=1e-15)
    assert float(ctl("adaptive", "seq-mean")["beta_next"]) == pytest.approx(0.5 * 1.025, abs=1e-15)
    assert float(ctl("fixed", "seq-mean")["beta_next"]) == 0.5


@pytest.mark.parametrize("convention", sorted(CONVENTIONS))
def test_every_framework_keeps_beta_fixed_by_default(convention: str) -> None:
    """TRL-new has no controller; OpenRLHF (without --algo.kl.target) and verl (kl_ctrl.type fixed) default to a fixed β."""
    config = load_config("small", convention=convention)
    bp = build(config, make_inputs(config))
    beta_next = next(c.value for c in bp.formula_cells() if c.quantity == "beta_next")
    assert config.kl_ctl == "fixed" and beta_next == config.beta


def test_actor_and_critic_losses_sum_to_trls_total() -> None:
    """One token: entropy 1.5, ℓ_θ - ℓ_ref = 0.4 (k1), pg_loss 0.3, vf_loss 2."""
    one = np.ones((1, 1))
    hp = replace(HP, vf_coef=0.1, ent_coef=0.01, kl_loss_coef=0.001, kl_loss_estimator="k1", loss_agg="token-mean")
    parts = total(token_entropy=1.5 * one, logp_new=0.4 * one, logp_ref=0.0 * one, kl_token=0.0 * one, non_score_reward=0.0 * one, mask=one,
                  n_real=np.ones(1), score=np.zeros(1), pg_loss=0.3, vf_loss=2.0, kl_in_loss=1.0, hp=hp)
    assert float(parts["actor_loss"]) == pytest.approx(0.3 - 0.015 + 0.0004, abs=1e-15)
    assert float(parts["critic_loss"]) == 2.0
    assert float(parts["total_loss"]) == pytest.approx(float(parts["actor_loss"]) + 0.1 * 2.0, abs=1e-15)
